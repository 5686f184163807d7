/*
 * A WireGuard device (our static identity, the peers, the index table) and
 * the two entry points the I/O layer uses:
 *
 *	UDP datagram --> wg_device_receive() --> struct wg_rx: send rx->reply
 *	                                         back, deliver rx->plain to TUN,
 *	                                         flush staged packets, ...
 *	TUN packet   --> wg_send_data() (session.h) --> UDP to peer->endpoint
 *	first timer  --> wg_timers_due() (timers.h) --> wg_timers_poll() -->
 *	                 WG_ACTION_* bits, for each peer whose deadline passed
 *
 * Both tables are fixed arrays of bucket heads with chains threaded through
 * the entries themselves, and the timer queue's room is reserved by
 * wg_peer_add(), so nothing allocates after it except a handshake while one
 * is under way and a keypair per completed handshake (and, with the OpenSSL
 * AEAD backend, its cipher contexts on first use); never per packet.
 * Public keys are hashed with a random SipHash key, since an initiator
 * chooses the key we look up.  Single-threaded: the caller serialises all
 * calls on one device.
 *
 * Memory: a configured peer that is not talking costs its struct wg_peer
 * (about 340 bytes: keys, counters, timers, the endpoint) and a timer
 * queue slot; its handshake and keypairs exist only while in use.
 */
#ifndef PM_WG_PEER_H
#define PM_WG_PEER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "cookie.h"
#include "messages.h"
#include "noise.h"
#include "session.h"
#include "timerq.h"
#include "timers.h"

#define WG_INDEX_BUCKETS	2048	/* power of two */
#define WG_PEER_BUCKETS		512	/* power of two */
#define WG_TABLE_KEY_LEN	16	/* crypto_shorthash_KEYBYTES */

struct wg_device {
	uint8_t		static_private[WG_KEY_LEN];
	uint8_t		static_public[WG_KEY_LEN];
	bool		has_identity;
	struct wg_cookie_checker cookie_checker;
	uint8_t		table_key[WG_TABLE_KEY_LEN];
	size_t		npeers;
	struct wg_index_entry *index_table[WG_INDEX_BUCKETS];
	struct wg_peer	*peer_table[WG_PEER_BUCKETS];
	struct wg_timerq timerq;
};

/* Where a peer's datagrams go: IPv4 or IPv6, nothing larger. */
union wg_endpoint {
	struct sockaddr		sa;
	struct sockaddr_in	in4;
	struct sockaddr_in6	in6;
};

struct wg_peer {
	struct wg_device *dev;
	struct wg_peer	*hash_next;		/* peer_table chain */
	void		*ctx;			/* the I/O layer's, untouched */
	struct wg_handshake *handshake;		/* NULL: none under way */
	struct wg_keypairs keypairs;
	uint8_t		 public_key[WG_KEY_LEN];
	uint8_t		 preshared_key[WG_KEY_LEN];	/* zeros when unset */
	/* DH(our static, its static); all zero when unusable (low order). */
	uint8_t		 static_static[WG_KEY_LEN];
	/* Greatest TAI64N accepted in an initiation, and when: these outlive
	 * every handshake so that replays stay refused. */
	uint8_t		 latest_timestamp[WG_TIMESTAMP_LEN];
	uint16_t	 persistent_keepalive_interval;	/* seconds, 0 = off */
	uint64_t	 last_initiation_consumption;	/* monotonic ns */
	struct wg_cookie cookie;
	struct wg_timers timers;
	uint64_t	 rx_bytes;
	uint64_t	 tx_bytes;
	uint64_t	 last_handshake_real_ns;	/* 0: never */
	socklen_t	 endpoint_len;			/* 0: unknown */
	union wg_endpoint endpoint;
};

/* What wg_device_receive() found and what the caller must do next. */
enum wg_rx_event {
	WG_RX_REPLY = 1 << 0,		/* send reply[0..reply_len) to src */
	WG_RX_DATA = 1 << 1,		/* plain[0..plain_len) is an IP packet */
	WG_RX_KEEPALIVE = 1 << 2,	/* authenticated, empty */
	WG_RX_SEND_STAGED = 1 << 3,	/* a keypair became usable: flush */
	WG_RX_KEEPALIVE_IF_IDLE = 1 << 4, /* ... and if nothing was staged,
					   * send a keepalive to confirm it */
	WG_RX_COOKIE = 1 << 5,		/* stored a cookie for rx.peer */
	WG_RX_BAD_INNER = 1 << 6,	/* authenticated, but not a whole IP
					 * packet: drop and count it */
};

struct wg_rx {
	struct wg_peer	*peer;		/* authenticated sender, or NULL */
	uint8_t		*plain;		/* inside the caller's buffer */
	size_t		 plain_len;	/* IP length, padding stripped */
	size_t		 reply_len;
	unsigned	 events;	/* enum wg_rx_event bits */
};

/* ---- Device and peers --------------------------------------------------- */

/* private_key may be NULL: no identity yet, handshakes fail with -ENOKEY. */
int	wg_device_init(struct wg_device *, const uint8_t private_key[WG_KEY_LEN]);
/*
 * Changes our static key: recomputes every peer's static-static DH and
 * forgets all sessions.  -EEXIST if a peer has the new public key.
 */
int	wg_device_set_private_key(struct wg_device *,
	    const uint8_t private_key[WG_KEY_LEN]);
/* Removes every peer and wipes the device. */
void	wg_device_destroy(struct wg_device *);

/* psk may be NULL.  -EEXIST for a duplicate or our own key, -ENOMEM. */
int	wg_peer_add(struct wg_device *, const uint8_t public_key[WG_KEY_LEN],
	    const uint8_t psk[WG_KEY_LEN], struct wg_peer **);
void	wg_peer_remove(struct wg_peer *);
struct wg_peer *wg_peer_lookup(struct wg_device *,
	    const uint8_t public_key[WG_KEY_LEN]);
void	wg_peer_set_preshared_key(struct wg_peer *, const uint8_t psk[WG_KEY_LEN]);
/* Only AF_INET and AF_INET6 addresses are taken; others are ignored. */
void	wg_peer_set_endpoint(struct wg_peer *, const struct sockaddr *,
	    socklen_t);
/* Wipes the handshake and all keypairs (the 3 x REJECT_AFTER_TIME rule). */
void	wg_peer_clear_keys(struct wg_peer *);

/* ---- Index table -------------------------------------------------------- */

/*
 * Lists entry under a fresh random index (or *fixed, for tests), taking it
 * out of the table first if it was listed.  -EEXIST if *fixed is taken.
 */
int	wg_index_insert(struct wg_device *, struct wg_index_entry *,
	    enum wg_index_type, struct wg_peer *, const uint32_t *fixed);
/* new takes over old's index, type aside (handshake -> keypair). */
void	wg_index_replace(struct wg_device *, struct wg_index_entry *old,
	    struct wg_index_entry *new, enum wg_index_type);
void	wg_index_remove(struct wg_device *, struct wg_index_entry *);
/* types is a mask of enum wg_index_type. */
struct wg_index_entry *wg_index_lookup(struct wg_device *, uint32_t index,
	    unsigned types);

/* ---- I/O entry points --------------------------------------------------- */

/*
 * One UDP datagram from src.  Validates the length and type first, then the
 * MACs for handshake messages (under_load is the caller's load signal, e.g.
 * its handshake queue being long), then the cryptography.  Data is decrypted
 * in place in buf.  0 on success (look at rx), or a negative errno: the
 * datagram was dropped and the caller counts it.
 */
int	wg_device_receive(struct wg_device *, uint8_t *buf, size_t len,
	    const struct sockaddr *src, socklen_t srclen, bool under_load,
	    uint64_t now_ns, uint64_t now_real_ns, uint8_t reply[WG_REPLY_MAX],
	    struct wg_rx *);
/*
 * Creates an initiation to the peer, with MACs, and runs the hooks.
 * -EAGAIN if one was sent less than REKEY_TIMEOUT ago.
 */
int	wg_send_initiation(struct wg_peer *, struct wg_msg_initiation *,
	    uint64_t now_ns, uint64_t now_real_ns);

#endif
