#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "netd.h"

/* More handshake messages than this per 100 ms: answer with cookies. */
#define LOAD_WINDOW_NS	100000000ULL
#define LOAD_THRESHOLD	128
#define LOAD_HOLD_NS	1000000000ULL
#define UDP_BURST	64

static uint8_t rxbuf[WG_PKT_MAX];
static uint8_t txbuf[WG_HEADROOM + WG_PKT_MAX + 32];

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

static void
udp_send(struct netd *nd, struct wg_peer *p, const uint8_t *buf, size_t len)
{
	if (p->endpoint_len == 0) {
		nd->wg.ctr.tx_no_endpoint++;
		return;
	}
	if (sendto(nd->wg.udp_fd, buf, len, 0,
	    (const struct sockaddr *)&p->endpoint, p->endpoint_len) < 0)
		nd->wg.ctr.udp_send_errors++;
}

static void arm(struct netd_peer *np);

static void
send_initiation(struct netd_peer *np)
{
	struct wg_msg_initiation msg;

	if (wg_send_initiation(np->p, &msg, wg_now_ns(), real_ns()) == 0)
		udp_send(np->nd, np->p, (const uint8_t *)&msg, sizeof(msg));
}

/* Encrypts txbuf[WG_HEADROOM .. +plen) for np and sends it; 0 or -ENOKEY. */
static int
send_data(struct netd_peer *np, size_t plen)
{
	size_t out;
	int r;

	r = wg_send_data(np->p, txbuf, sizeof(txbuf), plen, np->nd->wg.mtu,
	    wg_now_ns(), &out);
	if (r == 0)
		udp_send(np->nd, np->p, txbuf, out);
	return r;
}

static void
drop_staged(struct netd_peer *np)
{
	for (unsigned i = 0; i < np->nstaged; i++)
		free(np->staged[i]);
	np->nstaged = 0;
}

/* Packets wait here only while a handshake is under way. */
static void
stage(struct netd_peer *np, const uint8_t *pkt, size_t len)
{
	uint8_t *copy;

	if (np->nstaged == WG_STAGED_MAX) {
		free(np->staged[0]);
		memmove(np->staged, np->staged + 1,
		    (WG_STAGED_MAX - 1) * sizeof(np->staged[0]));
		memmove(np->staged_len, np->staged_len + 1,
		    (WG_STAGED_MAX - 1) * sizeof(np->staged_len[0]));
		np->nstaged--;
		np->nd->wg.ctr.tx_staged_dropped++;
	}
	if ((copy = malloc(len)) == NULL)
		return;
	memcpy(copy, pkt, len);
	np->staged[np->nstaged] = copy;
	np->staged_len[np->nstaged++] = (uint16_t)len;
}

/* Returns true if anything was sent. */
static bool
flush_staged(struct netd_peer *np)
{
	unsigned n = np->nstaged, sent = 0;

	for (unsigned i = 0; i < n; i++) {
		memcpy(txbuf + WG_HEADROOM, np->staged[i], np->staged_len[i]);
		if (send_data(np, np->staged_len[i]) == 0)
			sent++;
		free(np->staged[i]);
	}
	np->nstaged = 0;
	return sent > 0;
}

static void
on_timer(uv_timer_t *t)
{
	struct netd_peer *np = t->data;
	unsigned act = wg_timers_poll(np->p, wg_now_ns());

	if (act & WG_ACTION_SEND_HANDSHAKE_INITIATION)
		send_initiation(np);
	if (act & WG_ACTION_SEND_KEEPALIVE)
		(void)send_data(np, 0);
	if (act & WG_ACTION_GIVE_UP_HANDSHAKE) {
		np->nd->wg.ctr.tx_staged_dropped += np->nstaged;
		drop_staged(np);
	}
	arm(np);
}

/* One libuv timer per peer, always set to its earliest protocol deadline. */
static void
arm(struct netd_peer *np)
{
	uint64_t d = wg_timers_next_deadline(np->p), now = wg_now_ns(), ms;

	if (d == WG_TIMER_OFF) {
		uv_timer_stop(&np->timer);
		return;
	}
	ms = d <= now ? 0 : (d - now + 999999) / 1000000;
	uv_timer_start(&np->timer, on_timer, ms, 0);
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

uint8_t *
wg_io_tun_buffer(size_t *cap)
{
	*cap = WG_PKT_MAX;
	return txbuf + WG_HEADROOM;
}

void
wg_io_from_tun(struct netd *nd, size_t plen)
{
	uint8_t *pkt = txbuf + WG_HEADROOM;
	const uint8_t *dst;
	struct wg_peer *p;
	int family;

	if ((dst = ip_addr(pkt, plen, true, &family)) == NULL ||
	    (p = allowedips_lookup(&nd->wg.aips, family, dst)) == NULL) {
		nd->wg.ctr.tx_no_route++;
		return;
	}
	/* -ENOKEY leaves the plaintext untouched: keep it for the session
	 * the handshake wg_send_data() asked for. */
	if (send_data(p->ctx, plen) == -ENOKEY)
		stage(p->ctx, pkt, plen);
	arm(p->ctx);
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
	if (write(nd->tun_fd, rx->plain, rx->plain_len) < 0)
		nd->wg.ctr.tun_write_errors++;
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

static void
handle_datagram(struct netd *nd, size_t n, const struct sockaddr *src,
    socklen_t srclen)
{
	struct wg_io *w = &nd->wg;
	uint8_t reply[WG_REPLY_MAX];
	struct wg_rx rx;
	uint64_t now = wg_now_ns();
	bool load = handshake_load(w, rxbuf, n, now);
	const void *addr = src->sa_family == AF_INET ?
	    (const void *)&((const struct sockaddr_in *)src)->sin_addr :
	    (const void *)&((const struct sockaddr_in6 *)src)->sin6_addr;

	if (load && rxbuf[0] == WG_MSG_HANDSHAKE_INITIATION &&
	    !wg_ratelimiter_allow(&w->rl, src->sa_family, addr, now)) {
		w->ctr.rx_ratelimited++;
		return;
	}
	memset(&rx, 0, sizeof(rx));
	if (wg_device_receive(&w->dev, rxbuf, n, src, srclen, load, now,
	    real_ns(), reply, &rx) < 0) {
		w->ctr.rx_bad++;
		return;
	}
	if (rx.events & WG_RX_REPLY) {
		if (rx.reply_len == WG_MSG_COOKIE_LEN)
			w->ctr.cookies_sent++;
		(void)!sendto(w->udp_fd, reply, rx.reply_len, 0, src, srclen);
	}
	if (rx.peer == NULL)
		return;
	if (rx.events & WG_RX_DATA)
		deliver(nd, &rx);
	if ((rx.events & WG_RX_SEND_STAGED) && !flush_staged(rx.peer->ctx) &&
	    (rx.events & WG_RX_KEEPALIVE_IF_IDLE))
		(void)send_data(rx.peer->ctx, 0);
	arm(rx.peer->ctx);
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

static void
on_udp(uv_poll_t *h, int status, int events)
{
	struct netd *nd = h->data;
	struct sockaddr_storage ss;

	(void)events;
	if (status < 0)
		return;
	for (int i = 0; i < UDP_BURST; i++) {
		socklen_t sl = sizeof(ss);
		ssize_t n = recvfrom(nd->wg.udp_fd, rxbuf, sizeof(rxbuf),
		    MSG_DONTWAIT, (struct sockaddr *)&ss, &sl);
		if (n < 0)
			break;
		sl = unmap_v4(&ss, sl);
		handle_datagram(nd, (size_t)n, (struct sockaddr *)&ss, sl);
	}
	if (nd->wg.rl.slots != NULL)
		wg_ratelimiter_gc(&nd->wg.rl, wg_now_ns());
}

void
wg_io_attach_udp(struct netd *nd, int fd, unsigned port)
{
	int fl;

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
	uv_timer_init(nd->c.loop, &np->timer);
	np->timer.data = np;
	if (keepalive > 0)
		wg_timers_set_persistent_keepalive(np->p, keepalive, wg_now_ns());
	arm(np);
	*out = np;
	return 0;
}
