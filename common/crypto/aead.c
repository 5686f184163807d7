/*
 * ChaCha20-Poly1305 behind one interface, with libsodium and OpenSSL 3
 * backends that must produce identical bytes (tests/unit/test_crypto.c
 * checks this and the RFC 8439 vector on both).
 *
 * OpenSSL keeps a cipher context per key and direction, created on first
 * use and kept until the key is wiped: the key schedule is done once, and
 * each packet only re-initialises the nonce, which also resets the
 * Poly1305 state (AAD and text lengths, tag).  What a packet still pays
 * EVP, measured with callgrind on OpenSSL 3.0 (instructions per 64-byte
 * seal, about 3,700 in all): the nonce re-init ~1,000, of which ~470 is
 * EVP_CIPHER_CTX_get_iv_length() asking the provider through an OSSL_PARAM
 * (OpenSSL 3.0 does not cache it, and no public call sets a nonce without
 * it); the final and the tag ~750.  Passing the tag as an OSSL_PARAM
 * rather than through EVP_CIPHER_CTX_ctrl() saves ~150 of these on a seal
 * and ~60 on an open.
 */
#include <errno.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <sodium.h>

#include "aead.h"

/*
 * Chosen by tests/bench/aead_bench (AMD EPYC with AVX-512, libsodium
 * 1.0.18, OpenSSL 3.0.22, one core, MB/s of plaintext):
 *
 *	1400 bytes: libsodium ~1000, OpenSSL ~1350  (OpenSSL 1.3-1.4x)
 *	  64 bytes: libsodium  ~210, OpenSSL  ~155  (OpenSSL 0.7-0.8x)
 *
 * Full-size packets carry the bulk traffic, where the cipher is most of
 * the per-packet cost; at 64 bytes both spend 300-450 ns, small next to
 * the TUN and UDP system calls.  OpenSSL's loss on small packets is its
 * per-call overhead (re-init through the provider, tag via OSSL_PARAM).
 * Build with -DPM_AEAD_DEFAULT_BACKEND=AEAD_BACKEND_SODIUM to change it.
 */
#ifndef PM_AEAD_DEFAULT_BACKEND
#define PM_AEAD_DEFAULT_BACKEND	AEAD_BACKEND_OPENSSL
#endif

/* Fetched once by aead_global_init(); never freed (process lifetime). */
static EVP_CIPHER *chacha_fetched;

int
aead_global_init(void)
{
	if (sodium_init() < 0)
		return -EIO;
	if (chacha_fetched == NULL) {
		chacha_fetched = EVP_CIPHER_fetch(NULL, "ChaCha20-Poly1305", NULL);
		if (chacha_fetched == NULL) {
			ERR_clear_error();
			return -EIO;
		}
	}
	return 0;
}

enum aead_backend
aead_default_backend(void)
{
	return PM_AEAD_DEFAULT_BACKEND;
}

const char *
aead_backend_name(enum aead_backend b)
{
	if (b == AEAD_BACKEND_DEFAULT)
		b = aead_default_backend();
	switch (b) {
	case AEAD_BACKEND_SODIUM:
		return "libsodium";
	case AEAD_BACKEND_OPENSSL:
		return "openssl";
	default:
		return "invalid";
	}
}

/* 32 zero bits, then the counter; WireGuard and Noise: little-endian. */
void
aead_nonce_wg(uint8_t nonce[AEAD_NONCE_SIZE], uint64_t counter)
{
	int i;

	memset(nonce, 0, 4);
	for (i = 0; i < 8; i++)
		nonce[4 + i] = (uint8_t)(counter >> (8 * i));
}

/* ts2021 (controlbase/conn.go) writes the counter big-endian. */
void
aead_nonce_ts2021(uint8_t nonce[AEAD_NONCE_SIZE], uint64_t counter)
{
	int i;

	memset(nonce, 0, 4);
	for (i = 0; i < 8; i++)
		nonce[4 + i] = (uint8_t)(counter >> (56 - 8 * i));
}

int
aead_key_init_backend(struct aead_key *k, const uint8_t key[AEAD_KEY_SIZE],
    enum aead_backend b)
{
	if (b == AEAD_BACKEND_DEFAULT)
		b = aead_default_backend();
	if (b != AEAD_BACKEND_SODIUM && b != AEAD_BACKEND_OPENSSL)
		return -EINVAL;
	memset(k, 0, sizeof(*k));
	memcpy(k->key, key, AEAD_KEY_SIZE);
	k->backend = b;
	return 0;
}

int
aead_key_init(struct aead_key *k, const uint8_t key[AEAD_KEY_SIZE])
{
	return aead_key_init_backend(k, key, AEAD_BACKEND_DEFAULT);
}

void
aead_key_wipe(struct aead_key *k)
{
	/* EVP_CIPHER_CTX_free() clears the scheduled key it holds. */
	EVP_CIPHER_CTX_free(k->enc);
	EVP_CIPHER_CTX_free(k->dec);
	sodium_memzero(k, sizeof(*k));
}

/* Shared by every entry point so both backends reject the same inputs. */
static int
check_args(const uint8_t *ad, size_t adlen, const uint8_t *in, size_t inlen,
    const uint8_t *out)
{
	if (out == NULL || (in == NULL && inlen != 0) ||
	    (ad == NULL && adlen != 0))
		return -EINVAL;
	if (adlen > AEAD_MAX_LEN)
		return -EMSGSIZE;
	return 0;
}

static int
check_seal(const uint8_t *ad, size_t adlen, const uint8_t *in, size_t inlen,
    const uint8_t *out)
{
	int r;

	if ((r = check_args(ad, adlen, in, inlen, out)) < 0)
		return r;
	return inlen > AEAD_MAX_LEN ? -EMSGSIZE : 0;
}

static int
check_open(const uint8_t *ad, size_t adlen, const uint8_t *in, size_t inlen,
    const uint8_t *out)
{
	int r;

	if ((r = check_args(ad, adlen, in, inlen, out)) < 0)
		return r;
	if (inlen < AEAD_TAG_SIZE)
		return -EBADMSG;
	return inlen - AEAD_TAG_SIZE > AEAD_MAX_LEN ? -EMSGSIZE : 0;
}

static int
sodium_seal(const uint8_t key[AEAD_KEY_SIZE], const uint8_t *nonce,
    const uint8_t *ad, size_t adlen, const uint8_t *in, size_t inlen,
    uint8_t *out)
{
	if (crypto_aead_chacha20poly1305_ietf_encrypt(out, NULL, in, inlen,
	    ad, adlen, NULL, nonce, key) != 0)
		return -EIO;
	return 0;
}

/* libsodium checks the tag before decrypting and zeroes out on failure. */
static int
sodium_open(const uint8_t key[AEAD_KEY_SIZE], const uint8_t *nonce,
    const uint8_t *ad, size_t adlen, const uint8_t *in, size_t inlen,
    uint8_t *out)
{
	if (crypto_aead_chacha20poly1305_ietf_decrypt(out, NULL, NULL, in, inlen,
	    ad, adlen, nonce, key) != 0)
		return -EBADMSG;
	return 0;
}

/* Creates the context for one direction on first use. */
static int
ossl_ctx(struct aead_key *k, EVP_CIPHER_CTX **slot, int enc)
{
	const EVP_CIPHER *c = chacha_fetched;
	EVP_CIPHER_CTX *ctx;

	if (*slot != NULL)
		return 0;
	if (c == NULL)
		c = EVP_chacha20_poly1305();	/* no aead_global_init() */
	if ((ctx = EVP_CIPHER_CTX_new()) == NULL)
		return -ENOMEM;
	if (EVP_CipherInit_ex(ctx, c, NULL, k->key, NULL, enc) != 1) {
		EVP_CIPHER_CTX_free(ctx);
		ERR_clear_error();
		return -EIO;
	}
	*slot = ctx;
	return 0;
}

/*
 * The tag goes in and out as an OSSL_PARAM handed straight to the
 * provider: EVP_CIPHER_CTX_ctrl() would build the same parameter on every
 * call after a switch over the legacy control codes.
 */
static OSSL_PARAM
tag_param(uint8_t *tag)
{
	return OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG, tag,
	    AEAD_TAG_SIZE);
}

static int
ossl_seal(struct aead_key *k, const uint8_t *nonce, const uint8_t *ad,
    size_t adlen, const uint8_t *in, size_t inlen, uint8_t *out)
{
	OSSL_PARAM get_tag[2] = { tag_param(out + inlen), OSSL_PARAM_END };
	EVP_CIPHER_CTX *ctx;
	int len, r;

	if ((r = ossl_ctx(k, &k->enc, 1)) < 0)
		return r;
	ctx = k->enc;
	/* Lengths fit in int: check_seal() bounds them by AEAD_MAX_LEN. */
	if (EVP_EncryptInit_ex2(ctx, NULL, NULL, nonce, NULL) != 1 ||
	    (adlen != 0 &&
	    EVP_EncryptUpdate(ctx, NULL, &len, ad, (int)adlen) != 1) ||
	    (inlen != 0 &&
	    EVP_EncryptUpdate(ctx, out, &len, in, (int)inlen) != 1) ||
	    EVP_EncryptFinal_ex(ctx, out + inlen, &len) != 1 ||
	    EVP_CIPHER_CTX_get_params(ctx, get_tag) != 1) {
		ERR_clear_error();
		return -EIO;
	}
	return 0;
}

/*
 * EVP decrypts before it can check the tag, so on any failure the
 * unauthenticated plaintext is wiped, matching libsodium.
 */
static int
ossl_open(struct aead_key *k, const uint8_t *nonce, const uint8_t *ad,
    size_t adlen, const uint8_t *in, size_t inlen, uint8_t *out)
{
	size_t clen = inlen - AEAD_TAG_SIZE;
	uint8_t tag[AEAD_TAG_SIZE];
	OSSL_PARAM set_tag[2] = { OSSL_PARAM_END, OSSL_PARAM_END };
	EVP_CIPHER_CTX *ctx;
	int len, r;

	if ((r = ossl_ctx(k, &k->dec, 0)) < 0)
		return r;
	ctx = k->dec;
	/* A copy: the parameter wants a mutable pointer, and in may be out. */
	memcpy(tag, in + clen, AEAD_TAG_SIZE);
	set_tag[0] = tag_param(tag);
	/* The nonce and the expected tag in one call to the provider. */
	if (EVP_DecryptInit_ex2(ctx, NULL, NULL, nonce, set_tag) != 1 ||
	    (adlen != 0 &&
	    EVP_DecryptUpdate(ctx, NULL, &len, ad, (int)adlen) != 1) ||
	    (clen != 0 &&
	    EVP_DecryptUpdate(ctx, out, &len, in, (int)clen) != 1)) {
		r = -EIO;
		goto fail;
	}
	/* A stream cipher's final writes nothing; tag is a harmless sink. */
	if (EVP_DecryptFinal_ex(ctx, tag, &len) != 1) {
		r = -EBADMSG;
		goto fail;
	}
	return 0;
fail:
	ERR_clear_error();
	sodium_memzero(out, clen);
	return r;
}

/* A wiped key has backend 0 (DEFAULT) and is refused, never used as zeros. */
int
aead_seal(struct aead_key *k, const uint8_t nonce[AEAD_NONCE_SIZE],
    const uint8_t *ad, size_t adlen, const uint8_t *in, size_t inlen,
    uint8_t *out)
{
	int r;

	if ((r = check_seal(ad, adlen, in, inlen, out)) < 0)
		return r;
	switch (k->backend) {
	case AEAD_BACKEND_SODIUM:
		return sodium_seal(k->key, nonce, ad, adlen, in, inlen, out);
	case AEAD_BACKEND_OPENSSL:
		return ossl_seal(k, nonce, ad, adlen, in, inlen, out);
	default:
		return -EINVAL;
	}
}

int
aead_open(struct aead_key *k, const uint8_t nonce[AEAD_NONCE_SIZE],
    const uint8_t *ad, size_t adlen, const uint8_t *in, size_t inlen,
    uint8_t *out)
{
	int r;

	if ((r = check_open(ad, adlen, in, inlen, out)) < 0)
		return r;
	switch (k->backend) {
	case AEAD_BACKEND_SODIUM:
		return sodium_open(k->key, nonce, ad, adlen, in, inlen, out);
	case AEAD_BACKEND_OPENSSL:
		return ossl_open(k, nonce, ad, adlen, in, inlen, out);
	default:
		return -EINVAL;
	}
}

int
aead_seal_oneshot(const uint8_t key[AEAD_KEY_SIZE],
    const uint8_t nonce[AEAD_NONCE_SIZE], const uint8_t *ad, size_t adlen,
    const uint8_t *in, size_t inlen, uint8_t *out)
{
	int r;

	if ((r = check_seal(ad, adlen, in, inlen, out)) < 0)
		return r;
	return sodium_seal(key, nonce, ad, adlen, in, inlen, out);
}

int
aead_open_oneshot(const uint8_t key[AEAD_KEY_SIZE],
    const uint8_t nonce[AEAD_NONCE_SIZE], const uint8_t *ad, size_t adlen,
    const uint8_t *in, size_t inlen, uint8_t *out)
{
	int r;

	if ((r = check_open(ad, adlen, in, inlen, out)) < 0)
		return r;
	return sodium_open(key, nonce, ad, adlen, in, inlen, out);
}

int
xaead_seal(const uint8_t key[AEAD_KEY_SIZE],
    const uint8_t nonce[XAEAD_NONCE_SIZE], const uint8_t *ad, size_t adlen,
    const uint8_t *in, size_t inlen, uint8_t *out)
{
	int r;

	if ((r = check_seal(ad, adlen, in, inlen, out)) < 0)
		return r;
	if (crypto_aead_xchacha20poly1305_ietf_encrypt(out, NULL, in, inlen,
	    ad, adlen, NULL, nonce, key) != 0)
		return -EIO;
	return 0;
}

int
xaead_open(const uint8_t key[AEAD_KEY_SIZE],
    const uint8_t nonce[XAEAD_NONCE_SIZE], const uint8_t *ad, size_t adlen,
    const uint8_t *in, size_t inlen, uint8_t *out)
{
	int r;

	if ((r = check_open(ad, adlen, in, inlen, out)) < 0)
		return r;
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(out, NULL, NULL, in, inlen,
	    ad, adlen, nonce, key) != 0)
		return -EBADMSG;
	return 0;
}
