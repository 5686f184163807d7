/*
 * HMAC-BLAKE2s and the HKDF of Noise and WireGuard.
 *
 * kdf_n() is Noise's HKDF(chaining_key, input, n) (Noise spec section 4.3)
 * and WireGuard's KDF1/KDF2/KDF3:
 *
 *	tau0 = HMAC(ck, input)
 *	tau1 = HMAC(tau0, 0x01)
 *	tau2 = HMAC(tau0, tau1 || 0x02)
 *	tau3 = HMAC(tau0, tau2 || 0x03)
 *
 * which is RFC 5869 HKDF with salt = ck and empty info, as ts2021 describes
 * it: MixKey and Split are kdf_n(..., 2, ...).
 */
#ifndef PM_KDF_H
#define PM_KDF_H

#include <stddef.h>
#include <stdint.h>

#include "blake2s.h"

#define KDF_OUT_SIZE	BLAKE2S_HASH_SIZE	/* each output and the ck */

/*
 * RFC 2104 HMAC over BLAKE2s-256 (64-byte block; keys longer than that are
 * hashed first).  out may alias key or in.
 */
void	hmac_blake2s(uint8_t out[BLAKE2S_HASH_SIZE], const uint8_t *key,
	    size_t keylen, const uint8_t *in, size_t inlen);

/*
 * Writes tau1..tau_n to out1..out_n (32 bytes each); outputs past n are
 * ignored and may be NULL.  Every output may alias chaining_key or input,
 * so MixKey can update ck in place.  0, or -EINVAL if n is not 1..3 or a
 * needed output is NULL.
 */
int	kdf_n(uint8_t *out1, uint8_t *out2, uint8_t *out3, unsigned n,
	    const uint8_t chaining_key[KDF_OUT_SIZE],
	    const uint8_t *input, size_t inlen);

#endif
