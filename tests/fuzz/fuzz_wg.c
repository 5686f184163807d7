/*
 * netd's WireGuard receive path (netd/wg): wg_device_receive() on datagrams
 * an attacker on the network controls, and the handshake, cookie and
 * transport consumers behind it.
 *
 * Two in-memory devices, set up once: A, the device under test (fixed
 * private key, one peer: B), and B, an in-process initiator whose only peer
 * is A.  B lets the fuzzer start from *valid* messages and mutate them, so
 * it gets past MAC1 and the AEADs that random bytes never pass.
 *
 * Input: byte 0 picks the mode (byte 0 % 6) and sub-options (byte 0 / 6),
 * byte 1 is flags, the rest is the payload.
 *
 *	0  raw: the payload is one datagram into A.
 *	1  initiation: B makes a fresh valid initiation to A; the payload is
 *	   XORed over it (FLAG_REMAC recomputes MAC1/MAC2 afterwards, as any
 *	   attacker who knows A's public key can); into A; whatever A answers
 *	   is bounced back and forth (response -> B, keepalive -> A, ...).
 *	2  transport: a completed handshake B -> A (FLAG_CONFIRM: and the
 *	   confirming keepalive), then up to 8 data packets built with the
 *	   session from payload-driven plaintexts, counters, lengths, XOR
 *	   masks, replays and clock jumps, in either direction.
 *	3  cookie: B initiates, A is under load and answers with a cookie
 *	   reply; the payload is XORed over that reply, into B; then B
 *	   retries (with MAC2 if it took the cookie) and A, still under load,
 *	   must let a valid MAC2 through.
 *	4  response: B initiates, A responds; the payload is XORed over A's
 *	   response (FLAG_REMAC as above), into B.
 *	5  stateful raw: A is put in a state picked by the payload (initiation
 *	   outstanding, responded but unconfirmed, confirmed session), then the
 *	   payload is a list of raw datagrams into A, each optionally with its
 *	   receiver index patched to one A really has listed.
 *
 * FLAG_UNDER_LOAD is the load signal for the fuzzed datagram; FLAG_V6 sends
 * it from an IPv6 source; FLAG_TIMERS runs both peers' timers afterwards
 * (and carries out what they ask); bits 3-5 pick a fixed clock offset.
 * Sub-options: SUB_REPLAY delivers the fuzzed datagram twice (modes 0, 1,
 * 4); SUB_STRANGER makes the initiation come from C, a third device A does
 * not know (mode 1); SUB_LOW_ORDER puts a low-order point in the ephemeral
 * key and recomputes the MACs (modes 1, 4); SUB_KEEPALIVE turns on
 * persistent keepalive on A and B; SUB_DRIVE then runs both peers' timers
 * over up to 32 payload-chosen clock steps, each step's datagrams either
 * delivered or lost.
 *
 * Time is fixed (T0 plus fixed offsets) and libsodium's random source is
 * replaced by a PRNG reseeded for every input, so runs are reproducible:
 * keys, indices and nonces are the same for the same input.  Every input
 * starts and ends with no keypair, handshake or cookie anywhere and both
 * index tables empty (checked), so nothing leaks or carries over.
 *
 * Besides the sanitizers, it traps on broken invariants: a reply of the
 * wrong size or type, plaintext outside the datagram, an authenticated
 * peer that is not the only one configured, and a valid, untampered
 * message that is refused.
 */
#include <arpa/inet.h>
#include <endian.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <sodium.h>

#include "aead.h"
#include "peer.h"

int	LLVMFuzzerInitialize(int *argc, char ***argv);
int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NS		UINT64_C(1000000000)
#define MS		UINT64_C(1000000)
#define T0		(UINT64_C(1000) * NS)
#define REAL(mono)	(UINT64_C(1700000000) * NS + (mono))
#define MTU		1420
#define PKT_CAP		2048
#define MAX_HOPS	6

enum mode {
	MODE_RAW,
	MODE_INITIATION,
	MODE_TRANSPORT,
	MODE_COOKIE,
	MODE_RESPONSE,
	MODE_STATEFUL_RAW,
	MODE_COUNT
};

#define FLAG_UNDER_LOAD	0x01
#define FLAG_REMAC	0x02
#define FLAG_V6		0x04
#define FLAG_CLOCK(f)	(((f) >> 3) & 7)
#define FLAG_CONFIRM	0x40
#define FLAG_TIMERS	0x80

#define SUB_REPLAY	0x01
#define SUB_STRANGER	0x02
#define SUB_LOW_ORDER	0x04
#define SUB_KEEPALIVE	0x08
#define SUB_DRIVE	0x10

/* Every point of small order on Curve25519 (libsodium refuses each). */
static const uint8_t low_order[7][WG_KEY_LEN] = {
	{ 0x00 },
	{ 0x01 },
	{ 0xe0, 0xeb, 0x7a, 0x7c, 0x3b, 0x41, 0xb8, 0xae, 0x16, 0x56, 0xe3,
	  0xfa, 0xf1, 0x9f, 0xc4, 0x6a, 0xda, 0x09, 0x8d, 0xeb, 0x9c, 0x32,
	  0xb1, 0xfd, 0x86, 0x62, 0x05, 0x16, 0x5f, 0x49, 0xb8, 0x00 },
	{ 0x5f, 0x9c, 0x95, 0xbc, 0xa3, 0x50, 0x8c, 0x24, 0xb1, 0xd0, 0xb1,
	  0x55, 0x9c, 0x83, 0xef, 0x5b, 0x04, 0x44, 0x5c, 0xc4, 0x58, 0x1c,
	  0x8e, 0x86, 0xd8, 0x22, 0x4e, 0xdd, 0xd0, 0x9f, 0x11, 0x57 },
#define P_MINUS(lo) { lo, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,	\
	  0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,	\
	  0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,	\
	  0x7f }
	P_MINUS(0xec),		/* p - 1 */
	P_MINUS(0xed),		/* p */
	P_MINUS(0xee),		/* p + 1 */
#undef P_MINUS
};

/* Offsets from T0 for the fuzzed datagram: around every timer boundary. */
static const uint64_t clock_offsets[8] = {
	0, 1 * MS, 20 * MS, 5 * NS + 334 * MS, 10 * NS + 1, 121 * NS,
	166 * NS, 181 * NS,
};

/* ---- Deterministic randomness ------------------------------------------- */

static uint64_t rng_state;

static uint64_t
splitmix64(void)
{
	uint64_t z = (rng_state += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

static const char *
rng_name(void)
{
	return "fuzz_wg";
}

static uint32_t
rng_random(void)
{
	return (uint32_t)splitmix64();
}

static void
rng_buf(void *const buf, const size_t size)
{
	uint8_t *p = buf;
	size_t i;
	uint64_t v = 0;

	for (i = 0; i < size; i++) {
		if ((i & 7) == 0)
			v = splitmix64();
		p[i] = (uint8_t)(v >> (8 * (i & 7)));
	}
}

static randombytes_implementation rng_impl = {
	.implementation_name = rng_name,
	.random = rng_random,
	.buf = rng_buf,
};

/* ---- Input reader: zeros once the input runs out ------------------------ */

struct reader {
	const uint8_t	*p;
	size_t		 n;
};

static uint8_t
rd8(struct reader *r)
{
	if (r->n == 0)
		return 0;
	r->n--;
	return *r->p++;
}

static uint16_t
rd16(struct reader *r)
{
	uint16_t v = rd8(r);

	return (uint16_t)(v | (uint16_t)rd8(r) << 8);
}

/* XORs up to len input bytes over dst; true if any of them was non-zero. */
static bool
rdxor(struct reader *r, uint8_t *dst, size_t len)
{
	uint8_t any = 0, b;
	size_t i;

	for (i = 0; i < len && r->n > 0; i++) {
		b = rd8(r);
		dst[i] ^= b;
		any |= b;
	}
	return any != 0;
}

/* ---- The two devices ---------------------------------------------------- */

struct node {
	struct wg_device	 dev;
	struct wg_peer		*peer;		/* the other node */
	struct sockaddr_in	 addr;
	struct sockaddr_in6	 addr6;
	struct node		*other;
};

static struct node A, B, C;

/* A broken invariant: say which, then abort (a libFuzzer crash). */
#define trap_if(cond) do {						\
	if (cond) {							\
		fprintf(stderr, "fuzz_wg.c:%d: %s\n", __LINE__, #cond);	\
		abort();						\
	}								\
} while (0)

static void
node_setup(struct node *n, uint8_t key_byte, uint16_t port)
{
	uint8_t priv[WG_KEY_LEN];

	memset(priv, key_byte, sizeof(priv));
	trap_if(wg_device_init(&n->dev, priv) != 0);
	n->addr.sin_family = AF_INET;
	n->addr.sin_port = htons(port);
	n->addr.sin_addr.s_addr = htonl(0xc6336400 | (port & 0xff));
	n->addr6.sin6_family = AF_INET6;
	n->addr6.sin6_port = htons(port);
	n->addr6.sin6_addr.s6_addr[0] = 0xfd;
	n->addr6.sin6_addr.s6_addr[15] = (uint8_t)port;
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	/* Must come before sodium_init(), which aead_global_init() calls. */
	trap_if(randombytes_set_implementation(&rng_impl) != 0);
	trap_if(aead_global_init() != 0);
	rng_state = 1;
	node_setup(&A, 0x41, 51820);
	node_setup(&B, 0x42, 51821);
	node_setup(&C, 0x43, 51822);
	A.other = &B;
	B.other = &A;
	C.other = &A;		/* C knows A; A does not know C */
	trap_if(wg_peer_add(&A.dev, B.dev.static_public, NULL, &A.peer) != 0);
	trap_if(wg_peer_add(&B.dev, A.dev.static_public, NULL, &B.peer) != 0);
	trap_if(wg_peer_add(&C.dev, A.dev.static_public, NULL, &C.peer) != 0);
	return 0;
}

static bool
index_table_empty(const struct wg_device *dev)
{
	size_t i;

	for (i = 0; i < WG_INDEX_BUCKETS; i++)
		if (dev->index_table[i] != NULL)
			return false;
	return true;
}

/* Back to "configured, never talked": what every input starts from. */
static void
node_reset(struct node *n)
{
	struct wg_peer *p = n->peer;

	wg_peer_clear_keys(p);
	/* Survives wg_handshake_clear() on purpose (replay protection). */
	memset(p->latest_timestamp, 0, sizeof(p->latest_timestamp));
	p->last_initiation_consumption = 0;
	wg_cookie_init(&p->cookie);
	wg_timers_init(&p->timers);
	p->rx_bytes = p->tx_bytes = 0;
	p->last_handshake_real_ns = 0;
	p->persistent_keepalive_interval = 0;
	p->endpoint_len = 0;
	memset(&p->endpoint, 0, sizeof(p->endpoint));
	wg_cookie_checker_init(&n->dev.cookie_checker, n->dev.static_public);
	trap_if(!index_table_empty(&n->dev));
}

/* ---- Delivering datagrams ----------------------------------------------- */

struct ctx {
	uint8_t		sub;
	uint8_t		flags;
	bool		lossy;		/* timers' datagrams are lost */
	uint64_t	now;
	int		hops;		/* replies bounced so far */
};

static const struct sockaddr *
src_of(const struct node *from, bool v6, socklen_t *len)
{
	if (v6) {
		*len = sizeof(from->addr6);
		return (const struct sockaddr *)&from->addr6;
	}
	*len = sizeof(from->addr);
	return (const struct sockaddr *)&from->addr;
}

/* What the I/O layer may rely on after wg_device_receive(). */
static void
check_rx(const struct node *to, const uint8_t *buf, size_t len, int r,
    const struct wg_rx *rx, const uint8_t *reply)
{
	volatile uint8_t sink = 0;
	size_t i;

	trap_if(r > 0);
	if (r < 0) {
		trap_if((rx->events & WG_RX_DATA) != 0);
		return;
	}
	trap_if(rx->peer != NULL && rx->peer != to->peer);
	if (rx->events & WG_RX_REPLY) {
		trap_if(rx->reply_len > WG_REPLY_MAX);
		switch (wg_message_type(reply, rx->reply_len)) {
		case WG_MSG_HANDSHAKE_RESPONSE:
		case WG_MSG_COOKIE_REPLY:
			break;
		default:
			trap_if(!"reply of an unexpected type");
		}
	}
	if (rx->events & WG_RX_DATA) {
		trap_if(rx->peer == NULL || rx->plain == NULL);
		trap_if(rx->plain < buf + WG_MSG_DATA_HEADER_LEN);
		trap_if(rx->plain_len == 0 ||
		    rx->plain_len > len - WG_MSG_DATA_MIN_LEN);
		trap_if(rx->plain + rx->plain_len > buf + len);
		/* Let ASan see every byte the caller would write to TUN. */
		for (i = 0; i < rx->plain_len; i++)
			sink ^= rx->plain[i];
	}
	if (rx->events & (WG_RX_KEEPALIVE | WG_RX_SEND_STAGED | WG_RX_COOKIE |
	    WG_RX_BAD_INNER))
		trap_if(rx->peer == NULL);
	(void)sink;
}

static void send_keepalive(struct ctx *, struct node *from);

/*
 * One datagram from `from` to `to`, copied into a buffer of exactly its
 * size so ASan catches reads past it; then what netd would do next (send
 * the reply, send a keepalive to confirm a new session), bounded.
 */
static int
deliver(struct ctx *c, struct node *from, struct node *to, const uint8_t *msg,
    size_t len, bool under_load, bool v6, unsigned *events)
{
	uint8_t reply[WG_REPLY_MAX];
	const struct sockaddr *src;
	struct wg_rx rx;
	socklen_t srclen;
	uint8_t *buf;
	int r;

	if ((buf = malloc(len > 0 ? len : 1)) == NULL)
		return -ENOMEM;
	memcpy(buf, msg, len);
	src = src_of(from, v6, &srclen);
	r = wg_device_receive(&to->dev, buf, len, src, srclen, under_load,
	    c->now, REAL(c->now), reply, &rx);
	check_rx(to, buf, len, r, &rx, reply);
	free(buf);
	if (events != NULL)
		*events = r == 0 ? rx.events : 0;
	if (r < 0 || c->hops >= MAX_HOPS)
		return r;
	if (rx.events & WG_RX_REPLY) {
		c->hops++;
		(void)deliver(c, to, from, reply, rx.reply_len, under_load, v6,
		    NULL);
	} else if (rx.events & WG_RX_KEEPALIVE_IF_IDLE) {
		c->hops++;
		send_keepalive(c, to);
	}
	return r;
}

static void
send_keepalive(struct ctx *c, struct node *from)
{
	uint8_t pkt[PKT_CAP];
	size_t len;

	if (wg_send_data(from->peer, pkt, sizeof(pkt), 0, MTU, c->now,
	    &len) == 0 && !c->lossy)
		(void)deliver(c, from, from->other, pkt, len, false, false, NULL);
}

/* As netd does when the peer's timer fires. */
static void
run_timers(struct ctx *c, struct node *n)
{
	struct wg_msg_initiation msg;
	unsigned act;

	act = wg_timers_poll(n->peer, c->now);
	(void)wg_timers_next_deadline(n->peer);
	if ((act & WG_ACTION_SEND_HANDSHAKE_INITIATION) &&
	    wg_send_initiation(n->peer, &msg, c->now, REAL(c->now)) == 0 &&
	    !c->lossy)
		(void)deliver(c, n, n->other, (const uint8_t *)&msg, sizeof(msg),
		    false, false, NULL);
	if (act & WG_ACTION_SEND_KEEPALIVE)
		send_keepalive(c, n);
}

static void
maybe_run_timers(struct ctx *c)
{
	if (c->flags & FLAG_TIMERS) {
		c->hops = 0;
		run_timers(c, &A);
		run_timers(c, &B);
	}
}

/* Clock steps of up to ~32 s; each step's datagrams arrive or are lost. */
static void
drive(struct ctx *c, struct reader *in)
{
	uint8_t step;
	int i;

	for (i = 0; i < 32 && in->n > 0; i++) {
		step = rd8(in);
		c->now += (uint64_t)(step & 0x7f) * 250 * MS;
		c->lossy = (step & 0x80) == 0;
		c->hops = 0;
		run_timers(c, &A);
		run_timers(c, &B);
	}
	c->lossy = false;
}

/* The same datagram again, with nothing bounced back. */
static void
replay(struct ctx *c, struct node *from, struct node *to, const uint8_t *msg,
    size_t len)
{
	if (c->sub & SUB_REPLAY) {
		c->hops = MAX_HOPS;
		(void)deliver(c, from, to, msg, len, c->flags & FLAG_UNDER_LOAD,
		    c->flags & FLAG_V6, NULL);
	}
}

/* ---- Building blocks ---------------------------------------------------- */

/*
 * A keypair from the last handshake: next until the bounced response and
 * keepalive confirm it, current afterwards.
 */
static bool
has_session(const struct node *n)
{
	return n->peer->keypairs.next != NULL ||
	    n->peer->keypairs.current != NULL;
}

/* B's initiation to A, exactly as netd sends it. */
static void
make_initiation(struct ctx *c, struct node *from, struct wg_msg_initiation *msg)
{
	/* Reset per input, so only a bug makes this fail. */
	trap_if(wg_send_initiation(from->peer, msg, c->now, REAL(c->now)) != 0);
}

/* Recomputes MAC1 (and MAC2 if a cookie is held) with the sender's view. */
static void
remac(struct node *from, uint8_t *msg, size_t len, uint64_t now)
{
	struct wg_cookie saved = from->peer->cookie;

	wg_cookie_add_macs(&from->peer->cookie, from->peer->public_key, msg,
	    len, now);
	/* The sender did not send this: keep its cookie state as it was. */
	from->peer->cookie = saved;
}

/* init -> resp handshake, no bouncing; init ends with a current keypair. */
static void
handshake(struct ctx *c, struct node *init, bool confirm)
{
	struct wg_msg_initiation msg;
	uint8_t reply[WG_REPLY_MAX], reply2[WG_REPLY_MAX];
	const struct sockaddr *src;
	struct wg_rx rx;
	socklen_t srclen;

	make_initiation(c, init, &msg);
	src = src_of(init, false, &srclen);
	trap_if(wg_device_receive(&init->other->dev, (uint8_t *)&msg,
	    sizeof(msg), src, srclen, false, c->now, REAL(c->now), reply,
	    &rx) != 0 || rx.reply_len != WG_MSG_RESPONSE_LEN);
	src = src_of(init->other, false, &srclen);
	trap_if(wg_device_receive(&init->dev, reply, rx.reply_len, src, srclen,
	    false, c->now, REAL(c->now), reply2, &rx) != 0 ||
	    init->peer->keypairs.current == NULL);
	if (confirm) {
		c->hops = MAX_HOPS;	/* just the keepalive */
		send_keepalive(c, init);
		trap_if(init->other->peer->keypairs.current == NULL);
		c->hops = 0;
	}
}

/* ---- Modes -------------------------------------------------------------- */

static void
mode_raw(struct ctx *c, struct reader *in)
{
	c->now += clock_offsets[FLAG_CLOCK(c->flags)];
	(void)deliver(c, &B, &A, in->p, in->n, c->flags & FLAG_UNDER_LOAD,
	    c->flags & FLAG_V6, NULL);
	replay(c, &B, &A, in->p, in->n);
	maybe_run_timers(c);
}

static void
mode_initiation(struct ctx *c, struct reader *in)
{
	struct wg_msg_initiation msg;
	struct node *from = (c->sub & SUB_STRANGER) ? &C : &B;
	bool tampered, under_load = c->flags & FLAG_UNDER_LOAD;
	bool remac_it = c->flags & FLAG_REMAC;
	unsigned events;
	int r;

	make_initiation(c, from, &msg);
	tampered = from != &B;
	if (c->sub & SUB_LOW_ORDER) {
		memcpy(msg.unencrypted_ephemeral, low_order[rd8(in) % 7],
		    WG_KEY_LEN);
		tampered = remac_it = true;
	}
	if (rdxor(in, (uint8_t *)&msg, sizeof(msg)))
		tampered = true;
	if (remac_it)
		remac(from, (uint8_t *)&msg, sizeof(msg), c->now);
	c->now += clock_offsets[FLAG_CLOCK(c->flags)];
	r = deliver(c, from, &A, (const uint8_t *)&msg, sizeof(msg), under_load,
	    c->flags & FLAG_V6, &events);
	/* A replayed initiation: stale timestamp, never a second session. */
	replay(c, from, &A, (const uint8_t *)&msg, sizeof(msg));
	/* Intact and not under load: A must answer with a response. */
	if (!tampered && !under_load)
		trap_if(r != 0 || events != WG_RX_REPLY || !has_session(&A));
	/* Intact under load (no cookie yet): A must answer with a cookie. */
	if (!tampered && under_load)
		trap_if(r != 0 || events != WG_RX_REPLY || has_session(&A));
	maybe_run_timers(c);
}

/* One data packet, described by the payload. */
static void
transport_packet(struct ctx *c, struct reader *in, bool *clean)
{
	uint8_t pkt[PKT_CAP];
	struct node *from, *to;
	struct wg_keypair *kp;
	size_t plen, len, off, iplen;
	uint8_t op = rd8(in);
	unsigned events;
	bool intact = true;
	int r;

	from = (op & 0x01) ? &A : &B;
	to = from->other;
	plen = rd16(in) % (MTU + 1);
	memset(pkt, 0, sizeof(pkt));
	(void)rdxor(in, pkt + WG_MSG_DATA_HEADER_LEN, rd8(in) % (plen + 1));
	if ((op & 0x02) && plen >= 20) {
		/* An IPv4 header claiming some length: reaches WG_RX_DATA. */
		iplen = plen - (rd8(in) & 0x0f);
		pkt[WG_MSG_DATA_HEADER_LEN] = 0x45;
		pkt[WG_MSG_DATA_HEADER_LEN + 2] = (uint8_t)(iplen >> 8);
		pkt[WG_MSG_DATA_HEADER_LEN + 3] = (uint8_t)iplen;
	}
	kp = from->peer->keypairs.current;
	if ((op & 0x04) && kp != NULL) {
		/* Skip ahead: drives the replay window (jumps, too old). */
		kp->send_counter += (op & 0x08) ? (uint64_t)rd16(in) << 16 :
		    rd16(in);
		intact = false;
	} else if ((op & 0x08) && kp != NULL &&
	    kp->send_counter < WG_REJECT_AFTER_MESSAGES - 256) {
		/* Next to the message limits. */
		kp->send_counter = WG_REJECT_AFTER_MESSAGES - 256 + rd8(in);
		intact = false;
	}
	if (op & 0x80) {
		/* Up to 255 s: past REKEY_AFTER_TIME and REJECT_AFTER_TIME. */
		c->now += (uint64_t)rd8(in) * NS;
		intact = false;
	}
	r = wg_send_data(from->peer, pkt, sizeof(pkt), plen, MTU, c->now, &len);
	if (r != 0)
		return;
	if (op & 0x10) {
		off = rd16(in) % len;
		if (rdxor(in, pkt + off, (size_t)rd8(in) % (len - off + 1)))
			intact = false;
	}
	if (op & 0x20) {
		len -= rd8(in) % (len + 1);
		intact = false;
	}
	c->hops = MAX_HOPS - 1;
	r = deliver(c, from, to, pkt, len, false, c->flags & FLAG_V6, &events);
	/*
	 * Everything so far was by the book, the receiver has a session and
	 * no clock moved: the packet must be accepted.
	 */
	if (intact && *clean && from == &B)
		trap_if(r != 0);
	if (!intact)
		*clean = false;
	if (op & 0x40) {
		/* The same datagram again: a replay, never accepted. */
		c->hops = MAX_HOPS;
		r = deliver(c, from, to, pkt, len, false, false, &events);
		if (len >= WG_MSG_DATA_MIN_LEN)
			trap_if(r == 0);
	}
}

static void
mode_transport(struct ctx *c, struct reader *in)
{
	bool clean = true;
	int i;

	handshake(c, &B, c->flags & FLAG_CONFIRM);
	c->now += clock_offsets[FLAG_CLOCK(c->flags)];
	if (FLAG_CLOCK(c->flags) >= 5)	/* keypairs possibly expired */
		clean = false;
	for (i = 0; i < 8 && in->n > 0; i++)
		transport_packet(c, in, &clean);
	maybe_run_timers(c);
}

static void
mode_cookie(struct ctx *c, struct reader *in)
{
	struct wg_msg_initiation msg;
	uint8_t reply[WG_REPLY_MAX];
	const struct sockaddr *src;
	struct wg_rx rx;
	socklen_t srclen;
	bool tampered, v6 = c->flags & FLAG_V6;
	unsigned events;
	int r;

	make_initiation(c, &B, &msg);
	src = src_of(&B, v6, &srclen);
	r = wg_device_receive(&A.dev, (uint8_t *)&msg, sizeof(msg), src, srclen,
	    true, c->now, REAL(c->now), reply, &rx);
	trap_if(r != 0 || rx.reply_len != WG_MSG_COOKIE_LEN);
	tampered = rdxor(in, reply, WG_MSG_COOKIE_LEN);
	c->now += clock_offsets[FLAG_CLOCK(c->flags) & 3];
	c->hops = MAX_HOPS;
	r = deliver(c, &A, &B, reply, WG_MSG_COOKIE_LEN, false, v6, &events);
	if (!tampered)
		trap_if(r != 0 || events != WG_RX_COOKIE ||
		    !B.peer->cookie.have_cookie);
	/* The retry, once REKEY_TIMEOUT allows it, with MAC2 if B can. */
	c->now += WG_REKEY_TIMEOUT * NS + 1;
	make_initiation(c, &B, &msg);
	c->hops = 0;
	r = deliver(c, &B, &A, (const uint8_t *)&msg, sizeof(msg), true, v6,
	    &events);
	/* Under load, a valid MAC2 gets a response; without it a cookie. */
	if (!tampered)
		trap_if(r != 0 || events != WG_RX_REPLY || !has_session(&A));
	maybe_run_timers(c);
}

static void
mode_response(struct ctx *c, struct reader *in)
{
	struct wg_msg_initiation msg;
	uint8_t reply[WG_REPLY_MAX];
	const struct sockaddr *src;
	struct wg_rx rx;
	socklen_t srclen;
	struct wg_msg_response *resp = (struct wg_msg_response *)reply;
	bool tampered = false, remac_it = c->flags & FLAG_REMAC;
	unsigned events;
	int r;

	make_initiation(c, &B, &msg);
	src = src_of(&B, false, &srclen);
	r = wg_device_receive(&A.dev, (uint8_t *)&msg, sizeof(msg), src, srclen,
	    false, c->now, REAL(c->now), reply, &rx);
	trap_if(r != 0 || rx.reply_len != WG_MSG_RESPONSE_LEN);
	if (c->sub & SUB_LOW_ORDER) {
		memcpy(resp->unencrypted_ephemeral, low_order[rd8(in) % 7],
		    WG_KEY_LEN);
		tampered = remac_it = true;
	}
	if (rdxor(in, reply, WG_MSG_RESPONSE_LEN))
		tampered = true;
	if (remac_it)
		remac(&A, reply, WG_MSG_RESPONSE_LEN, c->now);
	c->now += clock_offsets[FLAG_CLOCK(c->flags)];
	r = deliver(c, &A, &B, reply, WG_MSG_RESPONSE_LEN,
	    c->flags & FLAG_UNDER_LOAD, c->flags & FLAG_V6, &events);
	replay(c, &A, &B, reply, WG_MSG_RESPONSE_LEN);
	if (!tampered && !(c->flags & FLAG_UNDER_LOAD))
		trap_if(r != 0 || B.peer->keypairs.current == NULL ||
		    !(events & WG_RX_SEND_STAGED));
	maybe_run_timers(c);
}

/* A receiver index A has listed, picked by sel. */
static bool
a_index(uint8_t sel, uint32_t *idx)
{
	const struct wg_peer *p = A.peer;
	const struct wg_keypair *kp;

	switch (sel & 3) {
	case 0:
		if (p->handshake == NULL || p->handshake->entry.type == 0)
			return false;
		*idx = p->handshake->entry.index;
		return true;
	case 1:
		kp = p->keypairs.current;
		break;
	case 2:
		kp = p->keypairs.next;
		break;
	default:
		kp = p->keypairs.previous;
		break;
	}
	if (kp == NULL)
		return false;
	*idx = kp->entry.index;
	return true;
}

static void
mode_stateful_raw(struct ctx *c, struct reader *in)
{
	struct wg_msg_initiation msg;
	uint8_t pkt[PKT_CAP], op;
	uint32_t idx;
	size_t len;
	int i;

	switch (rd8(in) % 4) {
	case 0:		/* A's initiation is outstanding */
		make_initiation(c, &A, &msg);
		break;
	case 1:		/* A responded; its keypair is next */
		handshake(c, &B, false);
		break;
	case 2:		/* confirmed both ways */
		handshake(c, &B, true);
		break;
	default:	/* and then rekeyed: A has current and previous */
		handshake(c, &B, true);
		c->now += WG_REKEY_TIMEOUT * NS + 1;
		handshake(c, &A, false);
		break;
	}
	c->now += clock_offsets[FLAG_CLOCK(c->flags)];
	for (i = 0; i < 8 && in->n > 0; i++) {
		op = rd8(in);
		len = rd16(in) % (sizeof(pkt) + 1);
		memset(pkt, 0, len);
		(void)rdxor(in, pkt, len);
		if ((op & 0x80) && len >= 8 && a_index(op, &idx)) {
			idx = htole32(idx);
			memcpy(pkt + 4, &idx, sizeof(idx));
		}
		if ((op & 0x40) && len >= 4) {
			/* A well-formed header: type from op, reserved zero. */
			pkt[0] = (uint8_t)(1 + ((op >> 2) & 3));
			pkt[1] = pkt[2] = pkt[3] = 0;
		}
		c->hops = (op & 0x20) ? 0 : MAX_HOPS;
		(void)deliver(c, &B, &A, pkt, len, op & 0x10, c->flags & FLAG_V6,
		    NULL);
	}
	maybe_run_timers(c);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct reader in = { data, size };
	struct ctx c = { 0 };
	uint8_t mode;

	if (size < 2)
		return 0;
	mode = rd8(&in);
	c.sub = mode / MODE_COUNT;
	mode %= MODE_COUNT;
	c.flags = rd8(&in);
	c.now = T0;
	rng_state = 1;
	node_reset(&A);
	node_reset(&B);
	node_reset(&C);
	if (c.sub & SUB_KEEPALIVE) {
		wg_timers_set_persistent_keepalive(A.peer, 25, c.now);
		wg_timers_set_persistent_keepalive(B.peer, 25, c.now);
	}
	switch (mode) {
	case MODE_RAW:
		mode_raw(&c, &in);
		break;
	case MODE_INITIATION:
		mode_initiation(&c, &in);
		break;
	case MODE_TRANSPORT:
		mode_transport(&c, &in);
		break;
	case MODE_COOKIE:
		mode_cookie(&c, &in);
		break;
	case MODE_RESPONSE:
		mode_response(&c, &in);
		break;
	default:
		mode_stateful_raw(&c, &in);
		break;
	}
	if (c.sub & SUB_DRIVE)
		drive(&c, &in);
	/* Frees every keypair (and its OpenSSL contexts) of this input. */
	node_reset(&A);
	node_reset(&B);
	node_reset(&C);
	return 0;
}
