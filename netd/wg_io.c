#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "demux.h"
#include "disco_peer.h"
#include "log.h"
#include "netcheck.h"
#include "netd.h"
#include "offload.h"

#ifndef UDP_SEGMENT
#define UDP_SEGMENT	103
#endif
#ifndef UDP_GRO
#define UDP_GRO		104
#endif

/* More handshake messages than this per 100 ms: answer with cookies. */
#define LOAD_WINDOW_NS	100000000ULL
#define LOAD_THRESHOLD	128
#define LOAD_HOLD_NS	1000000000ULL
#define UDP_BURST	64	/* recvmmsg calls per wakeup */
#define RX_BATCH	32	/* datagrams (or GRO trains) per recvmmsg */
#define RX_BUF		65536
#define TX_ARENA	(1024 * 1024)
#define TX_MAX		512	/* messages queued before a flush */
#define GSO_MAX_SEGS	64	/* UDP_MAX_SEGMENTS on older kernels */
#define GSO_MAX_BYTES	60000
#define RL_GC_NS	1000000000ULL

/*
 * Sending: every data message is sealed in place in txarena, one after
 * the other, and queued; wg_io_flush() hands the queue to sendmmsg(), one
 * message per run of equal-length messages to the same peer (UDP GSO),
 * at the end of each TUN, UDP or timer wakeup.
 */
struct txmsg {
	struct netd_peer *np;
	uint32_t	 off;
	uint32_t	 len;
};

static uint8_t txarena[TX_ARENA];
static size_t txused;
static struct txmsg txq[TX_MAX];
static unsigned ntx;

static uint8_t rxbufs[RX_BATCH][RX_BUF];

uint64_t
wg_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static uint64_t
real_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

bool
wg_io_endpoint_derp(const struct wg_peer *p, uint32_t *region)
{
	if (p->endpoint_len != sizeof(struct sockaddr_in) ||
	    p->endpoint.sa.sa_family != AF_INET ||
	    p->endpoint.in4.sin_addr.s_addr != htonl(WG_DERP_MAGIC_IP))
		return false;
	*region = ntohs(p->endpoint.in4.sin_port);
	return true;
}

void
wg_io_derp_endpoint(struct sockaddr_in *sin, uint32_t region)
{
	memset(sin, 0, sizeof(*sin));
	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = htonl(WG_DERP_MAGIC_IP);
	sin->sin_port = htons((uint16_t)region);
}

static void
udp_send(struct netd *nd, struct wg_peer *p, const uint8_t *buf, size_t len)
{
	uint32_t region;

	if (p->endpoint_len == 0) {
		nd->wg.ctr.tx_no_endpoint++;
		return;
	}
	if (wg_io_endpoint_derp(p, &region)) {
		derp_send(nd, region, p->public_key, buf, len);
		return;
	}
	if (sendto(nd->wg.udp_fd, buf, len, 0, &p->endpoint.sa,
	    p->endpoint_len) < 0)
		nd->wg.ctr.udp_send_errors++;
}

/* No handshake completed over the direct endpoint within REKEY_TIMEOUT
 * (this is a retry): send through the peer's home DERP region instead.
 * Authenticated packets from a direct endpoint move it back.  Only for
 * peers without a disco key: disco chooses the path of the others. */
static void
maybe_fall_back_to_derp(struct netd_peer *np)
{
	struct sockaddr_in sin;
	uint32_t region;

	if (disco_peer_managed(np) || np->derp_region == 0 || np->p->timers.handshake_attempts == 0 ||
	    wg_io_endpoint_derp(np->p, &region))
		return;
	wg_io_derp_endpoint(&sin, np->derp_region);
	wg_peer_set_endpoint(np->p, (const struct sockaddr *)&sin,
	    sizeof(sin));
	log_info("tailnet: no handshake over the direct path; peer goes "
	    "through DERP region %u", np->derp_region);
}

static void
send_initiation(struct netd_peer *np)
{
	struct wg_msg_initiation msg;

	disco_peer_note_send(np, wg_now_ns());
	maybe_fall_back_to_derp(np);
	if (wg_send_initiation(np->p, &msg, wg_now_ns(), real_ns()) == 0) {
		udp_send(np->nd, np->p, (const uint8_t *)&msg, sizeof(msg));
		disco_peer_note_initiation(np, &msg, wg_now_ns());
	}
}

static bool
same_endpoint(const struct wg_peer *a, const struct wg_peer *b)
{
	return a == b || (a->endpoint_len == b->endpoint_len &&
	    memcmp(&a->endpoint, &b->endpoint, a->endpoint_len) == 0);
}

/* A run the kernel would not take as one GSO train, message by message. */
static void
flush_one_by_one(const struct txmsg *m, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		udp_send(m[i].np->nd, m[i].np->p, txarena + m[i].off,
		    m[i].len);
}

void
wg_io_flush(struct netd *nd)
{
	struct wg_io *w = &nd->wg;
	static struct mmsghdr mm[TX_MAX];
	static struct iovec iov[TX_MAX];
	static struct {
		_Alignas(size_t) char buf[CMSG_SPACE(sizeof(uint16_t))];
	} ctl[TX_MAX];
	static unsigned first[TX_MAX + 1];
	unsigned nm = 0, i = 0, done = 0;

	while (i < ntx) {
		struct txmsg *m = &txq[i];
		unsigned j = i + 1;
		size_t bytes = m->len;
		uint32_t region;

		if (m->np->p->endpoint_len == 0) {
			w->ctr.tx_no_endpoint++;
			i++;
			continue;
		}
		if (wg_io_endpoint_derp(m->np->p, &region)) {
			derp_send(nd, region, m->np->p->public_key,
			    txarena + m->off, m->len);
			i++;
			continue;
		}
		/* Equal lengths, contiguous, same endpoint; the last may be
		 * shorter and ends the run. */
		while (w->gso && j < ntx && j - i < GSO_MAX_SEGS &&
		    txq[j].len <= m->len && bytes + txq[j].len <= GSO_MAX_BYTES &&
		    txq[j].off == txq[j - 1].off + txq[j - 1].len &&
		    txq[j - 1].len == m->len &&
		    same_endpoint(m->np->p, txq[j].np->p)) {
			bytes += txq[j].len;
			j++;
		}
		memset(&mm[nm], 0, sizeof(mm[nm]));
		iov[nm].iov_base = txarena + m->off;
		iov[nm].iov_len = bytes;
		mm[nm].msg_hdr.msg_name = &m->np->p->endpoint;
		mm[nm].msg_hdr.msg_namelen = m->np->p->endpoint_len;
		mm[nm].msg_hdr.msg_iov = &iov[nm];
		mm[nm].msg_hdr.msg_iovlen = 1;
		if (j - i > 1) {
			struct cmsghdr *c = (struct cmsghdr *)ctl[nm].buf;
			uint16_t seg = (uint16_t)m->len;

			mm[nm].msg_hdr.msg_control = ctl[nm].buf;
			mm[nm].msg_hdr.msg_controllen = sizeof(ctl[nm].buf);
			c->cmsg_level = SOL_UDP;
			c->cmsg_type = UDP_SEGMENT;
			c->cmsg_len = CMSG_LEN(sizeof(seg));
			memcpy(CMSG_DATA(c), &seg, sizeof(seg));
		}
		first[nm++] = i;
		i = j;
	}
	first[nm] = ntx;
	while (done < nm) {
		int r = sendmmsg(w->udp_fd, mm + done, nm - done, 0);

		if (r > 0) {
			done += (unsigned)r;
			continue;
		}
		if (errno == EINTR)
			continue;
		/* The first message failed.  GSO refused (EIO/EINVAL on
		 * kernels or routes without it): off for good, this run
		 * goes one by one.  Anything else (a full buffer, no
		 * route): the run is lost, as a sendto() would lose it. */
		if (mm[done].msg_hdr.msg_controllen != 0 && (errno == EIO ||
		    errno == EINVAL || errno == ENOPROTOOPT ||
		    errno == EOPNOTSUPP)) {
			w->gso = false;
			log_info("UDP GSO refused (%s): off", strerror(errno));
			flush_one_by_one(&txq[first[done]],
			    first[done + 1] - first[done]);
		} else {
			w->ctr.udp_send_errors += first[done + 1] - first[done];
		}
		done++;
	}
	ntx = 0;
	txused = 0;
}

/* Room for a message with plen bytes of plaintext; returns where the
 * plaintext goes (WG_HEADROOM after the message start). */
static uint8_t *
tx_reserve(struct netd *nd, size_t plen)
{
	if (ntx == TX_MAX ||
	    txused + WG_HEADROOM + plen + 2 * WG_TAG_LEN > sizeof(txarena))
		wg_io_flush(nd);
	return txarena + txused + WG_HEADROOM;
}

/* Seals the plaintext tx_reserve() placed and queues it; 0 or -ENOKEY
 * (then the plaintext is untouched). */
static int
send_data(struct netd_peer *np, size_t plen, uint64_t now)
{
	uint8_t *msg = txarena + txused;
	size_t out, cap = sizeof(txarena) - txused;
	int r;

	r = wg_send_data(np->p, msg, cap, plen, np->nd->wg.mtu, now, &out);
	if (r == 0) {
		txq[ntx].np = np;
		txq[ntx].off = (uint32_t)txused;
		txq[ntx].len = (uint32_t)out;
		ntx++;
		txused += out;
	}
	return r;
}

static int
send_keepalive(struct netd_peer *np, uint64_t now)
{
	(void)tx_reserve(np->nd, 0);
	return send_data(np, 0, now);
}

/* Takes the oldest staged packet off the queue; the caller frees it. */
static struct wg_staged *
unstage(struct netd_peer *np)
{
	struct wg_staged *st = np->staged;

	if (st != NULL) {
		np->staged = st->next;
		if (np->staged == NULL)
			np->staged_tail = NULL;
		np->nstaged--;
	}
	return st;
}

static void
drop_staged(struct netd_peer *np)
{
	struct wg_staged *st;

	while ((st = unstage(np)) != NULL)
		free(st);
}

/*
 * Packets wait here only while a handshake is under way: a list, so an
 * idle peer pays two pointers for it, not WG_STAGED_MAX slots.
 */
static void
stage(struct netd_peer *np, const uint8_t *pkt, size_t len)
{
	struct wg_staged *st;

	if (np->nstaged == WG_STAGED_MAX) {
		free(unstage(np));
		np->nd->wg.ctr.tx_staged_dropped++;
	}
	if ((st = malloc(sizeof(*st) + len)) == NULL)
		return;
	st->next = NULL;
	st->len = (uint16_t)len;
	memcpy(st->data, pkt, len);
	if (np->staged_tail != NULL)
		np->staged_tail->next = st;
	else
		np->staged = st;
	np->staged_tail = st;
	np->nstaged++;
}

/* Returns true if anything was sent. */
static bool
flush_staged(struct netd_peer *np, uint64_t now)
{
	struct wg_staged *st;
	unsigned sent = 0;

	while ((st = unstage(np)) != NULL) {
		memcpy(tx_reserve(np->nd, st->len), st->data, st->len);
		if (send_data(np, st->len, now) == 0)
			sent++;
		free(st);
	}
	return sent > 0;
}

/* What an expired timer of the peer asks for. */
static void
run_timers(struct netd_peer *np, uint64_t now)
{
	unsigned act = wg_timers_poll(np->p, now);

	if (act & WG_ACTION_SEND_HANDSHAKE_INITIATION)
		send_initiation(np);
	if (act & WG_ACTION_SEND_KEEPALIVE)
		(void)send_keepalive(np, now);
	if (act & WG_ACTION_GIVE_UP_HANDSHAKE) {
		np->nd->wg.ctr.tx_staged_dropped += np->nstaged;
		drop_staged(np);
	}
	wg_timers_schedule(np->p);
}

static void arm_timer(struct netd *nd);

/*
 * Every peer whose deadline has passed, earliest first.  A peer may come
 * due again at once (a keepalive without a session asks for a handshake),
 * and is then polled again, as a per-peer timer re-armed at 0 would be;
 * the budget only guarantees that the loop cannot starve I/O should that
 * ever not settle.
 */
static void
on_timer(uv_timer_t *t)
{
	struct netd *nd = t->data;
	uint64_t now = wg_now_ns();
	size_t budget = 2 * (size_t)nd->wg.dev.timerq.len + 2;
	struct wg_peer *p;

	nd->wg.timer_at = WG_TIMER_OFF;	/* one-shot: it has fired */
	while (budget-- > 0 && (p = wg_timers_due(&nd->wg.dev, now)) != NULL)
		run_timers(p->ctx, now);
	wg_io_flush(nd);
	arm_timer(nd);
}

/*
 * One libuv timer for all peers, at the device's first deadline (the
 * timer queue keeps every peer's); restarted only when that moves.
 */
static void
arm_timer(struct netd *nd)
{
	struct wg_io *w = &nd->wg;
	uint64_t d = wg_timers_first_deadline(&w->dev), now, ms;

	if (!w->timer_ready) {
		uv_timer_init(nd->c.loop, &w->timer);
		w->timer.data = nd;
		w->timer_at = WG_TIMER_OFF;
		w->timer_ready = true;
	}
	if (d == w->timer_at)
		return;
	w->timer_at = d;
	if (d == WG_TIMER_OFF) {
		uv_timer_stop(&w->timer);
		return;
	}
	now = wg_now_ns();
	ms = d <= now ? 0 : (d - now + 999999) / 1000000;
	uv_timer_start(&w->timer, on_timer, ms, 0);
}

/* After any wg_* call that involved the peer: its deadlines may move. */
static void
arm(struct netd_peer *np)
{
	wg_timers_schedule(np->p);
	arm_timer(np->nd);
}

static const uint8_t *
ip_addr(const uint8_t *pkt, size_t len, bool dst, int *family)
{
	if (len >= 20 && (pkt[0] >> 4) == 4) {
		*family = AF_INET;
		return pkt + (dst ? 16 : 12);
	}
	if (len >= 40 && (pkt[0] >> 4) == 6) {
		*family = AF_INET6;
		return pkt + (dst ? 24 : 8);
	}
	return NULL;
}

/* One inner packet, already in place at pkt (from tx_reserve()); returns
 * its peer, whose timer the caller re-arms once per burst. */
static struct netd_peer *
from_tun_one(struct netd *nd, uint8_t *pkt, size_t plen, uint64_t now)
{
	const uint8_t *dst;
	struct wg_peer *p;
	int family;

	if ((dst = ip_addr(pkt, plen, true, &family)) == NULL ||
	    (p = allowedips_lookup(&nd->wg.aips, family, dst)) == NULL) {
		nd->wg.ctr.tx_no_route++;
		return NULL;
	}
	filter_out(&nd->filter, pkt, plen);
	if (((struct netd_peer *)p->ctx)->disco != NULL)
		disco_peer_note_send(p->ctx, now);
	/* -ENOKEY leaves the plaintext untouched: keep it for the session
	 * the handshake wg_send_data() asked for. */
	if (send_data(p->ctx, plen, now) == -ENOKEY)
		stage(p->ctx, pkt, plen);
	return p->ctx;
}

/* Timers move with every packet; re-arming once per peer and burst is
 * enough (and saves a timer-heap update per packet). */
static void
rearm(struct netd_peer **last, struct netd_peer *np)
{
	if (*last != NULL && *last != np)
		arm(*last);
	*last = np;
}

void
wg_io_from_tun(struct netd *nd, uint8_t *buf, size_t len)
{
	struct virtio_net_hdr h;
	struct offload_tx t;
	struct netd_peer *last = NULL;
	uint64_t now = wg_now_ns();

	if (len < OFFLOAD_VNET_HDR_LEN) {
		nd->wg.ctr.tx_bad_offload++;
		return;
	}
	memcpy(&h, buf, sizeof(h));
	if (offload_tx_init(&t, &h, buf + OFFLOAD_VNET_HDR_LEN,
	    len - OFFLOAD_VNET_HDR_LEN) < 0) {
		nd->wg.ctr.tx_bad_offload++;
		return;
	}
	for (unsigned i = 0; i < t.nseg; i++) {
		size_t room = t.tso ? t.hlen + t.gso_size : t.len;
		uint8_t *pkt = tx_reserve(nd, room);
		struct netd_peer *np;

		np = from_tun_one(nd, pkt, offload_tx_segment(&t, i, pkt), now);
		if (np != NULL)
			rearm(&last, np);
	}
	rearm(&last, NULL);
}

/*
 * Receiving: authenticated inner packets are merged into TCP
 * super-packets (offload.c) and written to the TUN with a GSO header when
 * a packet does not fit the run, and at the end of each UDP wakeup.
 */
static uint8_t grobuf[OFFLOAD_VNET_HDR_LEN + OFFLOAD_GRO_MAX];
static struct offload_gro gro = { .buf = grobuf + OFFLOAD_VNET_HDR_LEN };
static const bool gro_on = true;	/* false: one write per packet */

static void
gro_flush(struct netd *nd)
{
	size_t n = offload_gro_finish(&gro);

	if (n > 0 && write(nd->tun_fd, grobuf, n) < 0)
		nd->wg.ctr.tun_write_errors++;
}

/* Cryptokey routing on receive: the inner source must be one of the
 * authenticated peer's allowed IPs. */
static void
deliver(struct netd *nd, struct wg_rx *rx)
{
	const uint8_t *src;
	int family;

	src = ip_addr(rx->plain, rx->plain_len, false, &family);
	if (src == NULL || allowedips_lookup(&nd->wg.aips, family, src) !=
	    rx->peer) {
		nd->wg.ctr.rx_bad_inner++;
		return;
	}
	if (!filter_in(&nd->filter, rx->plain, rx->plain_len))
		return;
	if (!gro_on) {
		/* One packet per write, behind an all-but-empty header; the
		 * data header before the plaintext has room for it. */
		struct virtio_net_hdr vh = {
			.flags = VIRTIO_NET_HDR_F_DATA_VALID
		};
		uint8_t *p = rx->plain - OFFLOAD_VNET_HDR_LEN;

		memcpy(p, &vh, sizeof(vh));
		if (write(nd->tun_fd, p, rx->plain_len + sizeof(vh)) < 0)
			nd->wg.ctr.tun_write_errors++;
		return;
	}
	if (!offload_gro_add(&gro, rx->plain, rx->plain_len)) {
		gro_flush(nd);
		(void)offload_gro_add(&gro, rx->plain, rx->plain_len);
	}
}

static bool
handshake_load(struct wg_io *w, const uint8_t *buf, size_t len, uint64_t now)
{
	if (len == 0 || buf[0] == WG_MSG_DATA)
		return now < w->under_load_until;
	if (now - w->load_begin_ns > LOAD_WINDOW_NS) {
		w->load_begin_ns = now;
		w->load_count = 0;
	}
	if (++w->load_count > LOAD_THRESHOLD)
		w->under_load_until = now + LOAD_HOLD_NS;
	return now < w->under_load_until;
}

/*
 * The other sign of load: one read returning a backlog of handshake
 * messages (GRO trains count by their segments).  Unlike the rate above
 * this does not depend on how fast we happen to be, e.g. in a sanitizer
 * build.
 */
#define BACKLOG_HANDSHAKES	(RX_BATCH / 2)	/* in one recvmmsg */

static void
backlog_load(struct wg_io *w, const struct mmsghdr *mm, int n, uint64_t now)
{
	size_t hs = 0;

	for (int i = 0; i < n; i++) {
		const uint8_t *b = mm[i].msg_hdr.msg_iov->iov_base;
		if (mm[i].msg_len > 0 && b[0] == WG_MSG_HANDSHAKE_INITIATION)
			hs += mm[i].msg_len / WG_MSG_INITIATION_LEN;
		else if (mm[i].msg_len > 0 && b[0] == WG_MSG_HANDSHAKE_RESPONSE)
			hs += mm[i].msg_len / WG_MSG_RESPONSE_LEN;
	}
	if (hs >= BACKLOG_HANDSHAKES)
		w->under_load_until = now + LOAD_HOLD_NS;
}

/* While a DERP packet is handled: its sender's node key (replies go back
 * through DERP to it). */
static const uint8_t *derp_rx_key;

/* Returns the authenticated peer, if any, for rearm(). */
static struct netd_peer *
handle_wireguard(struct netd *nd, uint8_t *rxbuf, size_t n,
    const struct sockaddr *src, socklen_t srclen, uint64_t now,
    uint64_t real)
{
	struct wg_io *w = &nd->wg;
	uint8_t reply[WG_REPLY_MAX];
	struct wg_rx rx;
	bool load;
	const void *addr = src->sa_family == AF_INET ?
	    (const void *)&((const struct sockaddr_in *)src)->sin_addr :
	    (const void *)&((const struct sockaddr_in6 *)src)->sin6_addr;

	load = handshake_load(w, rxbuf, n, now);
	if (load && rxbuf[0] == WG_MSG_HANDSHAKE_INITIATION &&
	    !wg_ratelimiter_allow(&w->rl, src->sa_family, addr, now)) {
		w->ctr.rx_ratelimited++;
		return NULL;
	}
	memset(&rx, 0, sizeof(rx));
	if (wg_device_receive(&w->dev, rxbuf, n, src, srclen, load, now,
	    real, reply, &rx) < 0) {
		w->ctr.rx_bad++;
		return NULL;
	}
	if (rx.events & WG_RX_REPLY) {
		if (rx.reply_len == WG_MSG_COOKIE_LEN)
			w->ctr.cookies_sent++;
		if (derp_rx_key != NULL)
			derp_send(nd, ntohs(((const struct sockaddr_in *)
			    src)->sin_port), derp_rx_key, reply,
			    rx.reply_len);
		else
			(void)!sendto(w->udp_fd, reply, rx.reply_len, 0, src,
			    srclen);
	}
	if (rx.peer == NULL)
		return NULL;
	/* magicsock does not roam: disco keeps the endpoint it chose. */
	disco_peer_pin_endpoint(rx.peer->ctx, now);
	if (rx.events & WG_RX_DATA)
		deliver(nd, &rx);
	if ((rx.events & WG_RX_SEND_STAGED) &&
	    !flush_staged(rx.peer->ctx, now) &&
	    (rx.events & WG_RX_KEEPALIVE_IF_IDLE))
		(void)send_keepalive(rx.peer->ctx, now);
	return rx.peer->ctx;
}

/*
 * The one UDP socket carries STUN, disco and WireGuard (magicsock's
 * demultiplexing); through DERP only disco and WireGuard are expected.
 */
static struct netd_peer *
handle_datagram(struct netd *nd, uint8_t *rxbuf, size_t n,
    const struct sockaddr *src, socklen_t srclen, uint64_t now,
    uint64_t real)
{
	switch (demux_classify(rxbuf, n)) {
	case PKT_STUN:
		/* Answers to netcheck's probes come straight over UDP; a
		 * relay has no business forwarding STUN. */
		if (derp_rx_key == NULL)
			netcheck_stun_input(nd, rxbuf, n, src, srclen);
		else
			disco_ctr.rx_stun_unhandled++;
		return NULL;
	case PKT_DISCO:
		disco_input(nd, rxbuf, n, src, srclen, derp_rx_key,
		    derp_rx_key != NULL ? ntohs(((const struct sockaddr_in *)
		    src)->sin_port) : 0);
		return NULL;
	case PKT_WIREGUARD:
		return handle_wireguard(nd, rxbuf, n, src, srclen, now, real);
	case PKT_UNKNOWN:
		break;
	}
	nd->wg.ctr.rx_bad++;	/* as WireGuard's validation would */
	return NULL;
}

/* The socket is dual-stack; IPv4 peers arrive as ::ffff:a.b.c.d.  Keep
 * them as plain IPv4 so endpoints, cookies and status read naturally (the
 * kernel sends to an AF_INET address on such a socket). */
static socklen_t
unmap_v4(struct sockaddr_storage *ss, socklen_t len)
{
	struct sockaddr_in6 s6;
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;

	if (ss->ss_family != AF_INET6 || len < sizeof(s6))
		return len;
	memcpy(&s6, ss, sizeof(s6));
	if (!IN6_IS_ADDR_V4MAPPED(&s6.sin6_addr))
		return len;
	memset(ss, 0, sizeof(*ss));
	s4->sin_family = AF_INET;
	s4->sin_port = s6.sin6_port;
	memcpy(&s4->sin_addr, &s6.sin6_addr.s6_addr[12], 4);
	return sizeof(*s4);
}

/* Up to RX_BATCH datagrams per call; with UDP_GRO one entry may be a
 * train of equal-size datagrams (the last may be shorter), split here. */
static void
on_udp(uv_poll_t *h, int status, int events)
{
	struct netd *nd = h->data;
	struct netd_peer *last = NULL;
	uint64_t now = 0, real = 0;
	static struct sockaddr_storage ss[RX_BATCH];
	static struct mmsghdr mm[RX_BATCH];
	static struct iovec iov[RX_BATCH];
	static struct {
		_Alignas(size_t) char buf[CMSG_SPACE(sizeof(int)) * 2];
	} ctl[RX_BATCH];

	(void)events;
	if (status < 0)
		return;
	for (int burst = 0; burst < UDP_BURST; burst++) {
		int n;

		for (int i = 0; i < RX_BATCH; i++) {
			iov[i].iov_base = rxbufs[i];
			iov[i].iov_len = RX_BUF;
			memset(&mm[i].msg_hdr, 0, sizeof(mm[i].msg_hdr));
			mm[i].msg_hdr.msg_name = &ss[i];
			mm[i].msg_hdr.msg_namelen = sizeof(ss[i]);
			mm[i].msg_hdr.msg_iov = &iov[i];
			mm[i].msg_hdr.msg_iovlen = 1;
			mm[i].msg_hdr.msg_control = ctl[i].buf;
			mm[i].msg_hdr.msg_controllen = sizeof(ctl[i].buf);
		}
		n = recvmmsg(nd->wg.udp_fd, mm, RX_BATCH, MSG_DONTWAIT, NULL);
		if (n <= 0)
			break;
		/* One clock reading per batch: the timers count in ms. */
		now = wg_now_ns();
		real = real_ns();
		backlog_load(&nd->wg, mm, n, now);
		for (int i = 0; i < n; i++) {
			struct msghdr *m = &mm[i].msg_hdr;
			size_t len = mm[i].msg_len, seg = len;
			socklen_t sl = unmap_v4(&ss[i], m->msg_namelen);

			if (m->msg_flags & (MSG_TRUNC | MSG_CTRUNC)) {
				nd->wg.ctr.rx_bad++;
				continue;
			}
			for (struct cmsghdr *c = CMSG_FIRSTHDR(m); c != NULL;
			    c = CMSG_NXTHDR(m, c)) {
				int gs;

				if (c->cmsg_level != SOL_UDP ||
				    c->cmsg_type != UDP_GRO ||
				    c->cmsg_len < CMSG_LEN(sizeof(gs)))
					continue;
				memcpy(&gs, CMSG_DATA(c), sizeof(gs));
				if (gs > 0)
					seg = (size_t)gs;
			}
			for (size_t off = 0; off < len; off += seg) {
				struct netd_peer *np = handle_datagram(nd,
				    rxbufs[i] + off,
				    len - off < seg ? len - off : seg,
				    (struct sockaddr *)&ss[i], sl, now, real);

				if (np != NULL)
					rearm(&last, np);
			}
		}
		if (n < RX_BATCH)
			break;
	}
	gro_flush(nd);
	wg_io_flush(nd);
	rearm(&last, NULL);
	/* About once a second, as ratelimit.h asks; not per wakeup. */
	now = wg_now_ns();
	if (nd->wg.rl.slots != NULL && now - nd->wg.rl_gc_ns > RL_GC_NS) {
		wg_ratelimiter_gc(&nd->wg.rl, now);
		nd->wg.rl_gc_ns = now;
	}
}

void
wg_io_attach_udp(struct netd *nd, int fd, unsigned port)
{
	int fl, one = 1;

	if (nd->wg.udp_fd >= 0) {
		close(fd);
		return;
	}
	if ((fl = fcntl(fd, F_GETFL)) < 0 ||
	    fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 ||
	    uv_poll_init(nd->c.loop, &nd->wg.udp_poll, fd) != 0) {
		log_warn("UDP socket: cannot poll, ignoring");
		close(fd);
		return;
	}
	/* GRO on receive; GSO on send needs no option, only the cmsg. */
	if (setsockopt(fd, SOL_UDP, UDP_GRO, &one, sizeof(one)) != 0)
		log_info("UDP GRO unavailable: %s", strerror(errno));
	nd->wg.gso = true;
	nd->wg.udp_fd = fd;
	nd->wg.udp_port = port;
	nd->wg.udp_poll.data = nd;
	uv_poll_start(&nd->wg.udp_poll, UV_READABLE, on_udp);
	log_info("WireGuard listening on UDP %u", port);
}

int
wg_io_add_peer(struct netd *nd, const uint8_t pub[32], const uint8_t *psk,
    const struct sockaddr *ep, socklen_t eplen, uint16_t keepalive,
    struct netd_peer **out)
{
	struct netd_peer *np;
	int r;

	if ((np = calloc(1, sizeof(*np))) == NULL)
		return -ENOMEM;
	if ((r = wg_peer_add(&nd->wg.dev, pub, psk, &np->p)) < 0) {
		free(np);
		return r;
	}
	np->nd = nd;
	np->p->ctx = np;
	if (eplen > 0)
		wg_peer_set_endpoint(np->p, ep, eplen);
	if (keepalive > 0)
		wg_timers_set_persistent_keepalive(np->p, keepalive, wg_now_ns());
	arm(np);
	*out = np;
	return 0;
}

/* Tailnet mode: a peer gone from the netmap takes its routes, staged
 * packets, timers and keys with it. */
void
wg_io_remove_peer(struct netd *nd, struct netd_peer *np)
{
	allowedips_remove_by_peer(&nd->wg.aips, np->p);
	drop_staged(np);
	disco_peer_remove(np);
	wg_peer_remove(np->p);
	free(np);
}

void
wg_io_from_derp(struct netd *nd, uint32_t region, const uint8_t src[32],
    const uint8_t *pkt, size_t len)
{
	static uint8_t buf[RX_BUF];
	struct netd_peer *last = NULL, *np;
	struct sockaddr_in sin;

	if (!nd->wg.on || len == 0 || len > sizeof(buf)) {
		nd->wg.ctr.rx_bad++;
		return;
	}
	memcpy(buf, pkt, len);	/* opened in place */
	wg_io_derp_endpoint(&sin, region);
	derp_rx_key = src;
	np = handle_datagram(nd, buf, len, (const struct sockaddr *)&sin,
	    sizeof(sin), wg_now_ns(), real_ns());
	derp_rx_key = NULL;
	if (np != NULL)
		rearm(&last, np);
	gro_flush(nd);
	wg_io_flush(nd);
	rearm(&last, NULL);
}
