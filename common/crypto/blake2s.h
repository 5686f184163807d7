/*
 * BLAKE2s (RFC 7693): HASH() of WireGuard and of the ts2021 Noise channel,
 * and, keyed with outlen 16, WireGuard's MAC1/MAC2.
 *
 * libsodium 1.0.18 has only BLAKE2b, so this one is ours: portable C with
 * explicit little-endian loads and stores, checked in tests/unit/test_crypto.c
 * against RFC 7693 Appendices B and E, the reference KAT, and OpenSSL's
 * BLAKE2s as an independent oracle.
 */
#ifndef PM_BLAKE2S_H
#define PM_BLAKE2S_H

#include <stddef.h>
#include <stdint.h>

#define BLAKE2S_BLOCK_SIZE	64	/* bytes per compression */
#define BLAKE2S_HASH_SIZE	32	/* largest digest, bytes */
#define BLAKE2S_KEY_SIZE	32	/* largest key, bytes */

struct blake2s_state {
	uint32_t	h[8];
	uint64_t	t;		/* bytes compressed so far */
	uint8_t		buf[BLAKE2S_BLOCK_SIZE];
	size_t		buflen;
	size_t		outlen;
};

/*
 * outlen 1..32, keylen 0..32 (key may be NULL when keylen is 0); anything
 * else is -EINVAL.  The state holds key material until blake2s_final(),
 * which wipes it.
 */
int	blake2s_init(struct blake2s_state *, size_t outlen,
	    const uint8_t *key, size_t keylen);
void	blake2s_update(struct blake2s_state *, const uint8_t *in, size_t inlen);
/* Writes the outlen given to blake2s_init() bytes and wipes the state. */
void	blake2s_final(struct blake2s_state *, uint8_t *out);

/* One-shot; out may alias in or key.  0 or -EINVAL as blake2s_init(). */
int	blake2s(uint8_t *out, size_t outlen, const uint8_t *in, size_t inlen,
	    const uint8_t *key, size_t keylen);

#endif
