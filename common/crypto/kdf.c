/*
 * HMAC-BLAKE2s (RFC 2104) and Noise's HKDF on top of it.  Every pad, inner
 * hash and tau is key material and is wiped before returning.
 */
#include <errno.h>
#include <string.h>

#include <sodium.h>

#include "kdf.h"

#define HMAC_IPAD	0x36
#define HMAC_OPAD	0x5c

/* H(pad || a || b) with unkeyed BLAKE2s-256; init cannot fail here. */
static void
hash_padded(uint8_t out[BLAKE2S_HASH_SIZE], const uint8_t pad[BLAKE2S_BLOCK_SIZE],
    const uint8_t *a, size_t alen)
{
	struct blake2s_state s;

	(void)blake2s_init(&s, BLAKE2S_HASH_SIZE, NULL, 0);
	blake2s_update(&s, pad, BLAKE2S_BLOCK_SIZE);
	blake2s_update(&s, a, alen);
	blake2s_final(&s, out);
}

void
hmac_blake2s(uint8_t out[BLAKE2S_HASH_SIZE], const uint8_t *key, size_t keylen,
    const uint8_t *in, size_t inlen)
{
	uint8_t pad[BLAKE2S_BLOCK_SIZE] = { 0 };
	uint8_t inner[BLAKE2S_HASH_SIZE];
	size_t i;

	if (keylen > BLAKE2S_BLOCK_SIZE)
		(void)blake2s(pad, BLAKE2S_HASH_SIZE, key, keylen, NULL, 0);
	else if (keylen != 0)
		memcpy(pad, key, keylen);

	for (i = 0; i < sizeof(pad); i++)
		pad[i] ^= HMAC_IPAD;
	hash_padded(inner, pad, in, inlen);

	/* Turn K ^ ipad into K ^ opad without keeping K around. */
	for (i = 0; i < sizeof(pad); i++)
		pad[i] ^= HMAC_IPAD ^ HMAC_OPAD;
	hash_padded(out, pad, inner, sizeof(inner));

	sodium_memzero(pad, sizeof(pad));
	sodium_memzero(inner, sizeof(inner));
}

int
kdf_n(uint8_t *out1, uint8_t *out2, uint8_t *out3, unsigned n,
    const uint8_t chaining_key[KDF_OUT_SIZE], const uint8_t *input, size_t inlen)
{
	uint8_t *out[3] = { out1, out2, out3 };
	uint8_t tau0[KDF_OUT_SIZE];
	uint8_t tau[3][KDF_OUT_SIZE];
	uint8_t msg[KDF_OUT_SIZE + 1];
	unsigned i;

	if (n < 1 || n > 3)
		return -EINVAL;
	for (i = 0; i < n; i++)
		if (out[i] == NULL)
			return -EINVAL;

	hmac_blake2s(tau0, chaining_key, KDF_OUT_SIZE, input, inlen);
	msg[0] = 0x01;
	hmac_blake2s(tau[0], tau0, sizeof(tau0), msg, 1);
	for (i = 1; i < n; i++) {
		memcpy(msg, tau[i - 1], KDF_OUT_SIZE);
		msg[KDF_OUT_SIZE] = (uint8_t)(i + 1);
		hmac_blake2s(tau[i], tau0, sizeof(tau0), msg, sizeof(msg));
	}

	/* Written only now, so outputs may alias chaining_key or input. */
	for (i = 0; i < n; i++)
		memcpy(out[i], tau[i], KDF_OUT_SIZE);

	sodium_memzero(tau0, sizeof(tau0));
	sodium_memzero(tau, sizeof(tau));
	sodium_memzero(msg, sizeof(msg));
	return 0;
}
