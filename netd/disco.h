/*
 * Tailscale disco packets (tailscale disco/disco.go), the path-discovery
 * messages peers exchange directly over UDP and through DERP:
 *
 *	magic "TS💬" (54 53 f0 9f 92 ac) | sender disco public key (32) |
 *	nonce (24) | NaCl box (MAC 16 + ciphertext) of the inner message
 *
 * The box is crypto_box (X25519, XSalsa20-Poly1305) between the two disco
 * keys.  Inner message: type, version (0), payload; trailing bytes are
 * ignored for future fields.
 *	Ping (1):        txid (12) [node public key (32)] [zero padding]
 *	Pong (2):        txid (12), observed source IP (16, v4-mapped), port
 *	CallMeMaybe (3): N x (IP (16, v4-mapped), port), sent only via DERP
 *
 * The caller holds the disco private key and passes it in; nothing here
 * keeps keys.
 */
#ifndef PM_NETD_DISCO_H
#define PM_NETD_DISCO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sys/types.h>

#include "ipport.h"

#define DISCO_MAGIC		"TS\xf0\x9f\x92\xac"
#define DISCO_MAGIC_LEN		6
#define DISCO_KEY_LEN		32
#define DISCO_NONCE_LEN		24
#define DISCO_MAC_LEN		16
#define DISCO_TXID_LEN		12
/* magic + sender key: what magicsock's demux needs to see. */
#define DISCO_DEMUX_LEN		(DISCO_MAGIC_LEN + DISCO_KEY_LEN)
/* magic + sender key + nonce: the shortest packet that may be disco. */
#define DISCO_HEADER_LEN	(DISCO_DEMUX_LEN + DISCO_NONCE_LEN)
#define DISCO_OVERHEAD		(DISCO_HEADER_LEN + DISCO_MAC_LEN)
/* Ping without padding: type, version, txid, node key. */
#define DISCO_PING_LEN		(2 + DISCO_TXID_LEN + DISCO_KEY_LEN)
#define DISCO_PONG_LEN		(2 + DISCO_TXID_LEN + IPPORT_WIRE_LEN)
/* Endpoints kept from one CallMeMaybe; the rest are counted, not kept. */
#define DISCO_CMM_MAX		64

enum disco_type {
	DISCO_PING = 0x01,
	DISCO_PONG = 0x02,
	DISCO_CALL_ME_MAYBE = 0x03,
};

struct disco_ping {
	uint8_t		txid[DISCO_TXID_LEN];
	bool		has_node_key;	/* clients before 1.16 omit it */
	uint8_t		node_key[DISCO_KEY_LEN];
	size_t		padding;	/* path-MTU probes pad with zeros */
};

struct disco_pong {
	uint8_t		txid[DISCO_TXID_LEN];
	struct ipport	src;		/* where the ping was seen from */
};

struct disco_call_me_maybe {
	size_t		n;		/* kept in ep[] */
	size_t		n_dropped;	/* past DISCO_CMM_MAX */
	struct ipport	ep[DISCO_CMM_MAX];
};

struct disco_msg {
	enum disco_type	type;
	uint8_t		version;
	union {
		struct disco_ping		ping;
		struct disco_pong		pong;
		struct disco_call_me_maybe	cmm;
	};
};

/* magicsock's test: at least magic + sender key, starting with the magic. */
bool	disco_looks_like(const uint8_t *, size_t);
/* disco.LooksLikeDiscoWrapper: at least magic + key + nonce. */
bool	disco_looks_like_wrapper(const uint8_t *, size_t);
/* The sender's disco public key inside a wrapper, or NULL. */
const uint8_t *disco_sender(const uint8_t *, size_t);

/* Inner message bytes; returns the length, or -1 if cap is too small. */
ssize_t	disco_marshal(const struct disco_msg *, uint8_t *out, size_t cap);
/* Parses an inner message; -1 for short or unknown messages. */
int	disco_parse(const uint8_t *, size_t, struct disco_msg *);

/* crypto_box_beforenm of the two keys; -1 for a low-order peer key. */
int	disco_shared_key(uint8_t shared[DISCO_KEY_LEN],
	    const uint8_t peer_pub[DISCO_KEY_LEN],
	    const uint8_t own_priv[DISCO_KEY_LEN]);
/*
 * Wraps an inner message: magic, own_pub, a fresh random nonce, the box
 * under shared.  Returns the packet length, or -1 if cap is too small.
 */
ssize_t	disco_seal(uint8_t *out, size_t cap,
	    const uint8_t own_pub[DISCO_KEY_LEN],
	    const uint8_t shared[DISCO_KEY_LEN],
	    const uint8_t *inner, size_t inner_len);
/*
 * Opens a wrapper whose sender (disco_sender) the caller has matched to
 * shared.  Returns the inner length, or -1 if it is not a disco packet,
 * does not authenticate, or does not fit in cap.
 */
ssize_t	disco_open(const uint8_t *pkt, size_t len,
	    const uint8_t shared[DISCO_KEY_LEN], uint8_t *inner, size_t cap);

#endif
