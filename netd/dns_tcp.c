/*
 * A minimal TCP responder for DNS on port 53 of the quad-100 addresses,
 * enough for RFC 7766 clients (dig +tcp, glibc after TC):
 *
 *   SYN -> SYN-ACK (random ISS, MSS option)          state SYN_RCVD
 *   ACK of our SYN                                    ESTABLISHED
 *   in-order data -> ACK; every complete 2-byte-length-framed message
 *     goes to dnsd; out-of-order data is dropped and re-ACKed
 *   dnsd's answer -> length prefix + data, cut at the peer's MSS, PSH|ACK
 *   FIN -> ACK; our FIN once every answer is out     LAST_ACK -> closed
 *   RST, or idle for DNS_TCP_IDLE_MS -> gone (RST on idle)
 *   segment for no connection -> RST (RFC 793 "reset generation")
 *
 * Bounded: DNS_TCP_CONNS connections, DNS_TCP_RBUF bytes of one unfinished
 * query per connection (a longer query is a RST).  Our segments cross only the local
 * TUN, so nothing is retransmitted and the receive window is fixed.
 */
#include <stddef.h>
#include <string.h>
#include <sys/random.h>
#include <uv.h>

#include "bytes.h"
#include "dns_intercept.h"
#include "log.h"
#include "netd.h"

#define DNS_TCP_CONNS		64
#define DNS_TCP_RBUF		4096	/* unfinished query bytes */
#define DNS_TCP_IDLE_MS		10000
#define DNS_TCP_MSS		1200	/* fits the 1280 minimum MTU */
#define DNS_TCP_WINDOW		65535

#define TH_FIN	0x01
#define TH_SYN	0x02
#define TH_RST	0x04
#define TH_PSH	0x08
#define TH_ACK	0x10

enum tcp_state { T_FREE, T_SYN_RCVD, T_ESTABLISHED, T_LAST_ACK };

struct tcp_conn {
	enum tcp_state	state;
	uint32_t	id;		/* generation << 8 | slot */
	bool		v6;
	uint8_t		client[16], server[16];
	uint16_t	cport;
	uint32_t	snd_nxt, rcv_nxt;
	uint16_t	mss;
	bool		fin_rcvd;
	unsigned	pending;	/* queries at dnsd */
	uint64_t	last_ms;
	size_t		rlen;
	uint8_t		rbuf[DNS_TCP_RBUF];
};

static struct tcp_conn conns[DNS_TCP_CONNS];
static uint32_t generation;
static uv_timer_t idle_timer;
static bool timer_on;
static struct netd *timer_nd;

/* One segment from `srv`:53 to `cli`:cport. */
static void
send_seg(struct netd *nd, bool v6, const uint8_t *srv, const uint8_t *cli,
    uint16_t cport, uint32_t seq, uint32_t ack, uint8_t flags,
    const uint8_t *data, size_t len, bool mss_opt)
{
	static uint8_t seg[24 + DNS_TCP_MSS];
	size_t hl = mss_opt ? 24 : 20;

	memset(seg, 0, hl);
	wr16(seg, 53);
	wr16(seg + 2, cport);
	wr32(seg + 4, seq);
	wr32(seg + 8, ack);
	seg[12] = (uint8_t)((hl / 4) << 4);
	seg[13] = flags;
	wr16(seg + 14, DNS_TCP_WINDOW);
	if (mss_opt) {
		seg[20] = 2;	/* MSS, RFC 793 */
		seg[21] = 4;
		wr16(seg + 22, DNS_TCP_MSS);
	}
	if (len > 0)
		memcpy(seg + hl, data, len);
	dns_ip_send(nd, v6, srv, cli, 6, seg, hl + len, 16);
}

static void
conn_send(struct netd *nd, struct tcp_conn *c, uint8_t flags,
    const uint8_t *data, size_t len)
{
	send_seg(nd, c->v6, c->server, c->client, c->cport, c->snd_nxt,
	    c->rcv_nxt, flags, data, len, false);
	c->snd_nxt += (uint32_t)len + ((flags & (TH_SYN | TH_FIN)) ? 1 : 0);
}

static void
conn_free(struct tcp_conn *c)
{
	c->state = T_FREE;
	c->rlen = 0;
}

static void
conn_reset(struct netd *nd, struct tcp_conn *c)
{
	send_seg(nd, c->v6, c->server, c->client, c->cport, c->snd_nxt, 0,
	    TH_RST, NULL, 0, false);
	conn_free(c);
}

static void
on_idle(uv_timer_t *t)
{
	uint64_t now = now_ms();

	(void)t;
	for (int i = 0; i < DNS_TCP_CONNS; i++)
		if (conns[i].state != T_FREE &&
		    now - conns[i].last_ms > DNS_TCP_IDLE_MS)
			conn_reset(timer_nd, &conns[i]);
}

static struct tcp_conn *
find(bool v6, const uint8_t *cli, uint16_t cport, const uint8_t *srv)
{
	size_t alen = v6 ? 16 : 4;

	for (int i = 0; i < DNS_TCP_CONNS; i++) {
		struct tcp_conn *c = &conns[i];
		if (c->state != T_FREE && c->v6 == v6 && c->cport == cport &&
		    memcmp(c->client, cli, alen) == 0 &&
		    memcmp(c->server, srv, alen) == 0)
			return c;
	}
	return NULL;
}

/* The peer's MSS option, else the RFC 879 default. */
static uint16_t
peer_mss(const uint8_t *seg, size_t hl)
{
	for (size_t o = 20; o + 1 < hl;) {
		uint8_t kind = seg[o];
		if (kind == 0)
			break;
		if (kind == 1) {
			o++;
			continue;
		}
		if (seg[o + 1] < 2 || o + seg[o + 1] > hl)
			break;
		if (kind == 2 && seg[o + 1] == 4) {
			uint16_t m = rd16(seg + o + 2);
			return m < 64 ? 64 : m > DNS_TCP_MSS ? DNS_TCP_MSS : m;
		}
		o += seg[o + 1];
	}
	return 536;
}

static void
accept_syn(struct netd *nd, bool v6, const uint8_t *cli, uint16_t cport,
    const uint8_t *srv, const uint8_t *seg, size_t hl)
{
	struct tcp_conn *c = NULL;
	uint32_t iss;

	for (int i = 0; i < DNS_TCP_CONNS && c == NULL; i++)
		if (conns[i].state == T_FREE)
			c = &conns[i];
	if (c == NULL) {	/* full: refuse */
		send_seg(nd, v6, srv, cli, cport, 0, rd32(seg + 4) + 1,
		    TH_RST | TH_ACK, NULL, 0, false);
		return;
	}
	if (!timer_on) {
		timer_nd = nd;
		uv_timer_init(nd->c.loop, &idle_timer);
		uv_timer_start(&idle_timer, on_idle, 1000, 1000);
		timer_on = true;
	}
	if (getrandom(&iss, sizeof(iss), 0) != sizeof(iss))
		iss = (uint32_t)now_ms() * 2654435761u;
	memset(c, 0, offsetof(struct tcp_conn, rbuf));
	c->id = (++generation << 8) | (uint32_t)(c - conns);
	if (c->id == 0)
		c->id = (++generation << 8) | (uint32_t)(c - conns);
	c->v6 = v6;
	memcpy(c->client, cli, v6 ? 16 : 4);
	memcpy(c->server, srv, v6 ? 16 : 4);
	c->cport = cport;
	c->rcv_nxt = rd32(seg + 4) + 1;
	c->snd_nxt = iss;
	c->mss = peer_mss(seg, hl);
	c->state = T_SYN_RCVD;
	c->last_ms = now_ms();
	send_seg(nd, v6, srv, cli, cport, iss, c->rcv_nxt, TH_SYN | TH_ACK,
	    NULL, 0, true);
	c->snd_nxt = iss + 1;
}

static void
maybe_close(struct netd *nd, struct tcp_conn *c)
{
	if (c->fin_rcvd && c->pending == 0 && c->state == T_ESTABLISHED) {
		conn_send(nd, c, TH_FIN | TH_ACK, NULL, 0);
		c->state = T_LAST_ACK;
	}
}

/* Complete framed messages in rbuf go to dnsd. */
static void
take_messages(struct netd *nd, struct tcp_conn *c)
{
	size_t off = 0;

	while (c->rlen - off >= 2 &&
	    c->rlen - off >= 2 + (size_t)rd16(c->rbuf + off)) {
		size_t n = rd16(c->rbuf + off);
		if (n > 0) {
			dns_icpt_ctr.tcp_queries++;
			dns_intercept_queue(nd, c->v6, c->client, c->cport,
			    c->server, c->id, c->rbuf + off + 2, n);
			c->pending++;
		}
		off += 2 + n;
	}
	memmove(c->rbuf, c->rbuf + off, c->rlen - off);
	c->rlen -= off;
}

/* Appends in-order data, handing out every complete message as it goes,
 * so a burst of pipelined queries larger than the buffer is fine; only a
 * single message larger than DNS_TCP_RBUF resets the connection. */
static bool
append(struct netd *nd, struct tcp_conn *c, const uint8_t *data, size_t len)
{
	while (len > 0) {
		size_t n = DNS_TCP_RBUF - c->rlen;
		if (n == 0)
			return false;
		if (n > len)
			n = len;
		memcpy(c->rbuf + c->rlen, data, n);
		c->rlen += n;
		c->rcv_nxt += (uint32_t)n;
		data += n;
		len -= n;
		take_messages(nd, c);
	}
	return true;
}

static void
data_in(struct netd *nd, struct tcp_conn *c, uint32_t seq, uint8_t flags,
    const uint8_t *data, size_t len)
{
	if (seq != c->rcv_nxt) {	/* out of order or duplicate */
		conn_send(nd, c, TH_ACK, NULL, 0);
		return;
	}
	if (len > 0 && (c->fin_rcvd || !append(nd, c, data, len))) {
		conn_reset(nd, c);
		return;
	}
	if ((flags & TH_FIN) && !c->fin_rcvd) {
		c->rcv_nxt++;
		c->fin_rcvd = true;
	}
	if (len > 0 || (flags & TH_FIN))
		conn_send(nd, c, TH_ACK, NULL, 0);
	maybe_close(nd, c);
}

void
dns_tcp_input(struct netd *nd, bool v6, const uint8_t *src,
    const uint8_t *dst, const uint8_t *seg, size_t len)
{
	struct tcp_conn *c;
	size_t hl;
	uint8_t flags;
	uint16_t sport;
	uint32_t seq, ack;

	if (len < 20 || (hl = (size_t)(seg[12] >> 4) * 4) < 20 || hl > len)
		return;
	flags = seg[13];
	sport = rd16(seg);
	seq = rd32(seg + 4);
	ack = rd32(seg + 8);
	c = find(v6, src, sport, dst);
	if (c == NULL) {
		if ((flags & (TH_SYN | TH_ACK | TH_RST)) == TH_SYN)
			accept_syn(nd, v6, src, sport, dst, seg, hl);
		else if (!(flags & TH_RST))
			send_seg(nd, v6, dst, src, sport, (flags & TH_ACK) ?
			    ack : 0, seq + (uint32_t)(len - hl) +
			    ((flags & (TH_SYN | TH_FIN)) ? 1 : 0),
			    TH_RST | ((flags & TH_ACK) ? 0 : TH_ACK), NULL, 0,
			    false);
		return;
	}
	c->last_ms = now_ms();
	if (flags & TH_RST) {
		conn_free(c);
		return;
	}
	if (flags & TH_SYN) {		/* a retransmitted SYN */
		if (c->state == T_SYN_RCVD)
			send_seg(nd, v6, dst, src, sport, c->snd_nxt - 1,
			    c->rcv_nxt, TH_SYN | TH_ACK, NULL, 0, true);
		return;
	}
	if (!(flags & TH_ACK))
		return;
	if (c->state == T_SYN_RCVD && ack == c->snd_nxt)
		c->state = T_ESTABLISHED;
	if (c->state == T_LAST_ACK) {
		if (ack == c->snd_nxt)
			conn_free(c);
		return;
	}
	if (c->state == T_ESTABLISHED)
		data_in(nd, c, seq, flags, seg + hl, len - hl);
}

bool
dns_tcp_reply(struct netd *nd, uint32_t conn, bool v6, const uint8_t *client,
    uint16_t client_port, const uint8_t *msg, size_t len)
{
	struct tcp_conn *c = &conns[(conn & 0xff) % DNS_TCP_CONNS];
	uint8_t seg[DNS_TCP_MSS];
	size_t off = 0, total = len + 2;

	if ((conn & 0xff) >= DNS_TCP_CONNS || c->state != T_ESTABLISHED ||
	    c->id != conn || c->v6 != v6 || c->cport != client_port ||
	    memcmp(c->client, client, v6 ? 16 : 4) != 0 || len > 65535)
		return false;
	if (c->pending > 0)
		c->pending--;
	/* The 2-byte length and the message, cut at the peer's MSS. */
	while (off < total) {
		size_t n = total - off < c->mss ? total - off : c->mss;
		for (size_t i = 0; i < n; i++) {
			size_t k = off + i;
			seg[i] = k == 0 ? (uint8_t)(len >> 8) : k == 1 ?
			    (uint8_t)len : msg[k - 2];
		}
		conn_send(nd, c, TH_ACK | (off + n == total ? TH_PSH : 0), seg,
		    n);
		off += n;
	}
	c->last_ms = now_ms();
	maybe_close(nd, c);
	return true;
}
