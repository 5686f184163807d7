/*
 * WireGuard's DoS mitigation (paper section 5.4.4 and 5.4.7).
 *
 * Every handshake message carries
 *	mac1 = MAC(HASH("mac1----" || receiver's static public), msg[..mac1])
 *	mac2 = MAC(cookie, msg[..mac2])   or 16 zero bytes without a cookie
 * where MAC is keyed BLAKE2s-128.  A responder under load answers a message
 * with a valid mac1 but no valid mac2 with a cookie reply (type 3) instead of
 * doing Diffie-Hellman:
 *	cookie = MAC(Rm, source IP || source port), Rm random, renewed every
 *	         COOKIE_SECRET_MAX_AGE
 *	reply  = XAEAD(HASH("cookie--" || responder static public), nonce,
 *	               cookie, AD = mac1 of the message answered)
 *
 * The checker (one per device) validates incoming MACs and makes replies;
 * struct wg_cookie (one per peer) adds MACs to outgoing messages and keeps
 * the cookie the peer sent us.  A peer's two keys are derived from its
 * public key when a message needs them (one BLAKE2s each, next to the
 * handshake's Diffie-Hellman), not stored: they would double what a
 * configured peer costs here.  Whether the device is "under load" is the
 * caller's decision; wg_cookie_admit() turns it and the MAC state into what
 * to do, as wireguard-linux receive.c does.
 */
#ifndef PM_WG_COOKIE_H
#define PM_WG_COOKIE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "messages.h"

struct wg_cookie_checker {
	uint8_t		mac1_key[WG_HASH_LEN];	/* HASH("mac1----" || our pub) */
	uint8_t		cookie_key[WG_HASH_LEN];	/* HASH("cookie--" || our pub) */
	uint8_t		secret[WG_HASH_LEN];		/* Rm */
	uint64_t	secret_birthdate;		/* monotonic ns */
	bool		secret_set;
};

struct wg_cookie {
	uint8_t		cookie[WG_COOKIE_LEN];		/* last one the peer sent */
	uint8_t		last_mac1_sent[WG_COOKIE_LEN];	/* AD of its reply */
	uint64_t	birthdate;			/* of cookie, monotonic ns */
	bool		have_cookie;
	bool		have_sent_mac1;
};

enum wg_mac_state {
	WG_MAC_INVALID = 0,
	WG_MAC_VALID_BUT_NO_COOKIE,
	WG_MAC_VALID_WITH_COOKIE,
};

enum wg_admit {
	WG_ADMIT_DROP = 0,	/* bad MAC1: drop */
	WG_ADMIT_PROCESS,	/* go on to the Noise handshake */
	WG_ADMIT_SEND_COOKIE,	/* under load: answer with a cookie reply */
};

/* Derive the MAC1 and cookie keys from a static public key. */
void	wg_cookie_checker_init(struct wg_cookie_checker *,
	    const uint8_t public_key[WG_KEY_LEN]);
void	wg_cookie_init(struct wg_cookie *);
void	wg_cookie_checker_wipe(struct wg_cookie_checker *);
void	wg_cookie_wipe(struct wg_cookie *);

/*
 * msg/len is a whole initiation or response (len from wg_message_type()).
 * MAC2 is checked only when check_cookie is true (the caller is under load);
 * without it a valid MAC1 gives WG_MAC_VALID_BUT_NO_COOKIE.
 */
enum wg_mac_state wg_cookie_validate(struct wg_cookie_checker *,
	    const uint8_t *msg, size_t len, const struct sockaddr *src,
	    socklen_t srclen, bool check_cookie, uint64_t now_ns);
enum wg_admit wg_cookie_admit(enum wg_mac_state, bool under_load);

/* Fills mac1 and mac2 of an outgoing initiation or response. */
void	wg_cookie_add_macs(struct wg_cookie *,
	    const uint8_t peer_public[WG_KEY_LEN], uint8_t *msg, size_t len,
	    uint64_t now_ns);

/*
 * Answers msg (initiation or response from src) whose sender index is
 * sender_index.  0, -EINVAL for a bad length, -EAFNOSUPPORT for a source
 * that is not IPv4 or IPv6.
 */
int	wg_cookie_create_reply(struct wg_cookie_checker *, struct wg_msg_cookie *,
	    const uint8_t *msg, size_t len, uint32_t sender_index,
	    const struct sockaddr *src, socklen_t srclen, uint64_t now_ns);
/* Stores the cookie of a reply to our last message.  0, -EBADMSG, -EINVAL. */
int	wg_cookie_consume_reply(struct wg_cookie *,
	    const uint8_t peer_public[WG_KEY_LEN], const struct wg_msg_cookie *,
	    uint64_t now_ns);

#endif
