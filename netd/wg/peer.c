/*
 * Device, peers, the two hash tables, and the I/O entry points that
 * sequence handshake, cookie, session and timer calls in the order of
 * wireguard-linux receive.c / send.c.
 */
#include <assert.h>
#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "peer.h"

/* ---- Index table -------------------------------------------------------- */

/* Indices are random (we choose them), so their low bits hash well enough. */
static struct wg_index_entry **
index_bucket(struct wg_device *dev, uint32_t index)
{
	return &dev->index_table[index & (WG_INDEX_BUCKETS - 1)];
}

struct wg_index_entry *
wg_index_lookup(struct wg_device *dev, uint32_t index, unsigned types)
{
	struct wg_index_entry *e;

	for (e = *index_bucket(dev, index); e != NULL; e = e->next)
		if (e->index == index && (e->type & types) != 0)
			return e;
	return NULL;
}

static void
index_link(struct wg_device *dev, struct wg_index_entry *entry,
    uint32_t index, enum wg_index_type type, struct wg_peer *peer)
{
	struct wg_index_entry **head = index_bucket(dev, index);

	entry->index = index;
	entry->type = (uint8_t)type;
	entry->peer = peer;
	entry->next = *head;
	*head = entry;
}

void
wg_index_remove(struct wg_device *dev, struct wg_index_entry *entry)
{
	struct wg_index_entry **pp;

	if (entry->type == 0)
		return;
	for (pp = index_bucket(dev, entry->index); *pp != NULL;
	    pp = &(*pp)->next) {
		if (*pp == entry) {
			*pp = entry->next;
			break;
		}
	}
	entry->next = NULL;
	entry->type = 0;
}

int
wg_index_insert(struct wg_device *dev, struct wg_index_entry *entry,
    enum wg_index_type type, struct wg_peer *peer, const uint32_t *fixed)
{
	const unsigned any = WG_INDEX_HANDSHAKE | WG_INDEX_KEYPAIR;
	uint32_t index;

	wg_index_remove(dev, entry);
	if (fixed != NULL) {
		if (wg_index_lookup(dev, *fixed, any) != NULL)
			return -EEXIST;
		index = *fixed;
	} else {
		do
			randombytes_buf(&index, sizeof(index));
		while (wg_index_lookup(dev, index, any) != NULL);
	}
	index_link(dev, entry, index, type, peer);
	return 0;
}

void
wg_index_replace(struct wg_device *dev, struct wg_index_entry *old,
    struct wg_index_entry *new, enum wg_index_type type)
{
	uint32_t index = old->index;

	if (old->type == 0) {
		/* Not listed (cannot happen after create/consume): new index. */
		(void)wg_index_insert(dev, new, type, old->peer, NULL);
		return;
	}
	wg_index_remove(dev, old);
	index_link(dev, new, index, type, old->peer);
}

/* ---- Peers -------------------------------------------------------------- */

/* Keyed, because a handshake initiator picks the key we look up. */
static struct wg_peer **
peer_bucket(struct wg_device *dev, const uint8_t public_key[WG_KEY_LEN])
{
	uint8_t h[crypto_shorthash_BYTES];
	uint64_t v;

	crypto_shorthash(h, public_key, WG_KEY_LEN, dev->table_key);
	memcpy(&v, h, sizeof(v));
	return &dev->peer_table[v & (WG_PEER_BUCKETS - 1)];
}

struct wg_peer *
wg_peer_lookup(struct wg_device *dev, const uint8_t public_key[WG_KEY_LEN])
{
	struct wg_peer *p;

	for (p = *peer_bucket(dev, public_key); p != NULL; p = p->hash_next)
		if (sodium_memcmp(p->public_key, public_key, WG_KEY_LEN) == 0)
			return p;
	return NULL;
}

/* Zero (refused by the handshake) when unusable. */
static void
precompute_static_static(struct wg_peer *peer)
{
	struct wg_device *dev = peer->dev;

	if (!dev->has_identity || crypto_scalarmult(peer->static_static,
	    dev->static_private, peer->public_key) != 0)
		sodium_memzero(peer->static_static, WG_KEY_LEN);
}

int
wg_peer_add(struct wg_device *dev, const uint8_t public_key[WG_KEY_LEN],
    const uint8_t psk[WG_KEY_LEN], struct wg_peer **peerp)
{
	struct wg_peer *peer, **head;

	if ((dev->has_identity &&
	    memcmp(public_key, dev->static_public, WG_KEY_LEN) == 0) ||
	    wg_peer_lookup(dev, public_key) != NULL)
		return -EEXIST;
	if (wg_timerq_reserve(&dev->timerq, dev->npeers + 1) < 0 ||
	    (peer = calloc(1, sizeof(*peer))) == NULL)
		return -ENOMEM;
	peer->dev = dev;
	memcpy(peer->public_key, public_key, WG_KEY_LEN);
	if (psk != NULL)
		memcpy(peer->preshared_key, psk, WG_KEY_LEN);
	precompute_static_static(peer);
	wg_cookie_init(&peer->cookie);
	wg_timers_init(&peer->timers);
	head = peer_bucket(dev, public_key);
	peer->hash_next = *head;
	*head = peer;
	dev->npeers++;
	*peerp = peer;
	return 0;
}

void
wg_peer_remove(struct wg_peer *peer)
{
	struct wg_device *dev = peer->dev;
	struct wg_peer **pp;

	for (pp = peer_bucket(dev, peer->public_key); *pp != NULL;
	    pp = &(*pp)->hash_next) {
		if (*pp == peer) {
			*pp = peer->hash_next;
			break;
		}
	}
	dev->npeers--;
	wg_timerq_set(&dev->timerq, peer, WG_TIMER_OFF);
	wg_peer_clear_keys(peer);
	sodium_memzero(peer, sizeof(*peer));
	free(peer);
}

void
wg_peer_set_preshared_key(struct wg_peer *peer, const uint8_t psk[WG_KEY_LEN])
{
	if (psk != NULL)
		memcpy(peer->preshared_key, psk, WG_KEY_LEN);
	else
		sodium_memzero(peer->preshared_key, WG_KEY_LEN);
}

void
wg_peer_set_endpoint(struct wg_peer *peer, const struct sockaddr *sa,
    socklen_t len)
{
	if (sa == NULL)
		return;
	if (sa->sa_family == AF_INET && len >= sizeof(peer->endpoint.in4))
		len = sizeof(peer->endpoint.in4);
	else if (sa->sa_family == AF_INET6 && len >= sizeof(peer->endpoint.in6))
		len = sizeof(peer->endpoint.in6);
	else
		return;
	memset(&peer->endpoint, 0, sizeof(peer->endpoint));
	memcpy(&peer->endpoint, sa, len);
	peer->endpoint_len = len;
}

void
wg_peer_clear_keys(struct wg_peer *peer)
{
	wg_handshake_clear(peer->dev, peer);
	wg_keypairs_clear(peer->dev, &peer->keypairs);
}

/* ---- Device ------------------------------------------------------------- */

static int
set_identity(struct wg_device *dev, const uint8_t private_key[WG_KEY_LEN])
{
	uint8_t pub[WG_KEY_LEN];

	if (crypto_scalarmult_base(pub, private_key) != 0)
		return -EINVAL;
	memcpy(dev->static_private, private_key, WG_KEY_LEN);
	memcpy(dev->static_public, pub, WG_KEY_LEN);
	wg_cookie_checker_init(&dev->cookie_checker, pub);
	dev->has_identity = true;
	return 0;
}

int
wg_device_init(struct wg_device *dev, const uint8_t private_key[WG_KEY_LEN])
{
	if (sodium_init() < 0)
		return -EIO;
	memset(dev, 0, sizeof(*dev));
	randombytes_buf(dev->table_key, sizeof(dev->table_key));
	return private_key != NULL ? set_identity(dev, private_key) : 0;
}

/* Old sessions were keyed by the old identity: drop them all. */
int
wg_device_set_private_key(struct wg_device *dev,
    const uint8_t private_key[WG_KEY_LEN])
{
	uint8_t pub[WG_KEY_LEN];
	struct wg_peer *p;
	size_t b;
	int r;

	if (crypto_scalarmult_base(pub, private_key) != 0)
		return -EINVAL;
	if (wg_peer_lookup(dev, pub) != NULL)
		return -EEXIST;
	if ((r = set_identity(dev, private_key)) < 0)
		return r;
	for (b = 0; b < WG_PEER_BUCKETS; b++) {
		for (p = dev->peer_table[b]; p != NULL; p = p->hash_next) {
			precompute_static_static(p);
			wg_peer_clear_keys(p);
		}
	}
	return 0;
}

void
wg_device_destroy(struct wg_device *dev)
{
	size_t b;

	for (b = 0; b < WG_PEER_BUCKETS; b++)
		while (dev->peer_table[b] != NULL)
			wg_peer_remove(dev->peer_table[b]);
	wg_timerq_free(&dev->timerq);
	sodium_memzero(dev, sizeof(*dev));
}

/* ---- Receive ------------------------------------------------------------ */

/*
 * MAC1 first (cheap, proves the sender knows our public key), then, under
 * load, MAC2.  1: go on; 0: answered with a cookie reply; < 0: drop.
 */
static int
admit(struct wg_device *dev, const uint8_t *buf, size_t len,
    uint32_t sender_index_le, const struct sockaddr *src, socklen_t srclen,
    bool under_load, uint64_t now_ns, uint8_t *reply, struct wg_rx *rx)
{
	struct wg_msg_cookie cookie;
	enum wg_mac_state state;
	int r;

	state = wg_cookie_validate(&dev->cookie_checker, buf, len, src, srclen,
	    under_load, now_ns);
	switch (wg_cookie_admit(state, under_load)) {
	case WG_ADMIT_PROCESS:
		return 1;
	case WG_ADMIT_SEND_COOKIE:
		r = wg_cookie_create_reply(&dev->cookie_checker, &cookie, buf,
		    len, le32toh(sender_index_le), src, srclen, now_ns);
		if (r < 0)
			return r;
		memcpy(reply, &cookie, sizeof(cookie));
		rx->reply_len = sizeof(cookie);
		rx->events |= WG_RX_REPLY;
		return 0;
	case WG_ADMIT_DROP:
	default:
		return -EBADMSG;
	}
}

/* After any authenticated handshake message. */
static void
handshake_received(struct wg_peer *peer, size_t len, uint64_t now_ns)
{
	peer->rx_bytes += len;
	wg_timers_any_authenticated_packet_received(peer);
	wg_timers_any_authenticated_packet_traversal(peer, now_ns);
}

/* Response, session (as next), then the hooks for what we send. */
static int
respond(struct wg_peer *peer, uint64_t now_ns, uint8_t *reply,
    struct wg_rx *rx)
{
	struct wg_msg_response msg;
	int r;

	if ((r = wg_create_response(peer->dev, peer, &msg, now_ns, NULL)) < 0 ||
	    (r = wg_begin_session(peer->dev, peer, now_ns)) < 0)
		return r;
	wg_timers_session_derived(peer, now_ns);
	wg_timers_any_authenticated_packet_traversal(peer, now_ns);
	wg_timers_any_authenticated_packet_sent(peer);
	wg_timers_handshake_response_sent(peer, now_ns);
	memcpy(reply, &msg, sizeof(msg));
	rx->reply_len = sizeof(msg);
	rx->events |= WG_RX_REPLY;
	peer->tx_bytes += sizeof(msg);
	return 0;
}

static int
receive_initiation(struct wg_device *dev, const uint8_t *buf, size_t len,
    const struct sockaddr *src, socklen_t srclen, bool under_load,
    uint64_t now_ns, uint8_t *reply, struct wg_rx *rx)
{
	struct wg_msg_initiation msg;
	struct wg_peer *peer;
	int r;

	memcpy(&msg, buf, sizeof(msg));
	r = admit(dev, buf, len, msg.sender_index, src, srclen, under_load,
	    now_ns, reply, rx);
	if (r <= 0)
		return r;
	if ((r = wg_consume_initiation(dev, &msg, now_ns, &peer)) < 0)
		return r;
	rx->peer = peer;
	wg_peer_set_endpoint(peer, src, srclen);
	if ((r = respond(peer, now_ns, reply, rx)) < 0)
		return r;
	handshake_received(peer, len, now_ns);
	return 0;
}

static int
receive_response(struct wg_device *dev, const uint8_t *buf, size_t len,
    const struct sockaddr *src, socklen_t srclen, bool under_load,
    uint64_t now_ns, uint64_t now_real_ns, uint8_t *reply, struct wg_rx *rx)
{
	struct wg_msg_response msg;
	struct wg_peer *peer;
	int r;

	memcpy(&msg, buf, sizeof(msg));
	r = admit(dev, buf, len, msg.sender_index, src, srclen, under_load,
	    now_ns, reply, rx);
	if (r <= 0)
		return r;
	if ((r = wg_consume_response(dev, &msg, &peer)) < 0)
		return r;
	rx->peer = peer;
	wg_peer_set_endpoint(peer, src, srclen);
	if ((r = wg_begin_session(dev, peer, now_ns)) < 0)
		return r;
	wg_timers_session_derived(peer, now_ns);
	wg_timers_handshake_complete(peer, now_real_ns);
	/* Staged packets confirm the session; if none, a keepalive does. */
	rx->events |= WG_RX_SEND_STAGED | WG_RX_KEEPALIVE_IF_IDLE;
	handshake_received(peer, len, now_ns);
	return 0;
}

/* The reply may answer our initiation or, if a session began, our response. */
static int
receive_cookie(struct wg_device *dev, const uint8_t *buf, uint64_t now_ns,
    struct wg_rx *rx)
{
	struct wg_msg_cookie msg;
	struct wg_index_entry *entry;
	int r;

	memcpy(&msg, buf, sizeof(msg));
	entry = wg_index_lookup(dev, le32toh(msg.receiver_index),
	    WG_INDEX_HANDSHAKE | WG_INDEX_KEYPAIR);
	if (entry == NULL)
		return -ENOENT;
	if ((r = wg_cookie_consume_reply(&entry->peer->cookie,
	    entry->peer->public_key, &msg, now_ns)) < 0)
		return r;
	rx->peer = entry->peer;
	rx->events |= WG_RX_COOKIE;
	return 0;
}

int
wg_device_receive(struct wg_device *dev, uint8_t *buf, size_t len,
    const struct sockaddr *src, socklen_t srclen, bool under_load,
    uint64_t now_ns, uint64_t now_real_ns, uint8_t reply[WG_REPLY_MAX],
    struct wg_rx *rx)
{
	memset(rx, 0, sizeof(*rx));
	switch (wg_message_type(buf, len)) {
	case WG_MSG_HANDSHAKE_INITIATION:
		return receive_initiation(dev, buf, len, src, srclen, under_load,
		    now_ns, reply, rx);
	case WG_MSG_HANDSHAKE_RESPONSE:
		return receive_response(dev, buf, len, src, srclen, under_load,
		    now_ns, now_real_ns, reply, rx);
	case WG_MSG_COOKIE_REPLY:
		return receive_cookie(dev, buf, now_ns, rx);
	case WG_MSG_DATA:
		return wg_receive_data(dev, buf, len, src, srclen, now_ns,
		    now_real_ns, rx);
	case WG_MSG_INVALID:
		return -EINVAL;
	default:
		assert(!"wg_message_type() returned an unknown type");
		return -EINVAL;
	}
}

/* ---- Send --------------------------------------------------------------- */

int
wg_send_initiation(struct wg_peer *peer, struct wg_msg_initiation *msg,
    uint64_t now_ns, uint64_t now_real_ns)
{
	int r;

	peer->timers.want_handshake = false;
	if (!wg_timers_may_send_initiation(peer, now_ns))
		return -EAGAIN;
	r = wg_create_initiation(peer->dev, peer, msg, now_ns, now_real_ns, NULL);
	if (r < 0)
		return r;
	wg_timers_any_authenticated_packet_traversal(peer, now_ns);
	wg_timers_any_authenticated_packet_sent(peer);
	wg_timers_handshake_initiated(peer, now_ns);
	peer->tx_bytes += sizeof(*msg);
	return 0;
}
