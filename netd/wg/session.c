/*
 * Keypair rotation, the replay window, and the data path.
 *
 * Send:    current keypair -> nonce = send_counter++ -> pad -> seal in place
 * Receive: receiver index -> keypair -> open in place -> replay window ->
 *          key confirmation (next -> current) -> timers -> endpoint
 *
 * The replay check runs after authentication, so forged packets cannot move
 * the window.
 */
#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "peer.h"
#include "session.h"

/* ---- Keypairs ----------------------------------------------------------- */

int
wg_keypair_create(struct wg_keypair **kpp, const uint8_t send_key[WG_KEY_LEN],
    const uint8_t recv_key[WG_KEY_LEN], bool initiator, uint32_t remote_index,
    uint64_t now_ns)
{
	struct wg_keypair *kp;
	int r;

	if ((kp = calloc(1, sizeof(*kp))) == NULL)
		return -ENOMEM;
	if ((r = aead_key_init(&kp->send, send_key)) < 0 ||
	    (r = aead_key_init(&kp->recv, recv_key)) < 0) {
		wg_keypair_destroy(NULL, kp);
		return r;
	}
	kp->initiator = initiator;
	kp->remote_index = remote_index;
	kp->birthdate = now_ns;
	kp->send_valid = kp->recv_valid = true;
	*kpp = kp;
	return 0;
}

void
wg_keypair_destroy(struct wg_device *dev, struct wg_keypair *kp)
{
	if (kp == NULL)
		return;
	if (dev != NULL)
		wg_index_remove(dev, &kp->entry);
	aead_key_wipe(&kp->send);
	aead_key_wipe(&kp->recv);
	sodium_memzero(kp, sizeof(*kp));
	free(kp);
}

/*
 * The initiator has key confirmation (it consumed the response), so the new
 * keypair is current at once; an unconfirmed next one is demoted to
 * previous rather than dropped, in case the peer used it.  The responder
 * must wait for the initiator's first data packet, so its keypair goes to
 * next, and previous (the one before current) goes away.
 */
void
wg_keypairs_add(struct wg_device *dev, struct wg_keypairs *kps,
    struct wg_keypair *kp)
{
	if (kp->initiator) {
		if (kps->next != NULL) {
			wg_keypair_destroy(dev, kps->previous);
			kps->previous = kps->next;
			kps->next = NULL;
			wg_keypair_destroy(dev, kps->current);
		} else {
			wg_keypair_destroy(dev, kps->previous);
			kps->previous = kps->current;
		}
		kps->current = kp;
	} else {
		wg_keypair_destroy(dev, kps->next);
		kps->next = kp;
		wg_keypair_destroy(dev, kps->previous);
		kps->previous = NULL;
	}
}

bool
wg_keypairs_received_with(struct wg_device *dev, struct wg_keypairs *kps,
    struct wg_keypair *kp)
{
	if (kp == NULL || kps->next != kp)
		return false;
	wg_keypair_destroy(dev, kps->previous);
	kps->previous = kps->current;
	kps->current = kp;
	kps->next = NULL;
	return true;
}

void
wg_keypairs_clear(struct wg_device *dev, struct wg_keypairs *kps)
{
	wg_keypair_destroy(dev, kps->current);
	wg_keypair_destroy(dev, kps->previous);
	wg_keypair_destroy(dev, kps->next);
	kps->current = kps->previous = kps->next = NULL;
}

/* ---- Replay window ------------------------------------------------------ */

/*
 * RFC 6479: a ring of 64-bit words.  Moving the top forward clears the words
 * it passes (all of them after a big jump); one word of slack keeps the
 * oldest acceptable counter from sharing a word with the newest.  The ring
 * is indexed by counter + 1 so that 0 can mean "nothing received yet".
 */
bool
wg_replay_check(struct wg_replay *rp, uint64_t counter)
{
	uint64_t n, word, top_word, i, span;
	uint64_t bit;

	if (rp->counter >= WG_REJECT_AFTER_MESSAGES + 1 ||
	    counter >= WG_REJECT_AFTER_MESSAGES)
		return false;
	n = counter + 1;
	if (n + WG_REPLAY_WINDOW < rp->counter)
		return false;	/* too old */
	word = n >> 6;
	if (n > rp->counter) {
		top_word = rp->counter >> 6;
		span = word - top_word;
		if (span > WG_REPLAY_WORDS)
			span = WG_REPLAY_WORDS;
		for (i = 1; i <= span; i++)
			rp->bitmap[(top_word + i) % WG_REPLAY_WORDS] = 0;
		rp->counter = n;
	}
	word %= WG_REPLAY_WORDS;
	bit = UINT64_C(1) << (n & 63);
	if (rp->bitmap[word] & bit)
		return false;	/* seen */
	rp->bitmap[word] |= bit;
	return true;
}

/* ---- Packets ------------------------------------------------------------ */

/* wireguard-go calculatePaddingSize(): an MTU-sized packet is not padded. */
size_t
wg_padded_len(size_t plen, size_t mtu)
{
	size_t last = plen, padded;
	const size_t m = WG_MESSAGE_PADDING_MULTIPLE;

	if (mtu == 0)
		return (plen + m - 1) / m * m;
	if (last > mtu)
		last %= mtu;
	padded = (last + m - 1) / m * m;
	if (padded > mtu)
		padded = mtu;
	return plen + (padded - last);
}

static void
store_le64(uint8_t *p, uint64_t v)
{
	v = htole64(v);
	memcpy(p, &v, sizeof(v));
}

static uint64_t
load_le64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return le64toh(v);
}

static void
write_data_header(uint8_t *pkt, uint32_t receiver_index, uint64_t counter)
{
	uint32_t idx = htole32(receiver_index);

	pkt[0] = WG_MSG_DATA;
	pkt[1] = pkt[2] = pkt[3] = 0;
	memcpy(pkt + 4, &idx, sizeof(idx));
	store_le64(pkt + 8, counter);
}

int
wg_keypair_encrypt(struct wg_keypair *kp, uint8_t *pkt, size_t cap,
    size_t plen, size_t mtu, size_t *outlen)
{
	uint8_t nonce[AEAD_NONCE_SIZE];
	uint8_t *body = pkt + WG_MSG_DATA_HEADER_LEN;
	size_t padded = wg_padded_len(plen, mtu);
	uint64_t counter;
	int r;

	if (plen > AEAD_MAX_LEN || cap < WG_MSG_DATA_MIN_LEN ||
	    padded > cap - WG_MSG_DATA_MIN_LEN)
		return -EMSGSIZE;
	if (!kp->send_valid)
		return -EKEYEXPIRED;
	if (kp->send_counter >= WG_REJECT_AFTER_MESSAGES) {
		kp->send_valid = false;
		return -EKEYEXPIRED;
	}
	counter = kp->send_counter++;
	write_data_header(pkt, kp->remote_index, counter);
	memset(body + plen, 0, padded - plen);
	aead_nonce_wg(nonce, counter);
	if ((r = aead_seal(&kp->send, nonce, NULL, 0, body, padded, body)) < 0)
		return r;
	*outlen = WG_MSG_DATA_HEADER_LEN + padded + WG_TAG_LEN;
	return 0;
}

int
wg_keypair_decrypt(struct wg_keypair *kp, uint8_t *pkt, size_t len,
    size_t *plainlen)
{
	uint8_t nonce[AEAD_NONCE_SIZE];
	uint8_t *body = pkt + WG_MSG_DATA_HEADER_LEN;
	uint64_t counter;
	int r;

	if (len < WG_MSG_DATA_MIN_LEN)
		return -EINVAL;
	if (!kp->recv_valid || kp->replay.counter >= WG_REJECT_AFTER_MESSAGES) {
		kp->recv_valid = false;
		return -EKEYEXPIRED;
	}
	counter = load_le64(pkt + 8);
	aead_nonce_wg(nonce, counter);
	r = aead_open(&kp->recv, nonce, NULL, 0, body,
	    len - WG_MSG_DATA_HEADER_LEN, body);
	if (r < 0)
		return r;
	if (!wg_replay_check(&kp->replay, counter))
		return -ESTALE;
	*plainlen = len - WG_MSG_DATA_MIN_LEN;
	return 0;
}

/*
 * The sender padded the IP packet; its own header says how long it is.  A
 * header claiming more than arrived is a lie, as is anything not IP.
 */
int
wg_inner_packet_len(const uint8_t *plain, size_t plen, size_t *iplen)
{
	size_t n;

	if (plen < 1)
		return -EPROTO;
	switch (plain[0] >> 4) {
	case 4:
		if (plen < 20)
			return -EPROTO;
		n = (size_t)plain[2] << 8 | plain[3];
		if (n < 20)
			return -EPROTO;
		break;
	case 6:
		if (plen < 40)
			return -EPROTO;
		n = ((size_t)plain[4] << 8 | plain[5]) + 40;
		break;
	default:
		return -EPROTO;
	}
	if (n > plen)
		return -EMSGSIZE;
	*iplen = n;
	return 0;
}

/* ---- Peer data path ----------------------------------------------------- */

/* The keypair to send with, or NULL after marking a spent one invalid. */
static struct wg_keypair *
sending_keypair(struct wg_peer *peer, uint64_t now_ns)
{
	struct wg_keypair *kp = peer->keypairs.current;

	if (kp == NULL || !kp->send_valid)
		return NULL;
	if (wg_timers_keypair_expired(kp, now_ns) ||
	    kp->send_counter >= WG_REJECT_AFTER_MESSAGES) {
		kp->send_valid = false;
		return NULL;
	}
	return kp;
}

int
wg_send_data(struct wg_peer *peer, uint8_t *pkt, size_t cap, size_t plen,
    size_t mtu, uint64_t now_ns, size_t *outlen)
{
	struct wg_keypair *kp;
	int r;

	if ((kp = sending_keypair(peer, now_ns)) == NULL) {
		wg_timers_want_handshake(peer, false);
		return -ENOKEY;
	}
	if ((r = wg_keypair_encrypt(kp, pkt, cap, plen, mtu, outlen)) < 0) {
		if (r == -EKEYEXPIRED) {
			wg_timers_want_handshake(peer, false);
			r = -ENOKEY;
		}
		return r;
	}
	wg_timers_any_authenticated_packet_traversal(peer, now_ns);
	wg_timers_any_authenticated_packet_sent(peer);
	if (plen > 0)
		wg_timers_data_sent(peer, now_ns);
	wg_timers_keep_key_fresh_sent(peer, now_ns);
	peer->tx_bytes += *outlen;
	return 0;
}

/* The keypair a data message names, if it may still receive. */
static struct wg_keypair *
receiving_keypair(struct wg_device *dev, const uint8_t *pkt, uint64_t now_ns)
{
	struct wg_index_entry *entry;
	struct wg_keypair *kp;
	uint32_t idx;

	memcpy(&idx, pkt + 4, sizeof(idx));
	entry = wg_index_lookup(dev, le32toh(idx), WG_INDEX_KEYPAIR);
	if (entry == NULL)
		return NULL;
	kp = (struct wg_keypair *)((uint8_t *)entry -
	    offsetof(struct wg_keypair, entry));
	if (kp->recv_valid && wg_timers_keypair_expired(kp, now_ns))
		kp->recv_valid = false;
	return kp;
}

/* After authentication: what the kernel's wg_packet_consume_data_done does. */
static void
data_authenticated(struct wg_peer *peer, struct wg_keypair *kp, size_t len,
    const struct sockaddr *src, socklen_t srclen, uint64_t now_ns,
    uint64_t now_real_ns, struct wg_rx *rx)
{
	wg_peer_set_endpoint(peer, src, srclen);
	if (wg_keypairs_received_with(peer->dev, &peer->keypairs, kp)) {
		wg_timers_handshake_complete(peer, now_real_ns);
		rx->events |= WG_RX_SEND_STAGED;
	}
	wg_timers_keep_key_fresh_received(peer, now_ns);
	wg_timers_any_authenticated_packet_received(peer);
	wg_timers_any_authenticated_packet_traversal(peer, now_ns);
	peer->rx_bytes += len;
}

int
wg_receive_data(struct wg_device *dev, uint8_t *pkt, size_t len,
    const struct sockaddr *src, socklen_t srclen, uint64_t now_ns,
    uint64_t now_real_ns, struct wg_rx *rx)
{
	struct wg_keypair *kp;
	struct wg_peer *peer;
	size_t plen, iplen;
	int r;

	if ((kp = receiving_keypair(dev, pkt, now_ns)) == NULL)
		return -ENOENT;
	if ((r = wg_keypair_decrypt(kp, pkt, len, &plen)) < 0)
		return r;
	peer = kp->entry.peer;
	rx->peer = peer;
	data_authenticated(peer, kp, len, src, srclen, now_ns, now_real_ns, rx);
	if (plen == 0) {
		rx->events |= WG_RX_KEEPALIVE;
		return 0;
	}
	wg_timers_data_received(peer, now_ns);
	/* Authenticated, so rx stands (key confirmation above counts). */
	if (wg_inner_packet_len(pkt + WG_MSG_DATA_HEADER_LEN, plen, &iplen) < 0) {
		rx->events |= WG_RX_BAD_INNER;
		return 0;
	}
	rx->plain = pkt + WG_MSG_DATA_HEADER_LEN;
	rx->plain_len = iplen;
	rx->events |= WG_RX_DATA;
	return 0;
}
