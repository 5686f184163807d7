/*
 * The WireGuard protocol core (netd/wg), driven in memory.
 *
 * Two devices, A and B, each with the other as its only peer, exchange
 * datagrams through wg_device_receive() the way netd's I/O layer will; time
 * is simulated (monotonic nanoseconds from T0, realtime = 2023-11-14 + that).
 *
 * Where the known answers come from:
 *  - initial chaining key and hash: the values every WireGuard
 *    implementation hard-codes (wireguard-go noise-protocol.go's InitialChainKey
 *    and InitialHash, 60e26dae... and 2211b361...);
 *  - KAT_*: tests/unit/wg_ref.py, an independent Python implementation written
 *    from the paper with hashlib and pyca/cryptography; run it to regenerate.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "aead.h"
#include "blake2s.h"
#include "peer.h"

#define NS		UINT64_C(1000000000)
#define MS		UINT64_C(1000000)
#define T0		(UINT64_C(1000) * NS)
#define REAL(mono)	(UINT64_C(1700000000) * NS + (mono))
#define BUF_SIZE	2048

/* ---- Helpers ------------------------------------------------------------- */

static void
unhex(uint8_t *out, const char *hex, size_t n)
{
	size_t i;
	unsigned v;

	assert_int_equal(strlen(hex), 2 * n);
	for (i = 0; i < n; i++) {
		assert_int_equal(sscanf(hex + 2 * i, "%2x", &v), 1);
		out[i] = (uint8_t)v;
	}
}

static void
assert_hex(const uint8_t *got, size_t n, const char *hex)
{
	uint8_t want[256];

	assert_true(n <= sizeof(want));
	unhex(want, hex, n);
	assert_memory_equal(got, want, n);
}

struct node {
	struct wg_device	*dev;
	struct wg_peer		*peer;		/* the other node */
	struct sockaddr_in	 addr;
	uint8_t			 priv[WG_KEY_LEN];
	uint8_t			 pub[WG_KEY_LEN];
};

struct pair {
	struct node		 a, b;
};

static void
node_init(struct node *n, const uint8_t *priv, uint16_t port)
{
	if (priv != NULL)
		memcpy(n->priv, priv, WG_KEY_LEN);
	else
		randombytes_buf(n->priv, WG_KEY_LEN);
	assert_int_equal(crypto_scalarmult_base(n->pub, n->priv), 0);
	assert_non_null(n->dev = calloc(1, sizeof(*n->dev)));
	assert_int_equal(wg_device_init(n->dev, n->priv), 0);
	n->addr.sin_family = AF_INET;
	n->addr.sin_port = htons(port);
	n->addr.sin_addr.s_addr = htonl(0xc0000200 | (port & 0xff));
}

static void
pair_link(struct pair *p, const uint8_t *psk)
{
	assert_int_equal(wg_peer_add(p->a.dev, p->b.pub, psk, &p->a.peer), 0);
	assert_int_equal(wg_peer_add(p->b.dev, p->a.pub, psk, &p->b.peer), 0);
}

static struct pair *
pair_new(const uint8_t *psk)
{
	struct pair *p = calloc(1, sizeof(*p));

	assert_non_null(p);
	node_init(&p->a, NULL, 51820);
	node_init(&p->b, NULL, 51821);
	pair_link(p, psk);
	return p;
}

static int
setup(void **state)
{
	assert_int_equal(aead_global_init(), 0);
	*state = pair_new(NULL);
	return 0;
}

static int
setup_psk(void **state)
{
	uint8_t psk[WG_KEY_LEN];

	assert_int_equal(aead_global_init(), 0);
	randombytes_buf(psk, sizeof(psk));
	*state = pair_new(psk);
	return 0;
}

static int
teardown(void **state)
{
	struct pair *p = *state;

	wg_device_destroy(p->a.dev);
	wg_device_destroy(p->b.dev);
	free(p->a.dev);
	free(p->b.dev);
	free(p);
	return 0;
}

static int
deliver(struct node *from, struct node *to, uint8_t *buf, size_t len,
    bool under_load, uint64_t now, uint8_t *reply, struct wg_rx *rx)
{
	return wg_device_receive(to->dev, buf, len,
	    (const struct sockaddr *)&from->addr, sizeof(from->addr), under_load,
	    now, REAL(now), reply, rx);
}

/* A minimal IPv4 header claiming len bytes, then fill. */
static void
make_ip(uint8_t *p, size_t len, uint8_t fill)
{
	memset(p, fill, len);
	p[0] = 0x45;
	p[2] = (uint8_t)(len >> 8);
	p[3] = (uint8_t)len;
}

static size_t
seal_ip(struct node *from, uint8_t *buf, size_t iplen, uint8_t fill,
    uint64_t now)
{
	size_t out;

	make_ip(buf + WG_MSG_DATA_HEADER_LEN, iplen, fill);
	assert_int_equal(wg_send_data(from->peer, buf, BUF_SIZE, iplen, 1420,
	    now, &out), 0);
	return out;
}

/* from sends iplen bytes to to, which must accept them. */
static void
send_ip(struct node *from, struct node *to, size_t iplen, uint8_t fill,
    uint64_t now, struct wg_rx *rx)
{
	uint8_t buf[BUF_SIZE], reply[WG_REPLY_MAX], want[BUF_SIZE];
	size_t len = seal_ip(from, buf, iplen, fill, now);

	assert_int_equal(len, WG_MSG_DATA_MIN_LEN + wg_padded_len(iplen, 1420));
	assert_int_equal(deliver(from, to, buf, len, false, now, reply, rx), 0);
	assert_ptr_equal(rx->peer, to->peer);
	assert_true(rx->events & WG_RX_DATA);
	assert_int_equal(rx->plain_len, iplen);
	make_ip(want, iplen, fill);
	assert_memory_equal(rx->plain, want, iplen);
}

static void
send_keepalive(struct node *from, struct node *to, uint64_t now,
    struct wg_rx *rx)
{
	uint8_t buf[BUF_SIZE], reply[WG_REPLY_MAX];
	size_t len;

	assert_int_equal(wg_send_data(from->peer, buf, sizeof(buf), 0, 1420, now,
	    &len), 0);
	assert_int_equal(len, WG_MSG_DATA_MIN_LEN);
	assert_int_equal(deliver(from, to, buf, len, false, now, reply, rx), 0);
	assert_true(rx->events & WG_RX_KEEPALIVE);
}

/* Initiation and response; the initiator now has a current keypair. */
static void
handshake(struct node *init, struct node *resp, uint64_t now)
{
	struct wg_msg_initiation msg;
	uint8_t reply[WG_REPLY_MAX], reply2[WG_REPLY_MAX];
	struct wg_rx rx, rx2;

	assert_int_equal(wg_send_initiation(init->peer, &msg, now, REAL(now)), 0);
	assert_int_equal(deliver(init, resp, (uint8_t *)&msg, sizeof(msg), false,
	    now, reply, &rx), 0);
	assert_int_equal(rx.events, WG_RX_REPLY);
	assert_int_equal(rx.reply_len, WG_MSG_RESPONSE_LEN);
	assert_ptr_equal(rx.peer, resp->peer);
	assert_non_null(resp->peer->keypairs.next);
	assert_int_equal(deliver(resp, init, reply, rx.reply_len, false, now,
	    reply2, &rx2), 0);
	assert_int_equal(rx2.events, WG_RX_SEND_STAGED | WG_RX_KEEPALIVE_IF_IDLE);
	assert_ptr_equal(rx2.peer, init->peer);
	assert_non_null(init->peer->keypairs.current);
}

/* Handshake plus the initiator's confirming keepalive. */
static void
connect_nodes(struct node *init, struct node *resp, uint64_t now)
{
	struct wg_rx rx;

	handshake(init, resp, now);
	send_keepalive(init, resp, now, &rx);
	assert_true(rx.events & WG_RX_SEND_STAGED);
	assert_null(resp->peer->keypairs.next);
	assert_non_null(resp->peer->keypairs.current);
}

/* ---- Constants and wire format ------------------------------------------- */

static void
test_kat_initial_chaining_key_and_hash(void **state)
{
	uint8_t ck[WG_HASH_LEN], h[WG_HASH_LEN];
	struct blake2s_state st;

	(void)state;
	blake2s(ck, sizeof(ck), (const uint8_t *)WG_CONSTRUCTION,
	    strlen(WG_CONSTRUCTION), NULL, 0);
	assert_hex(ck, sizeof(ck),
	    "60e26daef327efc02ec335e2a025d2d016eb4206f87277f52d38d1988b78cd36");
	blake2s_init(&st, WG_HASH_LEN, NULL, 0);
	blake2s_update(&st, ck, sizeof(ck));
	blake2s_update(&st, (const uint8_t *)WG_IDENTIFIER, strlen(WG_IDENTIFIER));
	blake2s_final(&st, h);
	assert_hex(h, sizeof(h),
	    "2211b361081ac566691243db458ad5322d9c6c662293e8b70ee19c65ba079ef3");
}

static void
test_tai64n(void **state)
{
	uint8_t t[WG_TIMESTAMP_LEN], t2[WG_TIMESTAMP_LEN];

	(void)state;
	/* 1700000000.123456789 s: 2^62 + 10 + s, ns rounded down to 2^24. */
	wg_tai64n(t, UINT64_C(1700000000) * NS + 123456789);
	assert_hex(t, sizeof(t), "400000006553f10a07000000");
	/* Whitening: within one 2^24 ns step the timestamp does not move. */
	wg_tai64n(t2, UINT64_C(1700000000) * NS + 117440512 + 16777215);
	assert_memory_equal(t, t2, sizeof(t));
	wg_tai64n(t2, UINT64_C(1700000000) * NS + 134217728);
	assert_true(memcmp(t2, t, sizeof(t)) > 0);
}

static void
test_sizes(void **state)
{
	(void)state;
	assert_int_equal(sizeof(struct wg_msg_initiation), 148);
	assert_int_equal(sizeof(struct wg_msg_response), 92);
	assert_int_equal(sizeof(struct wg_msg_cookie), 64);
	assert_int_equal(sizeof(struct wg_msg_data), 16);
	print_message("sizeof(struct wg_peer)    = %zu\n", sizeof(struct wg_peer));
	print_message("sizeof(struct wg_keypair) = %zu\n",
	    sizeof(struct wg_keypair));
	print_message("sizeof(struct wg_device)  = %zu\n",
	    sizeof(struct wg_device));
	/* The budget: an idle peer (no keypairs) under 1 KiB. */
	assert_true(sizeof(struct wg_peer) < 1024);
	assert_true(sizeof(struct wg_keypair) < 1024);
}

static void
test_message_type(void **state)
{
	static const struct {
		uint8_t		type;
		size_t		len;
		enum wg_message_type want;
	} cases[] = {
		{ 1, 148, WG_MSG_HANDSHAKE_INITIATION },
		{ 1, 147, WG_MSG_INVALID }, { 1, 149, WG_MSG_INVALID },
		{ 2, 92, WG_MSG_HANDSHAKE_RESPONSE },
		{ 2, 91, WG_MSG_INVALID }, { 2, 148, WG_MSG_INVALID },
		{ 3, 64, WG_MSG_COOKIE_REPLY },
		{ 3, 65, WG_MSG_INVALID }, { 3, 63, WG_MSG_INVALID },
		{ 4, 32, WG_MSG_DATA }, { 4, 1500, WG_MSG_DATA },
		{ 4, 31, WG_MSG_INVALID }, { 4, 16, WG_MSG_INVALID },
		{ 0, 148, WG_MSG_INVALID }, { 5, 148, WG_MSG_INVALID },
		{ 0xff, 64, WG_MSG_INVALID }, { 1, 0, WG_MSG_INVALID },
		{ 1, 3, WG_MSG_INVALID },
	};
	uint8_t buf[BUF_SIZE] = { 0 };
	size_t i, j;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		buf[0] = cases[i].type;
		assert_int_equal(wg_message_type(buf, cases[i].len), cases[i].want);
	}
	/* A non-zero reserved byte invalidates every type. */
	for (i = 1; i <= 3; i++) {
		for (j = 1; j <= 4; j++) {
			buf[0] = (uint8_t)j;
			buf[i] = 1;
			assert_int_equal(wg_message_type(buf, 148), WG_MSG_INVALID);
			assert_int_equal(wg_message_type(buf, 92), WG_MSG_INVALID);
			assert_int_equal(wg_message_type(buf, 64), WG_MSG_INVALID);
			buf[i] = 0;
		}
	}
}

/* ---- Known-answer transcript (tests/unit/wg_ref.py) ---------------------- */

#define KAT_S_I	"c8010101010101010101010101010101010101010101010101010101010101" "40"
#define KAT_S_R	"d0020202020202020202020202020202020202020202020202020202020202" "41"
#define KAT_E_I	"e0030303030303030303030303030303030303030303030303030303030303" "42"
#define KAT_E_R	"f0040404040404040404040404040404040404040404040404040404040404" "43"
#define KAT_PSK	"202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f"
#define KAT_I_INDEX	0x11223344
#define KAT_R_INDEX	0x55667788
#define KAT_TIMESTAMP	"400000006553f10a07000000"
#define KAT_PAYLOAD	"4500001400000000401100000a0000010a000002"

#define KAT_INITIATION \
	"010000004433221186f1eb9ab872934ecfc6e4464fef0d7b346fe4bca4d0aec4d9cfc9" \
	"cfac89b030d92c76204dc97ce3b33fe95f378aebade5597092e2c46c0a2717e70f189f" \
	"3c751d365f60070340932e8505b660b51604b7cb85d29dedcbe334367d92ca222c761e" \
	"b5545e7c66758dc272ac4d3b40c35e29361cd04874acb1012d35a6000000000000000000" \
	"00000000000000"
#define KAT_RESPONSE_NOPSK \
	"020000008877665544332211db63b5302b63db867ceecec54bee4d7ee90bc40d9defa9" \
	"0c5631407b4847cd1362028ad08ce2f2b10bba25e883c21f18f8eadb5e96833c270ae5" \
	"d2db58ee9c2600000000000000000000000000000000"
#define KAT_RESPONSE_PSK \
	"020000008877665544332211db63b5302b63db867ceecec54bee4d7ee90bc40d9defa9" \
	"0c5631407b4847cd1376f88c92ae0ed57c328d06add81533aa35a0a1b7f2e3970d5e36" \
	"a8dd9733c9a300000000000000000000000000000000"
#define KAT_DATA_I_NOPSK \
	"040000008877665500000000000000000289282d50d2c7daa3b59488978dacc1d8cf40" \
	"e92fcf52bf00d5a7f1970d8da1bd2af5a1e259efa17923736382634e9a"
#define KAT_DATA_R_NOPSK \
	"04000000443322110000000000000000ca92f02d3003e0bb2e609830ec22e2e8"
#define KAT_DATA_I_PSK \
	"04000000887766550000000000000000ec73daacb593ca601e4d9aa5d0f78a4a4e1339" \
	"5fd7f4c0c791893ada498ef8a5a065bdbe2062e979a78f3e5c8f7a4259"
#define KAT_DATA_R_PSK \
	"040000004433221100000000000000005cc10e3a50ccd5a3501b7e5456a730ea"

static void
kat_transcript(bool with_psk, const char *want_response, const char *want_i,
    const char *want_r)
{
	uint8_t s_i[32], s_r[32], psk[32], buf[BUF_SIZE], reply[WG_REPLY_MAX];
	struct wg_handshake_fixed fi = { .local_index = KAT_I_INDEX };
	struct wg_handshake_fixed fr = { .local_index = KAT_R_INDEX };
	struct wg_msg_initiation init;
	struct wg_msg_response resp;
	struct wg_peer *peer;
	struct wg_rx rx;
	struct pair p = { 0 };
	size_t len;

	unhex(s_i, KAT_S_I, 32);
	unhex(s_r, KAT_S_R, 32);
	unhex(psk, KAT_PSK, 32);
	unhex(fi.ephemeral_private, KAT_E_I, 32);
	unhex(fi.timestamp, KAT_TIMESTAMP, WG_TIMESTAMP_LEN);
	unhex(fr.ephemeral_private, KAT_E_R, 32);
	node_init(&p.a, s_i, 1);
	node_init(&p.b, s_r, 2);
	pair_link(&p, with_psk ? psk : NULL);

	/* -> e, es, s, ss, {t} */
	assert_int_equal(wg_create_initiation(p.a.dev, p.a.peer, &init, T0,
	    REAL(T0), &fi), 0);
	assert_hex((uint8_t *)&init, sizeof(init), KAT_INITIATION);
	assert_int_equal(wg_cookie_validate(&p.b.dev->cookie_checker,
	    (uint8_t *)&init, sizeof(init), NULL, 0, false, T0),
	    WG_MAC_VALID_BUT_NO_COOKIE);
	assert_int_equal(wg_consume_initiation(p.b.dev, &init, T0, &peer), 0);
	assert_ptr_equal(peer, p.b.peer);
	/* <- e, ee, se, psk, {} */
	assert_int_equal(wg_create_response(p.b.dev, peer, &resp, T0, &fr), 0);
	assert_hex((uint8_t *)&resp, sizeof(resp), want_response);
	assert_int_equal(wg_begin_session(p.b.dev, peer, T0), 0);
	assert_int_equal(wg_consume_response(p.a.dev, &resp, &peer), 0);
	assert_ptr_equal(peer, p.a.peer);
	assert_int_equal(wg_begin_session(p.a.dev, peer, T0), 0);

	/* Transport, counter 0 each way, no MTU cap: 20 bytes pad to 32. */
	unhex(buf + 16, KAT_PAYLOAD, 20);
	assert_int_equal(wg_send_data(p.a.peer, buf, sizeof(buf), 20, 0, T0,
	    &len), 0);
	assert_int_equal(len, 16 + 32 + 16);
	assert_hex(buf, len, want_i);
	assert_int_equal(deliver(&p.a, &p.b, buf, len, false, T0, reply, &rx), 0);
	assert_int_equal(rx.events, WG_RX_DATA | WG_RX_SEND_STAGED);
	assert_int_equal(rx.plain_len, 20);
	assert_int_equal(wg_send_data(p.b.peer, buf, sizeof(buf), 0, 0, T0,
	    &len), 0);
	assert_hex(buf, len, want_r);

	wg_device_destroy(p.a.dev);
	wg_device_destroy(p.b.dev);
	free(p.a.dev);
	free(p.b.dev);
}

static void
test_kat_transcript_nopsk(void **state)
{
	(void)state;
	kat_transcript(false, KAT_RESPONSE_NOPSK, KAT_DATA_I_NOPSK,
	    KAT_DATA_R_NOPSK);
}

static void
test_kat_transcript_psk(void **state)
{
	(void)state;
	kat_transcript(true, KAT_RESPONSE_PSK, KAT_DATA_I_PSK, KAT_DATA_R_PSK);
}

/* ---- Handshake and transport through wg_device_receive() ----------------- */

static void
test_handshake_and_transport(void **state)
{
	struct pair *p = *state;
	struct wg_rx rx;
	uint64_t now = T0;
	size_t i;

	connect_nodes(&p->a, &p->b, now);
	assert_int_equal(p->a.peer->last_handshake_real_ns, REAL(now));
	assert_int_equal(p->b.peer->last_handshake_real_ns, REAL(now));
	/* Endpoints were learnt from authenticated packets. */
	assert_int_equal(p->b.peer->endpoint_len, sizeof(struct sockaddr_in));
	assert_memory_equal(&p->b.peer->endpoint, &p->a.addr,
	    sizeof(p->a.addr));
	for (i = 0; i < 50; i++) {
		now += 10 * MS;
		/* Sizes across the padding boundaries, up to the MTU. */
		send_ip(&p->a, &p->b, 20 + i * 29, (uint8_t)i, now, &rx);
		send_ip(&p->b, &p->a, 1420 - i, (uint8_t)~i, now, &rx);
	}
	assert_int_equal(p->a.peer->keypairs.current->send_counter, 51);
	assert_int_equal(p->b.peer->keypairs.current->send_counter, 50);
	assert_true(p->a.peer->tx_bytes > 0 && p->a.peer->rx_bytes > 0);
	assert_true(p->b.peer->tx_bytes > 0 && p->b.peer->rx_bytes > 0);
}

/* The responder may send only once the initiator has confirmed the keys. */
static void
test_responder_waits_for_confirmation(void **state)
{
	struct pair *p = *state;
	uint8_t buf[BUF_SIZE];
	struct wg_rx rx;
	size_t len;

	handshake(&p->a, &p->b, T0);
	assert_null(p->b.peer->keypairs.current);
	assert_int_equal(wg_send_data(p->b.peer, buf, sizeof(buf), 0, 1420, T0,
	    &len), -ENOKEY);
	send_ip(&p->a, &p->b, 100, 7, T0, &rx);
	assert_true(rx.events & WG_RX_SEND_STAGED);
	send_ip(&p->b, &p->a, 100, 8, T0, &rx);
}

/* A second handshake: packets under the old keys still arrive. */
static void
test_rekey_rotation(void **state)
{
	struct pair *p = *state;
	uint8_t old[BUF_SIZE], reply[WG_REPLY_MAX];
	struct wg_keypair *first;
	struct wg_rx rx;
	size_t len;

	connect_nodes(&p->a, &p->b, T0);
	first = p->a.peer->keypairs.current;
	len = seal_ip(&p->a, old, 60, 1, T0);		/* in flight */
	/* This time B initiates. */
	connect_nodes(&p->b, &p->a, T0 + 10 * NS);
	assert_ptr_equal(p->a.peer->keypairs.previous, first);
	assert_int_equal(deliver(&p->a, &p->b, old, len, false, T0 + 10 * NS,
	    reply, &rx), 0);
	assert_true(rx.events & WG_RX_DATA);
	send_ip(&p->a, &p->b, 60, 2, T0 + 10 * NS, &rx);
	send_ip(&p->b, &p->a, 60, 3, T0 + 10 * NS, &rx);
	/* A third: the first keypair is gone, its packets with it. */
	connect_nodes(&p->a, &p->b, T0 + 20 * NS);
	len = seal_ip(&p->b, old, 60, 4, T0 + 20 * NS);
	assert_int_equal(deliver(&p->b, &p->a, old, len, false, T0 + 20 * NS,
	    reply, &rx), 0);
	assert_int_equal(wg_device_receive(p->b.dev, old, len, NULL, 0, false,
	    T0, REAL(T0), reply, &rx), -ENOENT);
}

static void
test_wrong_static_key(void **state)
{
	struct pair *p = *state;
	struct wg_msg_initiation msg;
	struct wg_peer *peer, *stranger;
	uint8_t other[WG_KEY_LEN], reply[WG_REPLY_MAX];
	struct wg_rx rx;

	/* A believes B has another public key: MAC1 and Noise both fail. */
	crypto_scalarmult_base(other, (uint8_t[32]){ 9 });
	assert_int_equal(wg_peer_add(p->a.dev, other, NULL, &stranger), 0);
	assert_int_equal(wg_create_initiation(p->a.dev, stranger, &msg, T0,
	    REAL(T0), NULL), 0);
	assert_int_equal(deliver(&p->a, &p->b, (uint8_t *)&msg, sizeof(msg),
	    false, T0, reply, &rx), -EBADMSG);
	assert_int_equal(wg_consume_initiation(p->b.dev, &msg, T0, &peer),
	    -EBADMSG);
	assert_null(peer);

	/* B does not know A: authenticated, but not a peer. */
	assert_int_equal(wg_create_initiation(p->a.dev, p->a.peer, &msg, T0,
	    REAL(T0), NULL), 0);
	wg_peer_remove(p->b.peer);
	assert_int_equal(deliver(&p->a, &p->b, (uint8_t *)&msg, sizeof(msg),
	    false, T0, reply, &rx), -ENOENT);
	assert_int_equal(wg_peer_add(p->b.dev, p->a.pub, NULL, &p->b.peer), 0);
	assert_int_equal(deliver(&p->a, &p->b, (uint8_t *)&msg, sizeof(msg),
	    false, T0, reply, &rx), 0);
}

static void
test_wrong_psk(void **state)
{
	struct pair *p = *state;
	struct wg_msg_initiation msg;
	uint8_t reply[WG_REPLY_MAX], reply2[WG_REPLY_MAX];
	struct wg_rx rx;

	wg_peer_set_preshared_key(p->b.peer, (uint8_t[32]){ 1 });
	assert_int_equal(wg_send_initiation(p->a.peer, &msg, T0, REAL(T0)), 0);
	/* The PSK enters after the initiation: B cannot tell. */
	assert_int_equal(deliver(&p->a, &p->b, (uint8_t *)&msg, sizeof(msg),
	    false, T0, reply, &rx), 0);
	assert_int_equal(deliver(&p->b, &p->a, reply, rx.reply_len, false, T0,
	    reply2, &rx), -EBADMSG);
	assert_null(p->a.peer->keypairs.current);
	assert_non_null(p->a.peer->handshake);
	assert_int_equal(p->a.peer->handshake->state,
	    WG_HANDSHAKE_CREATED_INITIATION);
}

/* ---- Tampering ----------------------------------------------------------- */

/* Recomputes mac1 as an attacker knowing the receiver's public key can. */
static void
remac(uint8_t *msg, size_t len, const uint8_t receiver_pub[WG_KEY_LEN])
{
	struct wg_cookie ck;

	wg_cookie_init(&ck);
	wg_cookie_add_macs(&ck, receiver_pub, msg, len, T0);
}

static void
test_tamper_initiation(void **state)
{
	struct pair *p = *state;
	struct wg_msg_initiation msg;
	uint8_t bad[WG_MSG_INITIATION_LEN], reply[WG_REPLY_MAX];
	struct wg_peer *peer;
	struct wg_rx rx;
	size_t i;

	assert_int_equal(wg_send_initiation(p->a.peer, &msg, T0, REAL(T0)), 0);
	for (i = 0; i < sizeof(msg); i++) {
		memcpy(bad, &msg, sizeof(bad));
		bad[i] ^= 0x01;
		if (i < offsetof(struct wg_msg_initiation, macs.mac2))
			assert_true(deliver(&p->a, &p->b, bad, sizeof(bad), false,
			    T0, reply, &rx) < 0);
		else	/* mac2 is checked only under load */
			assert_true(deliver(&p->a, &p->b, bad, sizeof(bad), true,
			    T0, reply, &rx) == 0 && rx.peer == NULL &&
			    rx.reply_len == WG_MSG_COOKIE_LEN);
		/*
		 * Behind MAC1, Noise rejects every change past the header and
		 * sender index (which the Noise transcript does not cover).
		 */
		if (i >= offsetof(struct wg_msg_initiation, unencrypted_ephemeral) &&
		    i < offsetof(struct wg_msg_initiation, macs)) {
			remac(bad, sizeof(bad), p->b.pub);
			assert_int_equal(wg_cookie_validate(&p->b.dev->cookie_checker,
			    bad, sizeof(bad), NULL, 0, false, T0),
			    WG_MAC_VALID_BUT_NO_COOKIE);
			assert_true(wg_consume_initiation(p->b.dev,
			    (struct wg_msg_initiation *)bad, T0, &peer) < 0);
		}
	}
	/* Nothing was authenticated: B never allocated a handshake. */
	assert_null(p->b.peer->handshake);
	assert_int_equal(deliver(&p->a, &p->b, (uint8_t *)&msg, sizeof(msg),
	    false, T0, reply, &rx), 0);
}

static void
test_tamper_response(void **state)
{
	struct pair *p = *state;
	struct wg_msg_initiation msg;
	uint8_t resp[WG_REPLY_MAX], bad[WG_MSG_RESPONSE_LEN], reply[WG_REPLY_MAX];
	struct wg_peer *peer;
	struct wg_rx rx;
	size_t i;

	assert_int_equal(wg_send_initiation(p->a.peer, &msg, T0, REAL(T0)), 0);
	assert_int_equal(deliver(&p->a, &p->b, (uint8_t *)&msg, sizeof(msg),
	    false, T0, resp, &rx), 0);
	for (i = 0; i < WG_MSG_RESPONSE_LEN; i++) {
		memcpy(bad, resp, sizeof(bad));
		bad[i] ^= 0x80;
		if (i < offsetof(struct wg_msg_response, macs.mac2))
			assert_true(deliver(&p->b, &p->a, bad, sizeof(bad), false,
			    T0, reply, &rx) < 0);
		if (i >= offsetof(struct wg_msg_response, receiver_index) &&
		    i < offsetof(struct wg_msg_response, macs)) {
			remac(bad, sizeof(bad), p->a.pub);
			assert_true(wg_consume_response(p->a.dev,
			    (struct wg_msg_response *)bad, &peer) < 0);
		}
		assert_non_null(p->a.peer->handshake);
		assert_int_equal(p->a.peer->handshake->state,
		    WG_HANDSHAKE_CREATED_INITIATION);
	}
	assert_int_equal(deliver(&p->b, &p->a, resp, WG_MSG_RESPONSE_LEN, false,
	    T0, reply, &rx), 0);
	assert_non_null(p->a.peer->keypairs.current);
}

static void
test_tamper_data(void **state)
{
	struct pair *p = *state;
	uint8_t pkt[BUF_SIZE], bad[BUF_SIZE], reply[WG_REPLY_MAX];
	struct wg_rx rx;
	size_t i, len;

	connect_nodes(&p->a, &p->b, T0);
	len = seal_ip(&p->a, pkt, 40, 5, T0);
	for (i = 0; i < len; i++) {
		memcpy(bad, pkt, len);
		bad[i] ^= 0x04;
		assert_true(deliver(&p->a, &p->b, bad, len, false, T0, reply,
		    &rx) < 0);
	}
	assert_int_equal(deliver(&p->a, &p->b, pkt, len, false, T0, reply,
	    &rx), 0);
	assert_true(rx.events & WG_RX_DATA);
}

static void
test_data_replay(void **state)
{
	struct pair *p = *state;
	uint8_t pkt[BUF_SIZE], copy[BUF_SIZE], reply[WG_REPLY_MAX];
	struct wg_rx rx;
	size_t len;

	connect_nodes(&p->a, &p->b, T0);
	len = seal_ip(&p->a, pkt, 40, 5, T0);
	memcpy(copy, pkt, len);
	assert_int_equal(deliver(&p->a, &p->b, pkt, len, false, T0, reply,
	    &rx), 0);
	assert_int_equal(deliver(&p->a, &p->b, copy, len, false, T0, reply,
	    &rx), -ESTALE);
	/* Inner length lies are authenticated but dropped. */
	make_ip(pkt + 16, 40, 1);
	pkt[16 + 3] = 200;
	assert_int_equal(wg_send_data(p->a.peer, pkt, sizeof(pkt), 40, 1420, T0,
	    &len), 0);
	assert_int_equal(deliver(&p->a, &p->b, pkt, len, false, T0, reply,
	    &rx), 0);
	assert_int_equal(rx.events, WG_RX_BAD_INNER);
}

/* ---- Initiation replay and flood ----------------------------------------- */

static void
test_replayed_initiation(void **state)
{
	struct pair *p = *state;
	struct wg_handshake_fixed fixed = { .local_index = 7 };
	struct wg_msg_initiation m1, m2, m0;
	uint8_t reply[WG_REPLY_MAX];
	struct wg_peer *peer;
	struct wg_rx rx;

	randombytes_buf(fixed.ephemeral_private, WG_KEY_LEN);
	wg_tai64n(fixed.timestamp, REAL(T0));
	assert_int_equal(wg_create_initiation(p->a.dev, p->a.peer, &m0, T0,
	    REAL(T0), &fixed), 0);
	wg_tai64n(fixed.timestamp, REAL(T0 + NS));
	fixed.local_index = 8;
	assert_int_equal(wg_create_initiation(p->a.dev, p->a.peer, &m1, T0,
	    REAL(T0), &fixed), 0);
	assert_int_equal(deliver(&p->a, &p->b, (uint8_t *)&m1, sizeof(m1), false,
	    T0, reply, &rx), 0);
	/* The same message a second later: same timestamp. */
	assert_int_equal(deliver(&p->a, &p->b, (uint8_t *)&m1, sizeof(m1), false,
	    T0 + NS, reply, &rx), -ESTALE);
	/* An older one, never seen before, is no better. */
	assert_int_equal(wg_consume_initiation(p->b.dev, &m0, T0 + NS, &peer),
	    -ESTALE);
	/* A newer one is fine, but not within 1/50 s of the last. */
	assert_int_equal(wg_create_initiation(p->a.dev, p->a.peer, &m2, T0,
	    REAL(T0 + 2 * NS), NULL), 0);
	assert_int_equal(wg_consume_initiation(p->b.dev, &m2, T0 + 10 * MS,
	    &peer), -EAGAIN);
	assert_int_equal(wg_consume_initiation(p->b.dev, &m2, T0 + 20 * MS,
	    &peer), 0);
	/* Zeroing keys keeps the greatest timestamp. */
	wg_peer_clear_keys(p->b.peer);
	assert_int_equal(wg_consume_initiation(p->b.dev, &m2, T0 + 5 * NS,
	    &peer), -ESTALE);
}

/* ---- Replay window ------------------------------------------------------- */

static void
test_replay_window(void **state)
{
	struct wg_replay r;
	uint64_t i, top;

	(void)state;
	memset(&r, 0, sizeof(r));
	for (i = 0; i < 100; i++)
		assert_true(wg_replay_check(&r, i));
	for (i = 0; i < 100; i++)
		assert_false(wg_replay_check(&r, i));	/* duplicates */
	/* Out of order, within the window. */
	assert_true(wg_replay_check(&r, 300));
	for (i = 299; i >= 100; i--)
		assert_true(wg_replay_check(&r, i));
	assert_false(wg_replay_check(&r, 150));
	/* Lag of 2048 and up to the window edge is accepted, once. */
	top = 100000;
	assert_true(wg_replay_check(&r, top));
	assert_true(wg_replay_check(&r, top - 2048));
	assert_false(wg_replay_check(&r, top - 2048));
	assert_true(wg_replay_check(&r, top - WG_REPLAY_WINDOW));
	assert_false(wg_replay_check(&r, top - WG_REPLAY_WINDOW - 1));
	assert_false(wg_replay_check(&r, 5));		/* too old */
	/* Jumps: small, one word, more than the whole ring. */
	assert_true(wg_replay_check(&r, top + 1));
	assert_true(wg_replay_check(&r, top + 64));
	assert_true(wg_replay_check(&r, top + 65));
	assert_true(wg_replay_check(&r, top + 1000000));
	assert_false(wg_replay_check(&r, top + 65));
	assert_true(wg_replay_check(&r, top + 1000000 - 1));
	assert_false(wg_replay_check(&r, top + 1000000));
	/* The message limit. */
	assert_true(wg_replay_check(&r, WG_REJECT_AFTER_MESSAGES - 1));
	assert_false(wg_replay_check(&r, WG_REJECT_AFTER_MESSAGES));
	assert_false(wg_replay_check(&r, UINT64_MAX));
	/* The window still works; the keypair refuses more (see limits). */
	assert_true(wg_replay_check(&r, WG_REJECT_AFTER_MESSAGES - 2));
	assert_false(wg_replay_check(&r, WG_REJECT_AFTER_MESSAGES - 2));
}

/* Against a plain model: accepted iff new and at most WINDOW behind. */
static void
test_replay_window_model(void **state)
{
	enum { SPAN = 60000 };
	static uint8_t seen[SPAN];
	struct wg_replay r;
	uint64_t max = 0, n;
	bool any = false, want;
	uint32_t i, base = 0;

	(void)state;
	memset(&r, 0, sizeof(r));
	memset(seen, 0, sizeof(seen));
	for (i = 0; i < 400000; i++) {
		/* Mostly near the top, sometimes far back or far ahead. */
		n = base + randombytes_uniform(6000);
		if (n >= SPAN)
			n = SPAN - 1 - randombytes_uniform(200);
		if (randombytes_uniform(50) == 0 && base + 7000 < SPAN)
			base += randombytes_uniform(7000);
		want = !seen[n] && (!any || n + WG_REPLAY_WINDOW >= max);
		assert_int_equal(wg_replay_check(&r, n), want);
		if (want) {
			seen[n] = 1;
			if (!any || n > max)
				max = n;
			any = true;
		}
	}
}

/* ---- MACs and cookies ---------------------------------------------------- */

static void
test_mac1_invalid(void **state)
{
	struct pair *p = *state;
	struct wg_msg_initiation msg;
	uint8_t reply[WG_REPLY_MAX];
	struct wg_rx rx;

	assert_int_equal(wg_send_initiation(p->a.peer, &msg, T0, REAL(T0)), 0);
	msg.macs.mac1[15] ^= 1;
	assert_int_equal(wg_cookie_validate(&p->b.dev->cookie_checker,
	    (uint8_t *)&msg, sizeof(msg), NULL, 0, false, T0), WG_MAC_INVALID);
	assert_int_equal(deliver(&p->a, &p->b, (uint8_t *)&msg, sizeof(msg),
	    false, T0, reply, &rx), -EBADMSG);
	/* Under load too: no cookie for a bad MAC1. */
	assert_int_equal(deliver(&p->a, &p->b, (uint8_t *)&msg, sizeof(msg),
	    true, T0, reply, &rx), -EBADMSG);
	assert_int_equal(rx.reply_len, 0);
	assert_int_equal(wg_cookie_admit(WG_MAC_INVALID, false), WG_ADMIT_DROP);
	assert_int_equal(wg_cookie_admit(WG_MAC_VALID_BUT_NO_COOKIE, false),
	    WG_ADMIT_PROCESS);
	assert_int_equal(wg_cookie_admit(WG_MAC_VALID_BUT_NO_COOKIE, true),
	    WG_ADMIT_SEND_COOKIE);
	assert_int_equal(wg_cookie_admit(WG_MAC_VALID_WITH_COOKIE, true),
	    WG_ADMIT_PROCESS);
}

static void
test_cookie_flow(void **state)
{
	struct pair *p = *state;
	struct wg_msg_initiation msg;
	uint8_t cookie[WG_REPLY_MAX], reply[WG_REPLY_MAX], bad[WG_MSG_COOKIE_LEN];
	uint8_t zero[WG_COOKIE_LEN] = { 0 };
	struct wg_rx rx;
	uint64_t now = T0;

	/* Under load, B answers a first initiation with a cookie only. */
	assert_int_equal(wg_send_initiation(p->a.peer, &msg, now, REAL(now)), 0);
	assert_memory_equal(msg.macs.mac2, zero, sizeof(zero));
	assert_int_equal(deliver(&p->a, &p->b, (uint8_t *)&msg, sizeof(msg),
	    true, now, cookie, &rx), 0);
	assert_int_equal(rx.events, WG_RX_REPLY);
	assert_int_equal(rx.reply_len, WG_MSG_COOKIE_LEN);
	assert_null(rx.peer);
	assert_int_equal(wg_message_type(cookie, rx.reply_len),
	    WG_MSG_COOKIE_REPLY);
	assert_null(p->b.peer->handshake);

	/* A tampered cookie reply is refused; the real one is taken once. */
	memcpy(bad, cookie, sizeof(bad));
	bad[40] ^= 1;
	assert_int_equal(deliver(&p->b, &p->a, bad, sizeof(bad), false, now,
	    reply, &rx), -EBADMSG);
	memcpy(bad, cookie, sizeof(bad));
	assert_int_equal(deliver(&p->b, &p->a, cookie, WG_MSG_COOKIE_LEN, false,
	    now, reply, &rx), 0);
	assert_int_equal(rx.events, WG_RX_COOKIE);
	assert_ptr_equal(rx.peer, p->a.peer);
	assert_int_equal(deliver(&p->b, &p->a, bad, sizeof(bad), false, now,
	    reply, &rx), -EINVAL);

	/* The retry carries MAC2 and gets through under load. */
	now += WG_REKEY_TIMEOUT * NS;
	assert_int_equal(wg_send_initiation(p->a.peer, &msg, now, REAL(now)), 0);
	assert_memory_not_equal(msg.macs.mac2, zero, sizeof(zero));
	assert_int_equal(wg_cookie_validate(&p->b.dev->cookie_checker,
	    (uint8_t *)&msg, sizeof(msg), (struct sockaddr *)&p->a.addr,
	    sizeof(p->a.addr), true, now), WG_MAC_VALID_WITH_COOKIE);
	/* The cookie is bound to A's address and port. */
	p->a.addr.sin_port = htons(4444);
	assert_int_equal(deliver(&p->a, &p->b, (uint8_t *)&msg, sizeof(msg),
	    true, now, reply, &rx), 0);
	assert_int_equal(rx.reply_len, WG_MSG_COOKIE_LEN);
	p->a.addr.sin_port = htons(51820);
	assert_int_equal(deliver(&p->a, &p->b, (uint8_t *)&msg, sizeof(msg),
	    true, now, reply, &rx), 0);
	assert_int_equal(rx.events, WG_RX_REPLY);
	assert_int_equal(rx.reply_len, WG_MSG_RESPONSE_LEN);
	assert_int_equal(deliver(&p->b, &p->a, reply, rx.reply_len, true, now,
	    cookie, &rx), 0);	/* A under load too: B's response has no MAC2 */
	assert_int_equal(rx.events, WG_RX_REPLY);
	assert_int_equal(rx.reply_len, WG_MSG_COOKIE_LEN);
	/* B's index is its next keypair's by now; the cookie still finds it. */
	assert_int_equal(deliver(&p->a, &p->b, cookie, rx.reply_len, false, now,
	    reply, &rx), 0);
	assert_int_equal(rx.events, WG_RX_COOKIE);
	assert_ptr_equal(rx.peer, p->b.peer);
	assert_true(p->b.peer->cookie.have_cookie);
}

static void
test_cookie_expiry(void **state)
{
	struct pair *p = *state;
	struct wg_msg_initiation msg;
	uint8_t cookie[WG_REPLY_MAX], reply[WG_REPLY_MAX];
	uint8_t zero[WG_COOKIE_LEN] = { 0 };
	const struct sockaddr *src = (struct sockaddr *)&p->a.addr;
	struct wg_rx rx;
	uint64_t now = T0;

	assert_int_equal(wg_send_initiation(p->a.peer, &msg, now, REAL(now)), 0);
	assert_int_equal(deliver(&p->a, &p->b, (uint8_t *)&msg, sizeof(msg),
	    true, now, cookie, &rx), 0);
	assert_int_equal(deliver(&p->b, &p->a, cookie, rx.reply_len, false, now,
	    reply, &rx), 0);
	/* A uses the cookie up to 120 - 5 s, then sends MAC2 = 0 again. */
	now = T0 + 114 * NS;
	assert_int_equal(wg_send_initiation(p->a.peer, &msg, now, REAL(now)), 0);
	assert_memory_not_equal(msg.macs.mac2, zero, sizeof(zero));
	assert_int_equal(wg_cookie_validate(&p->b.dev->cookie_checker,
	    (uint8_t *)&msg, sizeof(msg), src, sizeof(p->a.addr), true, now),
	    WG_MAC_VALID_WITH_COOKIE);
	/* B renews its secret after 120 s: the old cookie stops working. */
	assert_int_equal(wg_cookie_validate(&p->b.dev->cookie_checker,
	    (uint8_t *)&msg, sizeof(msg), src, sizeof(p->a.addr), true,
	    T0 + 120 * NS), WG_MAC_VALID_BUT_NO_COOKIE);
	now = T0 + 121 * NS;
	assert_int_equal(wg_send_initiation(p->a.peer, &msg, now, REAL(now)), 0);
	assert_memory_equal(msg.macs.mac2, zero, sizeof(zero));
	/* Sources other than IPv4/IPv6 get no cookie. */
	assert_int_equal(wg_cookie_validate(&p->b.dev->cookie_checker,
	    (uint8_t *)&msg, sizeof(msg), NULL, 0, true, now),
	    WG_MAC_VALID_BUT_NO_COOKIE);
}

static void
test_cookie_ipv6(void **state)
{
	struct pair *p = *state;
	struct wg_cookie_checker *c = &p->b.dev->cookie_checker;
	struct wg_msg_initiation msg;
	struct wg_msg_cookie reply;
	struct sockaddr_in6 s6 = { .sin6_family = AF_INET6,
	    .sin6_port = htons(9) };

	s6.sin6_addr.s6_addr[15] = 1;
	assert_int_equal(wg_send_initiation(p->a.peer, &msg, T0, REAL(T0)), 0);
	assert_int_equal(wg_cookie_create_reply(c, &reply, (uint8_t *)&msg,
	    sizeof(msg), 0x01020304, (struct sockaddr *)&s6, sizeof(s6), T0), 0);
	assert_int_equal(le32toh(reply.receiver_index), 0x01020304);
	assert_int_equal(wg_cookie_consume_reply(&p->a.peer->cookie,
	    p->a.peer->public_key, &reply, T0), 0);
	assert_int_equal(wg_send_initiation(p->a.peer, &msg, T0 + 5 * NS,
	    REAL(T0)), 0);
	assert_int_equal(wg_cookie_validate(c, (uint8_t *)&msg, sizeof(msg),
	    (struct sockaddr *)&s6, sizeof(s6), true, T0 + 5 * NS),
	    WG_MAC_VALID_WITH_COOKIE);
	s6.sin6_addr.s6_addr[15] = 2;
	assert_int_equal(wg_cookie_validate(c, (uint8_t *)&msg, sizeof(msg),
	    (struct sockaddr *)&s6, sizeof(s6), true, T0 + 5 * NS),
	    WG_MAC_VALID_BUT_NO_COOKIE);
}

/* ---- Timers -------------------------------------------------------------- */

struct drive_log {
	size_t		 inits;
	uint64_t	 init_at[64];
	size_t		 keepalives;
	uint64_t	 keepalive_at[64];
	uint64_t	 gave_up_at;
	uint64_t	 zeroed_at;
};

/*
 * What netd's I/O layer does with one peer: sleep until the next deadline,
 * poll, carry out the actions.  Nothing sent here is delivered.
 */
static uint64_t
drive(struct node *n, uint64_t now, uint64_t until, struct drive_log *log)
{
	struct wg_msg_initiation msg;
	uint8_t buf[BUF_SIZE];
	unsigned act, rounds = 0;
	uint64_t d;
	size_t len;

	while ((d = wg_timers_next_deadline(n->peer)) <= until) {
		assert_true(++rounds < 10000);
		if (d > now)
			now = d;
		act = wg_timers_poll(n->peer, now);
		if (act & WG_ACTION_SEND_HANDSHAKE_INITIATION) {
			assert_int_equal(wg_send_initiation(n->peer, &msg, now,
			    REAL(now)), 0);
			if (log->inits < 64)
				log->init_at[log->inits] = now;
			log->inits++;
		}
		if (act & WG_ACTION_SEND_KEEPALIVE) {
			(void)wg_send_data(n->peer, buf, sizeof(buf), 0, 1420, now,
			    &len);
			if (log->keepalives < 64)
				log->keepalive_at[log->keepalives] = now;
			log->keepalives++;
		}
		if (act & WG_ACTION_GIVE_UP_HANDSHAKE)
			log->gave_up_at = now;
		if (act & WG_ACTION_KEYS_ZEROED)
			log->zeroed_at = now;
	}
	return now;
}

static void
test_timers_rekey_after_time(void **state)
{
	struct pair *p = *state;
	uint8_t buf[BUF_SIZE];
	struct wg_rx rx;
	size_t len;

	connect_nodes(&p->a, &p->b, T0);
	/* Only the initiator rekeys on age, and only when it sends. */
	send_ip(&p->a, &p->b, 40, 1, T0 + 119 * NS, &rx);
	assert_false(wg_timers_poll(p->a.peer, T0 + 119 * NS) &
	    WG_ACTION_SEND_HANDSHAKE_INITIATION);
	send_ip(&p->a, &p->b, 40, 1, T0 + 120 * NS, &rx);
	assert_int_equal(wg_timers_next_deadline(p->a.peer), 0);
	assert_true(wg_timers_poll(p->a.peer, T0 + 120 * NS) &
	    WG_ACTION_SEND_HANDSHAKE_INITIATION);
	send_ip(&p->b, &p->a, 40, 2, T0 + 121 * NS, &rx);
	assert_false(wg_timers_poll(p->b.peer, T0 + 121 * NS) &
	    WG_ACTION_SEND_HANDSHAKE_INITIATION);
	/* Receiving at REJECT - KEEPALIVE - REKEY_TIMEOUT asks once more. */
	send_ip(&p->b, &p->a, 40, 3, T0 + 164 * NS, &rx);
	assert_false(p->a.peer->timers.want_handshake);
	send_ip(&p->b, &p->a, 40, 3, T0 + 165 * NS, &rx);
	assert_true(wg_timers_poll(p->a.peer, T0 + 165 * NS) &
	    WG_ACTION_SEND_HANDSHAKE_INITIATION);
	send_ip(&p->b, &p->a, 40, 3, T0 + 166 * NS, &rx);
	assert_false(p->a.peer->timers.want_handshake);
	/* At REJECT_AFTER_TIME the keypair is dead both ways. */
	len = seal_ip(&p->b, buf, 40, 4, T0 + 179 * NS);
	assert_int_equal(wg_device_receive(p->a.dev, buf, len, NULL, 0, false,
	    T0 + 180 * NS, REAL(0), buf, &rx), -EKEYEXPIRED);
	assert_int_equal(wg_send_data(p->a.peer, buf, sizeof(buf), 40, 1420,
	    T0 + 180 * NS, &len), -ENOKEY);
	assert_int_equal(wg_send_data(p->b.peer, buf, sizeof(buf), 40, 1420,
	    T0 + 180 * NS, &len), -ENOKEY);
	assert_true(p->b.peer->timers.want_handshake);
}

static void
test_timers_keepalive(void **state)
{
	struct pair *p = *state;
	uint64_t t1 = T0 + NS, t2 = T0 + 30 * NS;
	struct drive_log log = { 0 };
	struct wg_rx rx;

	connect_nodes(&p->a, &p->b, T0);
	/* B received data and sent nothing: a keepalive after 10 s. */
	send_ip(&p->a, &p->b, 40, 1, t1, &rx);
	assert_int_equal(wg_timers_next_deadline(p->b.peer), t1 + 10 * NS);
	assert_int_equal(wg_timers_poll(p->b.peer, t1 + 10 * NS - 1), 0);
	drive(&p->b, t1, t1 + 29 * NS, &log);
	assert_int_equal(log.keepalives, 1);
	assert_int_equal(log.keepalive_at[0], t1 + 10 * NS);
	/* B answered with data within 10 s: no keepalive. */
	send_ip(&p->a, &p->b, 40, 1, t2, &rx);
	send_ip(&p->b, &p->a, 40, 2, t2 + 5 * NS, &rx);
	assert_int_equal(p->b.peer->timers.send_keepalive, WG_TIMER_OFF);
	assert_false(wg_timers_poll(p->b.peer, t2 + 10 * NS) &
	    WG_ACTION_SEND_KEEPALIVE);
	/* More data before it fired re-arms it once (the send disarms it). */
	send_ip(&p->a, &p->b, 40, 1, t2 + 6 * NS, &rx);
	send_ip(&p->a, &p->b, 40, 1, t2 + 9 * NS, &rx);
	assert_int_equal(wg_timers_poll(p->b.peer, t2 + 16 * NS),
	    WG_ACTION_SEND_KEEPALIVE);
	assert_int_equal(wg_timers_next_deadline(p->b.peer), t2 + 26 * NS);
}

static void
test_timers_new_handshake(void **state)
{
	struct pair *p = *state;
	uint8_t buf[BUF_SIZE];
	uint64_t t1 = T0 + NS, d;
	struct wg_rx rx;

	connect_nodes(&p->a, &p->b, T0);
	/* A sent data and heard nothing for 15 s (+ jitter): new handshake. */
	(void)seal_ip(&p->a, buf, 40, 1, t1);
	d = wg_timers_next_deadline(p->a.peer);
	assert_true(d >= t1 + 15 * NS && d <= t1 + 15 * NS + 333 * MS);
	assert_int_equal(wg_timers_poll(p->a.peer, d - 1), 0);
	assert_int_equal(wg_timers_poll(p->a.peer, d),
	    WG_ACTION_SEND_HANDSHAKE_INITIATION);
	/* Any authenticated packet back (a keepalive) cancels it. */
	(void)seal_ip(&p->a, buf, 40, 1, t1 + 20 * NS);
	send_keepalive(&p->b, &p->a, t1 + 25 * NS, &rx);
	assert_true(wg_timers_next_deadline(p->a.peer) > t1 + 100 * NS);
}

static void
test_timers_retransmit_give_up(void **state)
{
	struct pair *p = *state;
	struct drive_log log = { 0 };
	uint8_t buf[BUF_SIZE];
	size_t len, i;

	/* No session: sending asks for a handshake, which is never answered. */
	assert_int_equal(wg_send_data(p->a.peer, buf, sizeof(buf), 40, 1420, T0,
	    &len), -ENOKEY);
	drive(&p->a, T0, T0 + 1000 * NS, &log);
	/* The first, then one retry per REKEY_TIMEOUT + jitter, 19 retries. */
	assert_int_equal(log.inits, 1 + WG_MAX_TIMER_HANDSHAKES + 1);
	assert_int_equal(log.init_at[0], T0);
	for (i = 1; i < log.inits; i++) {
		uint64_t gap = log.init_at[i] - log.init_at[i - 1];

		assert_true(gap >= 5 * NS && gap <= 5 * NS + 333 * MS);
	}
	assert_true(log.init_at[log.inits - 1] - T0 >= WG_REKEY_ATTEMPT_TIME * NS);
	assert_true(log.gave_up_at >= log.init_at[log.inits - 1] + 5 * NS);
	assert_true(log.gave_up_at <= log.init_at[log.inits - 1] + 5 * NS +
	    333 * MS);
	/* ... and the leftovers of the attempt are wiped 540 s later. */
	assert_int_equal(log.zeroed_at, log.gave_up_at + 540 * NS);
	assert_null(p->a.peer->handshake);
	assert_int_equal(wg_timers_next_deadline(p->a.peer), WG_TIMER_OFF);
}

static void
test_timers_handshake_completes(void **state)
{
	struct pair *p = *state;
	struct drive_log log = { 0 };

	connect_nodes(&p->a, &p->b, T0);
	/* The retransmit timer was stopped by the response. */
	assert_int_equal(p->a.peer->timers.retransmit_handshake, WG_TIMER_OFF);
	drive(&p->a, T0, T0 + 539 * NS, &log);
	assert_int_equal(log.inits, 0);
}

static void
test_timers_zero_keys(void **state)
{
	struct pair *p = *state;
	struct drive_log la = { 0 }, lb = { 0 };
	uint32_t index;

	connect_nodes(&p->a, &p->b, T0);
	index = p->a.peer->keypairs.current->entry.index;
	drive(&p->a, T0, T0 + 540 * NS - 1, &la);
	assert_int_equal(la.zeroed_at, 0);
	assert_non_null(p->a.peer->keypairs.current);
	drive(&p->a, T0, T0 + 540 * NS, &la);
	drive(&p->b, T0, T0 + 540 * NS, &lb);
	assert_int_equal(la.zeroed_at, T0 + 540 * NS);
	assert_int_equal(lb.zeroed_at, T0 + 540 * NS);
	assert_null(p->a.peer->keypairs.current);
	assert_null(p->a.peer->keypairs.previous);
	assert_null(p->a.peer->keypairs.next);
	assert_null(p->b.peer->keypairs.current);
	assert_null(wg_index_lookup(p->a.dev, index,
	    WG_INDEX_KEYPAIR | WG_INDEX_HANDSHAKE));
	assert_null(p->a.peer->handshake);
}

static void
test_timers_persistent_keepalive(void **state)
{
	struct pair *p = *state;
	struct drive_log log = { 0 };
	size_t i;

	/*
	 * Kept under REKEY_AFTER_TIME: a rekey's initiations are
	 * authenticated packets too and would push the keepalive back.
	 */
	connect_nodes(&p->a, &p->b, T0);
	drive(&p->a, T0, T0 + 10 * NS, &log);
	assert_int_equal(log.keepalives, 0);
	/* Turning it on sends one at once, then one per interval. */
	wg_timers_set_persistent_keepalive(p->a.peer, 25, T0 + 10 * NS);
	drive(&p->a, T0 + 10 * NS, T0 + 110 * NS, &log);
	assert_int_equal(log.keepalives, 5);
	for (i = 0; i < 5; i++)
		assert_int_equal(log.keepalive_at[i], T0 + (10 + 25 * i) * NS);
	wg_timers_set_persistent_keepalive(p->a.peer, 0, T0 + 110 * NS);
	drive(&p->a, T0 + 110 * NS, T0 + 119 * NS, &log);
	assert_int_equal(log.keepalives, 5);
	assert_int_equal(log.inits, 0);
}

static void
test_message_limits(void **state)
{
	struct pair *p = *state;
	uint8_t buf[BUF_SIZE], reply[WG_REPLY_MAX];
	struct wg_keypair *kp;
	struct wg_rx rx;
	size_t len;

	connect_nodes(&p->a, &p->b, T0);
	kp = p->b.peer->keypairs.current;	/* the responder's */
	/* REKEY_AFTER_MESSAGES: the sender asks for a handshake. */
	kp->send_counter = WG_REKEY_AFTER_MESSAGES - 1;
	send_ip(&p->b, &p->a, 40, 1, T0 + NS, &rx);
	assert_false(p->b.peer->timers.want_handshake);
	send_ip(&p->b, &p->a, 40, 1, T0 + NS, &rx);
	assert_true(p->b.peer->timers.want_handshake);
	/* REJECT_AFTER_MESSAGES: the last nonce, then nothing. */
	kp->send_counter = WG_REJECT_AFTER_MESSAGES - 1;
	send_ip(&p->b, &p->a, 40, 1, T0 + NS, &rx);
	assert_int_equal(wg_send_data(p->b.peer, buf, sizeof(buf), 40, 1420,
	    T0 + NS, &len), -ENOKEY);
	assert_false(kp->send_valid);
	/* A's window reached the end: its receiving key is done too. */
	kp = p->a.peer->keypairs.current;
	assert_int_equal(kp->replay.counter, WG_REJECT_AFTER_MESSAGES);
	memset(buf, 0, 64);
	buf[0] = WG_MSG_DATA;
	memcpy(buf + 4, &(uint32_t){ htole32(kp->entry.index) }, 4);
	assert_int_equal(wg_device_receive(p->a.dev, buf, 64, NULL, 0, false,
	    T0 + NS, REAL(0), reply, &rx), -EKEYEXPIRED);
}

/* ---- Odds and ends ------------------------------------------------------- */

static void
test_padding_and_inner_len(void **state)
{
	uint8_t pkt[64] = { 0 };
	size_t n;

	(void)state;
	assert_int_equal(wg_padded_len(0, 1420), 0);
	assert_int_equal(wg_padded_len(1, 1420), 16);
	assert_int_equal(wg_padded_len(16, 1420), 16);
	assert_int_equal(wg_padded_len(17, 1420), 32);
	assert_int_equal(wg_padded_len(1415, 1420), 1420);	/* capped */
	assert_int_equal(wg_padded_len(1420, 1420), 1420);
	assert_int_equal(wg_padded_len(17, 0), 32);

	make_ip(pkt, 40, 0);
	assert_int_equal(wg_inner_packet_len(pkt, 48, &n), 0);
	assert_int_equal(n, 40);
	assert_int_equal(wg_inner_packet_len(pkt, 39, &n), -EMSGSIZE);
	assert_int_equal(wg_inner_packet_len(pkt, 19, &n), -EPROTO);
	pkt[3] = 19;
	assert_int_equal(wg_inner_packet_len(pkt, 48, &n), -EPROTO);
	memset(pkt, 0, sizeof(pkt));
	pkt[0] = 0x60;
	pkt[5] = 8;	/* payload 8 + header 40 */
	assert_int_equal(wg_inner_packet_len(pkt, 64, &n), 0);
	assert_int_equal(n, 48);
	assert_int_equal(wg_inner_packet_len(pkt, 39, &n), -EPROTO);
	pkt[0] = 0x50;
	assert_int_equal(wg_inner_packet_len(pkt, 64, &n), -EPROTO);
	assert_int_equal(wg_inner_packet_len(pkt, 0, &n), -EPROTO);
}

static void
test_tables(void **state)
{
	struct pair *p = *state;
	struct wg_index_entry e1 = { 0 }, e2 = { 0 }, many[1000];
	struct wg_peer *peer;
	uint8_t key[WG_KEY_LEN];
	size_t i;

	assert_int_equal(wg_index_insert(p->a.dev, &e1, WG_INDEX_HANDSHAKE,
	    p->a.peer, &(uint32_t){ 5 }), 0);
	assert_int_equal(wg_index_insert(p->a.dev, &e2, WG_INDEX_KEYPAIR,
	    p->a.peer, &(uint32_t){ 5 }), -EEXIST);
	assert_ptr_equal(wg_index_lookup(p->a.dev, 5, WG_INDEX_HANDSHAKE), &e1);
	assert_null(wg_index_lookup(p->a.dev, 5, WG_INDEX_KEYPAIR));
	wg_index_replace(p->a.dev, &e1, &e2, WG_INDEX_KEYPAIR);
	assert_ptr_equal(wg_index_lookup(p->a.dev, 5, WG_INDEX_KEYPAIR), &e2);
	assert_null(wg_index_lookup(p->a.dev, 5, WG_INDEX_HANDSHAKE));
	wg_index_remove(p->a.dev, &e2);
	wg_index_remove(p->a.dev, &e2);
	assert_null(wg_index_lookup(p->a.dev, 5, WG_INDEX_KEYPAIR));
	memset(many, 0, sizeof(many));
	for (i = 0; i < 1000; i++)
		assert_int_equal(wg_index_insert(p->a.dev, &many[i],
		    WG_INDEX_KEYPAIR, p->a.peer, NULL), 0);
	for (i = 0; i < 1000; i++)
		assert_ptr_equal(wg_index_lookup(p->a.dev, many[i].index,
		    WG_INDEX_KEYPAIR), &many[i]);
	for (i = 0; i < 1000; i++)
		wg_index_remove(p->a.dev, &many[i]);

	/* Peers: no duplicates, not ourselves. */
	assert_int_equal(wg_peer_add(p->a.dev, p->b.pub, NULL, &peer), -EEXIST);
	assert_int_equal(wg_peer_add(p->a.dev, p->a.pub, NULL, &peer), -EEXIST);
	for (i = 0; i < 300; i++) {
		randombytes_buf(key, sizeof(key));
		assert_int_equal(wg_peer_add(p->a.dev, key, NULL, &peer), 0);
		assert_ptr_equal(wg_peer_lookup(p->a.dev, key), peer);
	}
	assert_int_equal(p->a.dev->npeers, 301);
	wg_peer_remove(peer);
	assert_null(wg_peer_lookup(p->a.dev, key));
	assert_ptr_equal(wg_peer_lookup(p->a.dev, p->b.pub), p->a.peer);
}

static void
test_identity(void **state)
{
	struct pair *p = *state;
	struct wg_msg_initiation msg;
	struct wg_device *dev;
	struct wg_peer *peer;
	uint8_t priv[WG_KEY_LEN] = { 42 }, reply[WG_REPLY_MAX];
	struct wg_rx rx;

	/* No private key yet: nothing to handshake with. */
	assert_non_null(dev = calloc(1, sizeof(*dev)));
	assert_int_equal(wg_device_init(dev, NULL), 0);
	assert_int_equal(wg_peer_add(dev, p->b.pub, NULL, &peer), 0);
	assert_int_equal(wg_create_initiation(dev, peer, &msg, T0, REAL(T0),
	    NULL), -ENOKEY);
	wg_device_destroy(dev);
	free(dev);

	/* A low-order peer key can never complete a handshake. */
	assert_int_equal(wg_peer_add(p->a.dev, (uint8_t[32]){ 0 }, NULL, &peer),
	    0);
	assert_int_equal(wg_create_initiation(p->a.dev, peer, &msg, T0,
	    REAL(T0), NULL), -EINVAL);
	assert_null(peer->handshake);

	/* A new key forgets sessions; the peer must learn it to talk again. */
	connect_nodes(&p->a, &p->b, T0);
	assert_int_equal(wg_device_set_private_key(p->a.dev, priv), 0);
	assert_null(p->a.peer->keypairs.current);
	assert_int_equal(wg_send_initiation(p->a.peer, &msg, T0 + 10 * NS,
	    REAL(T0)), 0);
	assert_int_equal(deliver(&p->a, &p->b, (uint8_t *)&msg, sizeof(msg),
	    false, T0 + 10 * NS, reply, &rx), -ENOENT);
	assert_int_equal(wg_device_set_private_key(p->a.dev, p->a.priv), 0);
	assert_int_equal(wg_device_set_private_key(p->a.dev, p->b.priv),
	    -EEXIST);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kat_initial_chaining_key_and_hash),
		cmocka_unit_test(test_tai64n),
		cmocka_unit_test(test_sizes),
		cmocka_unit_test(test_message_type),
		cmocka_unit_test(test_kat_transcript_nopsk),
		cmocka_unit_test(test_kat_transcript_psk),
		cmocka_unit_test_setup_teardown(test_handshake_and_transport,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_handshake_and_transport,
		    setup_psk, teardown),
		cmocka_unit_test_setup_teardown(
		    test_responder_waits_for_confirmation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rekey_rotation, setup_psk,
		    teardown),
		cmocka_unit_test_setup_teardown(test_wrong_static_key, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_wrong_psk, setup_psk,
		    teardown),
		cmocka_unit_test_setup_teardown(test_tamper_initiation, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_tamper_response, setup_psk,
		    teardown),
		cmocka_unit_test_setup_teardown(test_tamper_data, setup, teardown),
		cmocka_unit_test_setup_teardown(test_data_replay, setup, teardown),
		cmocka_unit_test_setup_teardown(test_replayed_initiation, setup,
		    teardown),
		cmocka_unit_test(test_replay_window),
		cmocka_unit_test(test_replay_window_model),
		cmocka_unit_test_setup_teardown(test_mac1_invalid, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cookie_flow, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cookie_expiry, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_cookie_ipv6, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timers_rekey_after_time,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_timers_keepalive, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_timers_new_handshake, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_timers_retransmit_give_up,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_timers_handshake_completes,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_timers_zero_keys, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_timers_persistent_keepalive,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_message_limits, setup,
		    teardown),
		cmocka_unit_test(test_padding_and_inner_len),
		cmocka_unit_test_setup_teardown(test_tables, setup, teardown),
		cmocka_unit_test_setup_teardown(test_identity, setup, teardown),
	};

	if (aead_global_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
