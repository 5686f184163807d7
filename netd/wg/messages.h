/*
 * WireGuard wire format and protocol constants.
 *
 * "Specification" constants come from the WireGuard paper (Donenfeld, NDSS
 * 2017, sections 5 and 6) and must match every other implementation;
 * "implementation" constants are this implementation's choices, and changing
 * them affects only us.  Every multi-byte integer on the wire is
 * little-endian; the structs are packed and their sizes checked below.
 *
 *	type 1  handshake initiation   148 bytes
 *	type 2  handshake response      92 bytes
 *	type 3  cookie reply            64 bytes
 *	type 4  transport data         >= 32 bytes (header 16, tag 16)
 */
#ifndef PM_WG_MESSAGES_H
#define PM_WG_MESSAGES_H

#include <assert.h>
#include <stddef.h>
#include <stdint.h>

/* ---- Specification ---------------------------------------------------- */

#define WG_CONSTRUCTION		"Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s"
#define WG_IDENTIFIER		"WireGuard v1 zx2c4 Jason@zx2c4.com"
#define WG_LABEL_MAC1		"mac1----"
#define WG_LABEL_COOKIE		"cookie--"

#define WG_KEY_LEN		32	/* X25519 keys, symmetric keys, PSK */
#define WG_HASH_LEN		32	/* BLAKE2s-256: hash and chaining key */
#define WG_TAG_LEN		16	/* Poly1305 */
#define WG_TIMESTAMP_LEN	12	/* TAI64N */
#define WG_COOKIE_LEN		16	/* a cookie and each MAC */
#define WG_COOKIE_NONCE_LEN	24	/* XChaCha20 */

enum wg_message_type {
	WG_MSG_INVALID = 0,
	WG_MSG_HANDSHAKE_INITIATION = 1,
	WG_MSG_HANDSHAKE_RESPONSE = 2,
	WG_MSG_COOKIE_REPLY = 3,
	WG_MSG_DATA = 4,
};

/* Seconds. */
#define WG_REKEY_AFTER_TIME		120
#define WG_REJECT_AFTER_TIME		180
#define WG_REKEY_ATTEMPT_TIME		90
#define WG_REKEY_TIMEOUT		5
#define WG_KEEPALIVE_TIMEOUT		10
#define WG_COOKIE_SECRET_MAX_AGE	120
/* A cookie is used only while the responder's secret surely still matches. */
#define WG_COOKIE_SECRET_LATENCY	5

/* Messages per keypair. */
#define WG_REKEY_AFTER_MESSAGES		(UINT64_C(1) << 60)
#define WG_REJECT_AFTER_MESSAGES	(UINT64_MAX - (UINT64_C(1) << 13))

#define WG_MESSAGE_PADDING_MULTIPLE	16

/* Every message starts with this; reserved bytes must be zero. */
struct wg_msg_header {
	uint8_t		type;
	uint8_t		reserved_zero[3];
} __attribute__((packed));

/* Both handshake messages end with these, mac1 over everything before it. */
struct wg_msg_macs {
	uint8_t		mac1[WG_COOKIE_LEN];
	uint8_t		mac2[WG_COOKIE_LEN];
} __attribute__((packed));

struct wg_msg_initiation {
	struct wg_msg_header header;
	uint32_t	sender_index;
	uint8_t		unencrypted_ephemeral[WG_KEY_LEN];
	uint8_t		encrypted_static[WG_KEY_LEN + WG_TAG_LEN];
	uint8_t		encrypted_timestamp[WG_TIMESTAMP_LEN + WG_TAG_LEN];
	struct wg_msg_macs macs;
} __attribute__((packed));

struct wg_msg_response {
	struct wg_msg_header header;
	uint32_t	sender_index;
	uint32_t	receiver_index;
	uint8_t		unencrypted_ephemeral[WG_KEY_LEN];
	uint8_t		encrypted_nothing[WG_TAG_LEN];
	struct wg_msg_macs macs;
} __attribute__((packed));

struct wg_msg_cookie {
	struct wg_msg_header header;
	uint32_t	receiver_index;
	uint8_t		nonce[WG_COOKIE_NONCE_LEN];
	uint8_t		encrypted_cookie[WG_COOKIE_LEN + WG_TAG_LEN];
} __attribute__((packed));

/* Followed by the encrypted, padded inner packet and its tag. */
struct wg_msg_data {
	struct wg_msg_header header;
	uint32_t	receiver_index;
	uint64_t	counter;
	uint8_t		encrypted_data[];
} __attribute__((packed));

#define WG_MSG_INITIATION_LEN	148
#define WG_MSG_RESPONSE_LEN	92
#define WG_MSG_COOKIE_LEN	64
#define WG_MSG_DATA_HEADER_LEN	16
#define WG_MSG_DATA_MIN_LEN	(WG_MSG_DATA_HEADER_LEN + WG_TAG_LEN)

static_assert(sizeof(struct wg_msg_initiation) == WG_MSG_INITIATION_LEN,
    "initiation is 148 bytes");
static_assert(sizeof(struct wg_msg_response) == WG_MSG_RESPONSE_LEN,
    "response is 92 bytes");
static_assert(sizeof(struct wg_msg_cookie) == WG_MSG_COOKIE_LEN,
    "cookie reply is 64 bytes");
static_assert(sizeof(struct wg_msg_data) == WG_MSG_DATA_HEADER_LEN,
    "data header is 16 bytes");

/* ---- Implementation ---------------------------------------------------- */

/* Retransmissions before giving up: REKEY_ATTEMPT_TIME / REKEY_TIMEOUT. */
#define WG_MAX_TIMER_HANDSHAKES	(WG_REKEY_ATTEMPT_TIME / WG_REKEY_TIMEOUT)
/* Added to every handshake retransmission so peers do not synchronise. */
#define WG_REKEY_TIMEOUT_JITTER_MAX_MS	333
/* At most this many initiations per second are consumed from one peer. */
#define WG_INITIATIONS_PER_SECOND	50

/*
 * Replay window: RFC 6479 ring of 64-bit words.  One word is the slack the
 * algorithm needs, so a counter up to WG_REPLAY_WINDOW behind the greatest
 * one seen is still accepted once.  (wireguard-linux and wireguard-go use
 * 8192 bits; 4096 keeps a keypair under 1 KiB and still accepts a lag of
 * 4032 packets.)
 */
#define WG_REPLAY_BITS		4096
#define WG_REPLAY_WORDS		(WG_REPLAY_BITS / 64)
#define WG_REPLAY_WINDOW	(WG_REPLAY_BITS - 64)

/* Largest reply wg_device_receive() may ask the caller to send. */
#define WG_REPLY_MAX		WG_MSG_RESPONSE_LEN

/*
 * Classifies a datagram before anything else looks at it: the type byte,
 * the exact length for that type (at least the minimum for data), and zero
 * reserved bytes.  WG_MSG_INVALID means drop.
 */
static inline enum wg_message_type
wg_message_type(const uint8_t *buf, size_t len)
{
	if (len < sizeof(struct wg_msg_header) ||
	    buf[1] != 0 || buf[2] != 0 || buf[3] != 0)
		return WG_MSG_INVALID;
	switch (buf[0]) {
	case WG_MSG_HANDSHAKE_INITIATION:
		return len == WG_MSG_INITIATION_LEN ? WG_MSG_HANDSHAKE_INITIATION :
		    WG_MSG_INVALID;
	case WG_MSG_HANDSHAKE_RESPONSE:
		return len == WG_MSG_RESPONSE_LEN ? WG_MSG_HANDSHAKE_RESPONSE :
		    WG_MSG_INVALID;
	case WG_MSG_COOKIE_REPLY:
		return len == WG_MSG_COOKIE_LEN ? WG_MSG_COOKIE_REPLY :
		    WG_MSG_INVALID;
	case WG_MSG_DATA:
		return len >= WG_MSG_DATA_MIN_LEN ? WG_MSG_DATA : WG_MSG_INVALID;
	default:
		return WG_MSG_INVALID;
	}
}

#endif
