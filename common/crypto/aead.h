/*
 * ChaCha20-Poly1305 (RFC 8439) for WireGuard transport data and ts2021
 * records, plus XChaCha20-Poly1305 for WireGuard cookie replies.
 *
 * Two interchangeable backends produce identical bytes: libsodium and
 * OpenSSL 3 EVP.  The bulk path goes through a struct aead_key, which keeps
 * the OpenSSL contexts so that no packet allocates; which backend a key
 * uses by default is fixed at build time from tests/bench/aead_bench (see
 * aead.c).  One-shot calls for single-use keys (Noise handshake, cookies)
 * always use libsodium, which has nothing to set up.
 *
 * Layout: sealed = ciphertext || 16-byte tag, so seal writes inlen + 16
 * bytes and open reads inlen >= 16 and writes inlen - 16.  out may equal in
 * (in-place) but must not otherwise overlap it.
 *
 * Nonces are the 96-bit IETF form: 32 zero bits, then a 64-bit counter.
 * WireGuard (and the Noise spec) store the counter little-endian; ts2021
 * transport stores it big-endian.  The two agree only for counter 0, so a
 * mix-up would pass the handshake and fail from the second record on; use
 * the helper named for the protocol.
 *
 * Errors: -EBADMSG when authentication fails or the input is shorter than a
 * tag (out is then zeroed), -EMSGSIZE above AEAD_MAX_LEN, -EINVAL for bad
 * arguments, -ENOMEM / -EIO when OpenSSL cannot set up or run a context.
 */
#ifndef PM_AEAD_H
#define PM_AEAD_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#define AEAD_KEY_SIZE		32
#define AEAD_TAG_SIZE		16
#define AEAD_NONCE_SIZE		12
#define XAEAD_NONCE_SIZE	24
/* EVP takes int lengths; both backends share the limit so they agree. */
#define AEAD_MAX_LEN		((size_t)INT_MAX - AEAD_TAG_SIZE)

enum aead_backend {
	AEAD_BACKEND_DEFAULT = 0,	/* the build's choice, see aead.c */
	AEAD_BACKEND_SODIUM,
	AEAD_BACKEND_OPENSSL,
};

struct evp_cipher_ctx_st;		/* OpenSSL's EVP_CIPHER_CTX */

/*
 * A key and its per-direction OpenSSL contexts, created on first use: a
 * WireGuard keypair seals with one key and opens with the other, so each
 * key usually needs only one.  The contexts are mutable, so one aead_key
 * must not be used by two threads at once.
 */
struct aead_key {
	uint8_t			 key[AEAD_KEY_SIZE];
	enum aead_backend	 backend;
	struct evp_cipher_ctx_st *enc;
	struct evp_cipher_ctx_st *dec;
};

/*
 * Once per process, before the sandbox: sodium_init() and an explicit fetch
 * of OpenSSL's cipher, so neither reads files or probes the CPU later.
 * 0, or -EIO.
 */
int	aead_global_init(void);
enum aead_backend aead_default_backend(void);
const char *aead_backend_name(enum aead_backend);

void	aead_nonce_wg(uint8_t nonce[AEAD_NONCE_SIZE], uint64_t counter);
void	aead_nonce_ts2021(uint8_t nonce[AEAD_NONCE_SIZE], uint64_t counter);

int	aead_key_init(struct aead_key *, const uint8_t key[AEAD_KEY_SIZE]);
int	aead_key_init_backend(struct aead_key *, const uint8_t key[AEAD_KEY_SIZE],
	    enum aead_backend);
/* Frees the contexts and zeroes the struct; safe to call twice. */
void	aead_key_wipe(struct aead_key *);

int	aead_seal(struct aead_key *, const uint8_t nonce[AEAD_NONCE_SIZE],
	    const uint8_t *ad, size_t adlen, const uint8_t *in, size_t inlen,
	    uint8_t *out);
int	aead_open(struct aead_key *, const uint8_t nonce[AEAD_NONCE_SIZE],
	    const uint8_t *ad, size_t adlen, const uint8_t *in, size_t inlen,
	    uint8_t *out);

/* Single-use keys: the Noise handshake's encrypt/decrypt with k. */
int	aead_seal_oneshot(const uint8_t key[AEAD_KEY_SIZE],
	    const uint8_t nonce[AEAD_NONCE_SIZE], const uint8_t *ad, size_t adlen,
	    const uint8_t *in, size_t inlen, uint8_t *out);
int	aead_open_oneshot(const uint8_t key[AEAD_KEY_SIZE],
	    const uint8_t nonce[AEAD_NONCE_SIZE], const uint8_t *ad, size_t adlen,
	    const uint8_t *in, size_t inlen, uint8_t *out);

/* XChaCha20-Poly1305 (libsodium only; OpenSSL has no XChaCha AEAD). */
int	xaead_seal(const uint8_t key[AEAD_KEY_SIZE],
	    const uint8_t nonce[XAEAD_NONCE_SIZE], const uint8_t *ad, size_t adlen,
	    const uint8_t *in, size_t inlen, uint8_t *out);
int	xaead_open(const uint8_t key[AEAD_KEY_SIZE],
	    const uint8_t nonce[XAEAD_NONCE_SIZE], const uint8_t *ad, size_t adlen,
	    const uint8_t *in, size_t inlen, uint8_t *out);

#endif
