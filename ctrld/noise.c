/*
 * Noise_IK_25519_ChaChaPoly_BLAKE2s, initiator, as ts2021 uses it
 * (tailscale control/controlbase/handshake.go, conn.go):
 *
 *   h = BLAKE2s("Noise_IK_25519_ChaChaPoly_BLAKE2s")  (33 bytes, so hashed)
 *   ck = h; MixHash("Tailscale Control Protocol v<ver>"); MixHash(rs)
 *   -> e, es, s, ss      msg 1: [BE16 ver][0x01][BE16 96][e][enc s][tag]
 *   <- e, ee, se         msg 2: [0x02][BE16 48][e][tag]
 *   Split: client sends with k1, receives with k2.
 *
 * Handshake AEADs each use a fresh key with nonce 0; transport nonces are
 * 4 zero bytes and a big-endian counter (unlike Noise and WireGuard).
 */
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "blake2s.h"
#include "kdf.h"
#include "noise.h"

static const char protocol_name[] = "Noise_IK_25519_ChaChaPoly_BLAKE2s";

static int
fail(char *err, size_t errlen, const char *msg)
{
	if (err != NULL)
		snprintf(err, errlen, "%s", msg);
	return -1;
}

static void
mix_hash(struct noise_hs *hs, const uint8_t *data, size_t len)
{
	struct blake2s_state st;

	blake2s_init(&st, 32, NULL, 0);
	blake2s_update(&st, hs->h, 32);
	blake2s_update(&st, data, len);
	blake2s_final(&st, hs->h);
}

/* MixKey(DH(priv, pub)): new ck, and the one-shot key in `k`. */
static int
mix_dh(struct noise_hs *hs, const uint8_t priv[32], const uint8_t pub[32],
    uint8_t k[32])
{
	uint8_t shared[32];
	int r;

	r = crypto_scalarmult(shared, priv, pub);
	if (r == 0)
		kdf_n(hs->ck, k, NULL, 2, hs->ck, shared, sizeof(shared));
	sodium_memzero(shared, sizeof(shared));
	return r == 0 ? 0 : -1;
}

void
noise_keypair(uint8_t priv[NOISE_KEY_SIZE], uint8_t pub[NOISE_KEY_SIZE])
{
	randombytes_buf(priv, NOISE_KEY_SIZE);
	priv[0] &= 248;
	priv[31] &= 127;
	priv[31] |= 64;
	crypto_scalarmult_base(pub, priv);
}

int
noise_initiate(struct noise_hs *hs, uint16_t version,
    const uint8_t machine_priv[NOISE_KEY_SIZE],
    const uint8_t server_pub[NOISE_KEY_SIZE], const uint8_t *e_priv,
    uint8_t out[NOISE_INIT_SIZE])
{
	static const uint8_t zero_nonce[AEAD_NONCE_SIZE];
	char prologue[64];
	uint8_t k[32], s_pub[32];
	int plen, r = -1;

	memset(hs, 0, sizeof(*hs));
	blake2s(hs->h, 32, (const uint8_t *)protocol_name,
	    sizeof(protocol_name) - 1, NULL, 0);
	memcpy(hs->ck, hs->h, 32);
	plen = snprintf(prologue, sizeof(prologue),
	    "Tailscale Control Protocol v%u", (unsigned)version);
	mix_hash(hs, (const uint8_t *)prologue, (size_t)plen);
	memcpy(hs->rs, server_pub, 32);
	mix_hash(hs, hs->rs, 32);
	memcpy(hs->s_priv, machine_priv, 32);
	crypto_scalarmult_base(s_pub, hs->s_priv);

	if (e_priv != NULL) {
		memcpy(hs->e_priv, e_priv, 32);
		crypto_scalarmult_base(hs->e_pub, hs->e_priv);
	} else
		noise_keypair(hs->e_priv, hs->e_pub);

	out[0] = (uint8_t)(version >> 8);
	out[1] = (uint8_t)version;
	out[2] = NOISE_MSG_INIT;
	out[3] = 0;
	out[4] = 96;
	memcpy(out + 5, hs->e_pub, 32);
	mix_hash(hs, hs->e_pub, 32);
	if (mix_dh(hs, hs->e_priv, hs->rs, k) < 0)
		goto out;
	aead_seal_oneshot(k, zero_nonce, hs->h, 32, s_pub, 32, out + 37);
	mix_hash(hs, out + 37, 48);
	if (mix_dh(hs, hs->s_priv, hs->rs, k) < 0)
		goto out;
	aead_seal_oneshot(k, zero_nonce, hs->h, 32, NULL, 0, out + 85);
	mix_hash(hs, out + 85, 16);
	r = 0;
out:
	sodium_memzero(k, sizeof(k));
	return r;
}

static int
cipher_init(struct noise_cipher *c, const uint8_t key[32])
{
	c->counter = 0;
	c->ready = aead_key_init(&c->key, key) == 0;
	return c->ready ? 0 : -1;
}

int
noise_respond(struct noise_hs *hs, const uint8_t *msg, size_t len,
    struct noise_transport *t, char *err, size_t errlen)
{
	static const uint8_t zero_nonce[AEAD_NONCE_SIZE];
	uint8_t k[32], k1[32], k2[32], empty[1];
	int r = -1;

	memset(t, 0, sizeof(*t));
	if (len != NOISE_RESP_SIZE || msg[0] != NOISE_MSG_RESP ||
	    msg[1] != 0 || msg[2] != 48)
		return fail(err, errlen, "noise: malformed handshake response");
	mix_hash(hs, msg + 3, 32);
	if (mix_dh(hs, hs->e_priv, msg + 3, k) < 0 ||
	    mix_dh(hs, hs->s_priv, msg + 3, k) < 0) {
		fail(err, errlen, "noise: low-order server ephemeral key");
		goto out;
	}
	if (aead_open_oneshot(k, zero_nonce, hs->h, 32, msg + 35, 16,
	    empty) != 0) {
		fail(err, errlen, "noise: handshake response failed "
		    "authentication (wrong server key?)");
		goto out;
	}
	mix_hash(hs, msg + 35, 16);
	kdf_n(k1, k2, NULL, 2, hs->ck, NULL, 0);
	if (cipher_init(&t->tx, k1) < 0 || cipher_init(&t->rx, k2) < 0) {
		fail(err, errlen, "noise: cipher setup failed");
		noise_transport_wipe(t);
		goto out;
	}
	memcpy(t->hash, hs->h, 32);
	r = 0;
out:
	sodium_memzero(k, sizeof(k));
	sodium_memzero(k1, sizeof(k1));
	sodium_memzero(k2, sizeof(k2));
	sodium_memzero(hs, sizeof(*hs));
	return r;
}

void
noise_transport_wipe(struct noise_transport *t)
{
	if (t->tx.ready)
		aead_key_wipe(&t->tx.key);
	if (t->rx.ready)
		aead_key_wipe(&t->rx.key);
	sodium_memzero(t, sizeof(*t));
}

int
noise_seal(struct noise_cipher *c, const uint8_t *in, size_t len,
    uint8_t *out)
{
	uint8_t nonce[AEAD_NONCE_SIZE];
	size_t clen = len + AEAD_TAG_SIZE;

	if (!c->ready || len > NOISE_MAX_PLAIN || c->counter == UINT64_MAX)
		return -1;
	aead_nonce_ts2021(nonce, c->counter++);
	out[0] = NOISE_MSG_RECORD;
	out[1] = (uint8_t)(clen >> 8);
	out[2] = (uint8_t)clen;
	if (aead_seal(&c->key, nonce, NULL, 0, in, len, out + 3) != 0)
		return -1;
	return (int)(clen + NOISE_HDR_SIZE);
}

int
noise_read(struct noise_reader *rd, struct noise_cipher *c,
    const uint8_t **in, size_t *inlen, uint8_t *out, char *err, size_t errlen)
{
	uint8_t nonce[AEAD_NONCE_SIZE];
	size_t need, take, clen;

	need = NOISE_HDR_SIZE;
	if (rd->len >= NOISE_HDR_SIZE) {
		clen = (size_t)rd->buf[1] << 8 | rd->buf[2];
		need += clen;
	}
	for (;;) {
		take = need - rd->len;
		if (take > *inlen)
			take = *inlen;
		memcpy(rd->buf + rd->len, *in, take);
		rd->len += take;
		*in += take;
		*inlen -= take;
		if (rd->len < need)
			return -2;
		if (need > NOISE_HDR_SIZE)
			break;
		/* The header is complete: validate it and learn the length. */
		if (rd->buf[0] != NOISE_MSG_RECORD)
			return fail(err, errlen, rd->buf[0] == NOISE_MSG_ERROR ?
			    "noise: server sent an error frame" :
			    "noise: unexpected frame type");
		clen = (size_t)rd->buf[1] << 8 | rd->buf[2];
		if (clen < AEAD_TAG_SIZE || clen + NOISE_HDR_SIZE >
		    NOISE_MAX_RECORD)
			return fail(err, errlen, "noise: bad record length");
		need += clen;
	}
	clen = rd->len - NOISE_HDR_SIZE;
	rd->len = 0;
	if (!c->ready || c->counter == UINT64_MAX)
		return fail(err, errlen, "noise: receive cipher exhausted");
	aead_nonce_ts2021(nonce, c->counter++);
	if (aead_open(&c->key, nonce, NULL, 0, rd->buf + NOISE_HDR_SIZE, clen,
	    out) != 0)
		return fail(err, errlen, "noise: record failed authentication");
	return (int)(clen - AEAD_TAG_SIZE);
}
