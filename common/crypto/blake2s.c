/*
 * BLAKE2s, written from RFC 7693 section 3 with the same names (h, t, m, v,
 * G, SIGMA) so the two can be read side by side.
 *
 * The last block must be compressed with the final flag set, so update()
 * never compresses a block until it knows more input follows; a buffer that
 * is exactly full stays buffered for final().  Getting this wrong breaks
 * only messages whose length is a multiple of 64, which is why the tests
 * include 64-byte inputs and a keyed empty input (one full key block).
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include <sodium.h>

#include "blake2s.h"

static const uint32_t blake2s_iv[8] = {
	0x6A09E667, 0xBB67AE85, 0x3C6EF372, 0xA54FF53A,
	0x510E527F, 0x9B05688C, 0x1F83D9AB, 0x5BE0CD19,
};

static const uint8_t blake2s_sigma[10][16] = {
	{  0,  1,  2,  3,  4,  5,  6,  7,  8,  9, 10, 11, 12, 13, 14, 15 },
	{ 14, 10,  4,  8,  9, 15, 13,  6,  1, 12,  0,  2, 11,  7,  5,  3 },
	{ 11,  8, 12,  0,  5,  2, 15, 13, 10, 14,  3,  6,  7,  1,  9,  4 },
	{  7,  9,  3,  1, 13, 12, 11, 14,  2,  6,  5, 10,  4,  0, 15,  8 },
	{  9,  0,  5,  7,  2,  4, 10, 15, 14,  1, 11, 12,  6,  8,  3, 13 },
	{  2, 12,  6, 10,  0, 11,  8,  3,  4, 13,  7,  5, 15, 14,  1,  9 },
	{ 12,  5,  1, 15, 14, 13,  4, 10,  0,  7,  6,  3,  9,  2,  8, 11 },
	{ 13, 11,  7, 14, 12,  1,  3,  9,  5,  0, 15,  4,  8,  6,  2, 10 },
	{  6, 15, 14,  9, 11,  3,  0,  8, 12,  2, 13,  7,  1,  4, 10,  5 },
	{ 10,  2,  8,  4,  7,  6,  1,  5, 15, 11,  9, 14,  3, 12, 13,  0 },
};

static inline uint32_t
ror32(uint32_t x, unsigned n)
{
	return (x >> n) | (x << (32 - n));
}

/* Byte-wise, so the buffer may be unaligned and the host of either order. */
static inline uint32_t
load32_le(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 |
	    (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline void
store32_le(uint8_t *p, uint32_t x)
{
	p[0] = (uint8_t)x;
	p[1] = (uint8_t)(x >> 8);
	p[2] = (uint8_t)(x >> 16);
	p[3] = (uint8_t)(x >> 24);
}

/* RFC 7693 section 3.1, with the rotation constants of BLAKE2s. */
#define G(v, a, b, c, d, x, y) do {					\
	v[a] = v[a] + v[b] + (x);	v[d] = ror32(v[d] ^ v[a], 16);	\
	v[c] = v[c] + v[d];		v[b] = ror32(v[b] ^ v[c], 12);	\
	v[a] = v[a] + v[b] + (y);	v[d] = ror32(v[d] ^ v[a], 8);	\
	v[c] = v[c] + v[d];		v[b] = ror32(v[b] ^ v[c], 7);	\
} while (0)

/* RFC 7693 section 3.2; s->t must already count this block's bytes. */
static void
blake2s_compress(struct blake2s_state *s, const uint8_t block[BLAKE2S_BLOCK_SIZE],
    bool last)
{
	uint32_t m[16], v[16];
	const uint8_t *sg;
	int i;

	for (i = 0; i < 16; i++)
		m[i] = load32_le(block + 4 * i);
	for (i = 0; i < 8; i++) {
		v[i] = s->h[i];
		v[i + 8] = blake2s_iv[i];
	}
	v[12] ^= (uint32_t)s->t;
	v[13] ^= (uint32_t)(s->t >> 32);
	if (last)
		v[14] = ~v[14];

	for (i = 0; i < 10; i++) {
		sg = blake2s_sigma[i];
		G(v, 0, 4,  8, 12, m[sg[0]],  m[sg[1]]);
		G(v, 1, 5,  9, 13, m[sg[2]],  m[sg[3]]);
		G(v, 2, 6, 10, 14, m[sg[4]],  m[sg[5]]);
		G(v, 3, 7, 11, 15, m[sg[6]],  m[sg[7]]);
		G(v, 0, 5, 10, 15, m[sg[8]],  m[sg[9]]);
		G(v, 1, 6, 11, 12, m[sg[10]], m[sg[11]]);
		G(v, 2, 7,  8, 13, m[sg[12]], m[sg[13]]);
		G(v, 3, 4,  9, 14, m[sg[14]], m[sg[15]]);
	}
	for (i = 0; i < 8; i++)
		s->h[i] ^= v[i] ^ v[i + 8];

	/* m can be a key block (keyed mode, HMAC pads); v derives from it. */
	sodium_memzero(m, sizeof(m));
	sodium_memzero(v, sizeof(v));
}

int
blake2s_init(struct blake2s_state *s, size_t outlen, const uint8_t *key,
    size_t keylen)
{
	if (outlen == 0 || outlen > BLAKE2S_HASH_SIZE ||
	    keylen > BLAKE2S_KEY_SIZE || (keylen != 0 && key == NULL))
		return -EINVAL;

	memset(s, 0, sizeof(*s));
	memcpy(s->h, blake2s_iv, sizeof(s->h));
	/* Parameter block word 0: digest length, key length, fanout 1, depth 1. */
	s->h[0] ^= 0x01010000 ^ (uint32_t)(keylen << 8) ^ (uint32_t)outlen;
	s->outlen = outlen;
	if (keylen != 0) {
		/* The key is hashed as a first block, zero-padded to 64 bytes. */
		memcpy(s->buf, key, keylen);
		s->buflen = BLAKE2S_BLOCK_SIZE;
	}
	return 0;
}

void
blake2s_update(struct blake2s_state *s, const uint8_t *in, size_t inlen)
{
	size_t fill = BLAKE2S_BLOCK_SIZE - s->buflen;

	if (inlen == 0)
		return;
	if (inlen > fill) {
		memcpy(s->buf + s->buflen, in, fill);
		s->t += BLAKE2S_BLOCK_SIZE;
		blake2s_compress(s, s->buf, false);
		s->buflen = 0;
		in += fill;
		inlen -= fill;
		/* ">", not ">=": a final full block waits in buf for final(). */
		while (inlen > BLAKE2S_BLOCK_SIZE) {
			s->t += BLAKE2S_BLOCK_SIZE;
			blake2s_compress(s, in, false);
			in += BLAKE2S_BLOCK_SIZE;
			inlen -= BLAKE2S_BLOCK_SIZE;
		}
	}
	memcpy(s->buf + s->buflen, in, inlen);
	s->buflen += inlen;
}

void
blake2s_final(struct blake2s_state *s, uint8_t *out)
{
	uint8_t full[BLAKE2S_HASH_SIZE];
	int i;

	s->t += s->buflen;
	memset(s->buf + s->buflen, 0, BLAKE2S_BLOCK_SIZE - s->buflen);
	blake2s_compress(s, s->buf, true);
	for (i = 0; i < 8; i++)
		store32_le(full + 4 * i, s->h[i]);
	memcpy(out, full, s->outlen);

	sodium_memzero(full, sizeof(full));
	sodium_memzero(s, sizeof(*s));
}

int
blake2s(uint8_t *out, size_t outlen, const uint8_t *in, size_t inlen,
    const uint8_t *key, size_t keylen)
{
	struct blake2s_state s;
	int r;

	if ((r = blake2s_init(&s, outlen, key, keylen)) < 0)
		return r;
	blake2s_update(&s, in, inlen);
	blake2s_final(&s, out);
	return 0;
}
