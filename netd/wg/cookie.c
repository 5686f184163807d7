/*
 * MAC1/MAC2 and cookie replies; see cookie.h for the formulas.
 */
#include <endian.h>
#include <errno.h>
#include <string.h>
#include <netinet/in.h>

#include <sodium.h>

#include "aead.h"
#include "blake2s.h"
#include "cookie.h"
#include "timers.h"

/* The source address bytes a cookie binds: IPv4 (4) or IPv6 (16), port. */
#define SOURCE_MAX	(16 + 2)

/* HASH(label || public key), label being "mac1----" or "cookie--". */
static void
derive_key(uint8_t out[WG_HASH_LEN], const char *label,
    const uint8_t public_key[WG_KEY_LEN])
{
	struct blake2s_state st;

	blake2s_init(&st, WG_HASH_LEN, NULL, 0);
	blake2s_update(&st, (const uint8_t *)label, strlen(label));
	blake2s_update(&st, public_key, WG_KEY_LEN);
	blake2s_final(&st, out);
}

void
wg_cookie_checker_init(struct wg_cookie_checker *c,
    const uint8_t public_key[WG_KEY_LEN])
{
	sodium_memzero(c, sizeof(*c));
	derive_key(c->mac1_key, WG_LABEL_MAC1, public_key);
	derive_key(c->cookie_key, WG_LABEL_COOKIE, public_key);
}

void
wg_cookie_init(struct wg_cookie *ck)
{
	sodium_memzero(ck, sizeof(*ck));
}

void
wg_cookie_checker_wipe(struct wg_cookie_checker *c)
{
	sodium_memzero(c, sizeof(*c));
}

void
wg_cookie_wipe(struct wg_cookie *ck)
{
	sodium_memzero(ck, sizeof(*ck));
}

static bool
is_handshake_len(size_t len)
{
	return len == WG_MSG_INITIATION_LEN || len == WG_MSG_RESPONSE_LEN;
}

/* MACs sit at the end: mac1 covers what precedes it, mac2 adds mac1. */
static const uint8_t *
mac1_of(const uint8_t *msg, size_t len)
{
	return msg + len - sizeof(struct wg_msg_macs);
}

static void
compute_mac1(uint8_t out[WG_COOKIE_LEN], const uint8_t *msg, size_t len,
    const uint8_t key[WG_HASH_LEN])
{
	blake2s(out, WG_COOKIE_LEN, msg, len - sizeof(struct wg_msg_macs),
	    key, WG_HASH_LEN);
}

static void
compute_mac2(uint8_t out[WG_COOKIE_LEN], const uint8_t *msg, size_t len,
    const uint8_t cookie[WG_COOKIE_LEN])
{
	blake2s(out, WG_COOKIE_LEN, msg, len - WG_COOKIE_LEN,
	    cookie, WG_COOKIE_LEN);
}

/* Address then port, both as they are on the wire (network order). */
static int
source_bytes(uint8_t out[SOURCE_MAX], size_t *n, const struct sockaddr *src,
    socklen_t srclen)
{
	const struct sockaddr_in *sin = (const struct sockaddr_in *)src;
	const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)src;

	if (src == NULL)
		return -EAFNOSUPPORT;
	if (src->sa_family == AF_INET && srclen >= sizeof(*sin)) {
		memcpy(out, &sin->sin_addr, 4);
		memcpy(out + 4, &sin->sin_port, 2);
		*n = 4 + 2;
		return 0;
	}
	if (src->sa_family == AF_INET6 && srclen >= sizeof(*sin6)) {
		memcpy(out, &sin6->sin6_addr, 16);
		memcpy(out + 16, &sin6->sin6_port, 2);
		*n = 16 + 2;
		return 0;
	}
	return -EAFNOSUPPORT;
}

/* cookie = MAC(Rm, source), renewing Rm once it is too old. */
static int
make_cookie(struct wg_cookie_checker *c, uint8_t cookie[WG_COOKIE_LEN],
    const struct sockaddr *src, socklen_t srclen, uint64_t now_ns)
{
	uint8_t source[SOURCE_MAX];
	size_t n;
	int r;

	if ((r = source_bytes(source, &n, src, srclen)) < 0)
		return r;
	if (wg_timers_cookie_secret_expired(c, now_ns)) {
		randombytes_buf(c->secret, sizeof(c->secret));
		c->secret_birthdate = now_ns;
		c->secret_set = true;
	}
	blake2s(cookie, WG_COOKIE_LEN, source, n, c->secret, sizeof(c->secret));
	return 0;
}

enum wg_mac_state
wg_cookie_validate(struct wg_cookie_checker *c, const uint8_t *msg, size_t len,
    const struct sockaddr *src, socklen_t srclen, bool check_cookie,
    uint64_t now_ns)
{
	uint8_t computed[WG_COOKIE_LEN], cookie[WG_COOKIE_LEN];
	enum wg_mac_state state = WG_MAC_INVALID;

	if (!is_handshake_len(len))
		return WG_MAC_INVALID;
	compute_mac1(computed, msg, len, c->mac1_key);
	if (sodium_memcmp(computed, mac1_of(msg, len), WG_COOKIE_LEN) != 0)
		goto out;
	state = WG_MAC_VALID_BUT_NO_COOKIE;
	if (!check_cookie || make_cookie(c, cookie, src, srclen, now_ns) < 0)
		goto out;
	compute_mac2(computed, msg, len, cookie);
	if (sodium_memcmp(computed, mac1_of(msg, len) + WG_COOKIE_LEN,
	    WG_COOKIE_LEN) == 0)
		state = WG_MAC_VALID_WITH_COOKIE;
out:
	sodium_memzero(cookie, sizeof(cookie));
	return state;
}

/* wireguard-linux receive.c: under load, only a valid MAC2 gets through. */
enum wg_admit
wg_cookie_admit(enum wg_mac_state state, bool under_load)
{
	switch (state) {
	case WG_MAC_VALID_WITH_COOKIE:
		return WG_ADMIT_PROCESS;
	case WG_MAC_VALID_BUT_NO_COOKIE:
		return under_load ? WG_ADMIT_SEND_COOKIE : WG_ADMIT_PROCESS;
	case WG_MAC_INVALID:
	default:
		return WG_ADMIT_DROP;
	}
}

void
wg_cookie_add_macs(struct wg_cookie *ck, const uint8_t peer_public[WG_KEY_LEN],
    uint8_t *msg, size_t len, uint64_t now_ns)
{
	uint8_t *mac1 = msg + len - sizeof(struct wg_msg_macs);
	uint8_t *mac2 = mac1 + WG_COOKIE_LEN;
	uint8_t key[WG_HASH_LEN];

	derive_key(key, WG_LABEL_MAC1, peer_public);
	compute_mac1(mac1, msg, len, key);
	/* A cookie reply must carry this as AD to be accepted. */
	memcpy(ck->last_mac1_sent, mac1, WG_COOKIE_LEN);
	ck->have_sent_mac1 = true;
	if (ck->have_cookie && !wg_timers_cookie_expired(ck, now_ns))
		compute_mac2(mac2, msg, len, ck->cookie);
	else
		memset(mac2, 0, WG_COOKIE_LEN);
}

int
wg_cookie_create_reply(struct wg_cookie_checker *c, struct wg_msg_cookie *out,
    const uint8_t *msg, size_t len, uint32_t sender_index,
    const struct sockaddr *src, socklen_t srclen, uint64_t now_ns)
{
	uint8_t cookie[WG_COOKIE_LEN];
	int r;

	if (!is_handshake_len(len))
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	out->header.type = WG_MSG_COOKIE_REPLY;
	out->receiver_index = htole32(sender_index);
	randombytes_buf(out->nonce, sizeof(out->nonce));
	if ((r = make_cookie(c, cookie, src, srclen, now_ns)) < 0)
		goto out;
	r = xaead_seal(c->cookie_key, out->nonce, mac1_of(msg, len),
	    WG_COOKIE_LEN, cookie, sizeof(cookie), out->encrypted_cookie);
out:
	sodium_memzero(cookie, sizeof(cookie));
	return r;
}

int
wg_cookie_consume_reply(struct wg_cookie *ck,
    const uint8_t peer_public[WG_KEY_LEN], const struct wg_msg_cookie *msg,
    uint64_t now_ns)
{
	uint8_t cookie[WG_COOKIE_LEN], key[WG_HASH_LEN];
	int r;

	/* Only a reply to a message we sent can be authentic. */
	if (!ck->have_sent_mac1)
		return -EINVAL;
	derive_key(key, WG_LABEL_COOKIE, peer_public);
	r = xaead_open(key, msg->nonce, ck->last_mac1_sent,
	    WG_COOKIE_LEN, msg->encrypted_cookie, sizeof(msg->encrypted_cookie),
	    cookie);
	if (r == 0) {
		memcpy(ck->cookie, cookie, sizeof(cookie));
		ck->birthdate = now_ns;
		ck->have_cookie = true;
		ck->have_sent_mac1 = false;
	}
	sodium_memzero(cookie, sizeof(cookie));
	return r;
}
