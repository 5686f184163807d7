/*
 * ts2021's Noise layer (tailscale control/controlbase), initiator side:
 * Noise_IK_25519_ChaChaPoly_BLAKE2s with the prologue
 * "Tailscale Control Protocol v<version>", then records of
 * [0x04][BE16 len][ciphertext] with a big-endian nonce counter.
 * Pure functions over buffers: no I/O, so they are unit-tested and fuzzed.
 */
#ifndef PM_CTRLD_NOISE_H
#define PM_CTRLD_NOISE_H

#include <stddef.h>
#include <stdint.h>

#include "aead.h"

#define NOISE_KEY_SIZE		32
#define NOISE_INIT_SIZE		101	/* 5-byte header + 96 */
#define NOISE_RESP_SIZE		51	/* 3-byte header + 48 */
#define NOISE_MAX_RECORD	4096	/* header included */
#define NOISE_HDR_SIZE		3
#define NOISE_MAX_PLAIN		(NOISE_MAX_RECORD - NOISE_HDR_SIZE - AEAD_TAG_SIZE)

#define NOISE_MSG_INIT		0x01
#define NOISE_MSG_RESP		0x02
#define NOISE_MSG_ERROR		0x03
#define NOISE_MSG_RECORD	0x04

struct noise_hs {
	uint8_t		 h[32];
	uint8_t		 ck[32];
	uint8_t		 e_priv[NOISE_KEY_SIZE];
	uint8_t		 e_pub[NOISE_KEY_SIZE];
	uint8_t		 s_priv[NOISE_KEY_SIZE];
	uint8_t		 rs[NOISE_KEY_SIZE];
};

/* One direction of the transport. */
struct noise_cipher {
	struct aead_key	 key;
	uint64_t	 counter;
	int		 ready;
};

struct noise_transport {
	struct noise_cipher tx, rx;
	uint8_t		 hash[32];	/* handshake hash (channel binding) */
};

/* Curve25519 key pair with a clamped private key. */
void	noise_keypair(uint8_t priv[NOISE_KEY_SIZE], uint8_t pub[NOISE_KEY_SIZE]);

/*
 * Builds the 101-byte initiation.  `e_priv` may be NULL (a fresh ephemeral
 * key is generated); tests pass a fixed one.  Returns 0 or -1 (a DH with a
 * low-order server key).
 */
int	noise_initiate(struct noise_hs *, uint16_t version,
	    const uint8_t machine_priv[NOISE_KEY_SIZE],
	    const uint8_t server_pub[NOISE_KEY_SIZE],
	    const uint8_t *e_priv, uint8_t out[NOISE_INIT_SIZE]);

/*
 * Consumes the server's 51-byte response and derives the transport keys.
 * Returns 0, or -1 with `err` set (bad type, length, DH or tag).  An error
 * frame (0x03) is reported by the caller before it gets here.
 */
int	noise_respond(struct noise_hs *, const uint8_t *msg, size_t len,
	    struct noise_transport *, char *err, size_t errlen);

void	noise_transport_wipe(struct noise_transport *);

/* Seals `len` <= NOISE_MAX_PLAIN bytes into one record at `out`
 * (len + 19 bytes).  Returns the record length or -1 (exhausted). */
int	noise_seal(struct noise_cipher *, const uint8_t *in, size_t len,
	    uint8_t *out);

/*
 * Record reader: feed it ciphertext bytes as they arrive; complete records
 * are decrypted into `out` (which must hold NOISE_MAX_PLAIN bytes).
 * noise_read() returns the plaintext length of one record (>= 0), -2 when
 * more input is needed, or -1 on a fatal error with `err` set.
 */
struct noise_reader {
	uint8_t		 buf[NOISE_MAX_RECORD];
	size_t		 len;
};

int	noise_read(struct noise_reader *, struct noise_cipher *,
	    const uint8_t **in, size_t *inlen, uint8_t *out,
	    char *err, size_t errlen);

#endif
