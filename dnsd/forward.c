#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dnsd.h"
#include "forward.h"
#include "log.h"
#include "dnsd_to_privd.pb-c.h"

static struct ratelimit spoof_rl = RATELIMIT_INIT(1000, 5);

#define MBASE	(2 * FWD_SOCKS)		/* first marked slot */

static void
to_fwd_addr(const struct upstream *u, struct fwd_addr *a)
{
	memset(a, 0, sizeof(*a));
	a->family = (uint8_t)u->sa.ss_family;
	if (a->family == AF_INET) {
		const struct sockaddr_in *s = (const struct sockaddr_in *)&u->sa;
		memcpy(a->addr, &s->sin_addr, 4);
		a->port = s->sin_port;
	} else {
		const struct sockaddr_in6 *s =
		    (const struct sockaddr_in6 *)&u->sa;
		memcpy(a->addr, &s->sin6_addr, 16);
		a->port = s->sin6_port;
	}
}

static socklen_t
to_sockaddr(const struct fwd_addr *a, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (a->family == AF_INET) {
		struct sockaddr_in *s = (struct sockaddr_in *)ss;
		s->sin_family = AF_INET;
		s->sin_port = a->port;
		memcpy(&s->sin_addr, a->addr, 4);
		return sizeof(*s);
	}
	struct sockaddr_in6 *s = (struct sockaddr_in6 *)ss;
	s->sin6_family = AF_INET6;
	s->sin6_port = a->port;
	memcpy(&s->sin6_addr, a->addr, 16);
	return sizeof(*s);
}

static bool
same_addr(const struct fwd_addr *a, const struct sockaddr_storage *ss)
{
	if (ss->ss_family != a->family)
		return false;
	if (a->family == AF_INET) {
		const struct sockaddr_in *s = (const struct sockaddr_in *)ss;
		return s->sin_port == a->port &&
		    memcmp(&s->sin_addr, a->addr, 4) == 0;
	}
	const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)ss;
	return s->sin6_port == a->port && memcmp(&s->sin6_addr, a->addr, 16) == 0;
}

static uint32_t
rand32(void)
{
	static uint32_t pool[256];
	static unsigned left;

	if (left == 0) {
		if (getrandom(pool, sizeof(pool), 0) != (ssize_t)sizeof(pool))
			fatal("getrandom");
		left = 256;
	}
	return pool[--left];
}

/* Pending slots: a hash on (socket, ID) and a deadline-ordered list. */

static unsigned
hslot(unsigned sock, uint16_t id)
{
	return ((unsigned)id * 31u + sock) & (FWD_HASH - 1);
}

static struct fwd_pending *
lookup(struct fwd *f, unsigned sock, uint16_t id)
{
	for (struct fwd_pending *p = f->hash[hslot(sock, id)]; p; p = p->hnext)
		if (p->sock == sock && p->id == id)
			return p;
	return NULL;
}

static void
hash_del(struct fwd *f, struct fwd_pending *p)
{
	struct fwd_pending **pp = &f->hash[hslot(p->sock, p->id)];

	if (!p->in_hash)
		return;
	while (*pp && *pp != p)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = p->hnext;
	p->hnext = NULL;
	p->in_hash = false;
	f->socks[p->sock].outstanding--;
}

static void
hash_add(struct fwd *f, struct fwd_pending *p)
{
	struct fwd_sock *s = &f->socks[p->sock];

	p->hnext = f->hash[hslot(p->sock, p->id)];
	f->hash[hslot(p->sock, p->id)] = p;
	p->in_hash = true;
	s->outstanding++;
	if (++s->uses >= FWD_SOCK_USES)
		s->draining = true;
}

static void
tl_del(struct fwd *f, struct fwd_pending *p)
{
	if (p->tprev)
		p->tprev->tnext = p->tnext;
	else if (f->thead == p)
		f->thead = p->tnext;
	if (p->tnext)
		p->tnext->tprev = p->tprev;
	else if (f->ttail == p)
		f->ttail = p->tprev;
	p->tprev = p->tnext = NULL;
}

static void
tl_add(struct fwd *f, struct fwd_pending *p)
{
	p->deadline_ms = now_ms() + FWD_TRY_MS;
	p->tnext = NULL;
	p->tprev = f->ttail;
	if (f->ttail)
		f->ttail->tnext = p;
	else
		f->thead = p;
	f->ttail = p;
}

static void tcp_close(struct fwd_pending *p);

static void
release(struct fwd *f, struct fwd_pending *p)
{
	hash_del(f, p);
	tl_del(f, p);
	tcp_close(p);
	p->used = false;
	p->hnext = f->free_list;
	f->free_list = p;
}

static void
reply_error(struct fwd *f, struct fwd_pending *p, unsigned rcode)
{
	uint8_t buf[DNS_UDP_MIN + 300];
	size_t n = answer_error(&p->q, true, rcode, buf, sizeof(buf));

	dnsd_reply(f->dd, &p->cl, buf, n);
}

/* UDP. */

static size_t
build_query(const struct fwd_pending *p, uint8_t *buf, size_t cap)
{
	struct dns_builder b;

	dns_b_init(&b, buf, cap, p->id, (uint16_t)(p->q.flags & (DNS_F_RD |
	    DNS_F_CD)));
	dns_b_question(&b, &p->q.qname, p->q.qtype, p->q.qclass);
	dns_b_opt(&b, DNS_EDNS_SIZE, 0, p->q.do_bit);
	return dns_b_finish(&b, 0);
}

/* The tailnet's own ranges go through the tunnel; anything else must not
 * follow an exit node's default route into it. */
static bool
needs_bypass(const struct fwd_addr *a)
{
	static const uint8_t ula[6] = { 0xfd, 0x7a, 0x11, 0x5c, 0xa1, 0xe0 };

	if (a->family == AF_INET)
		return !(a->addr[0] == 100 && (a->addr[1] & 0xc0) == 64);
	return memcmp(a->addr, ula, sizeof(ula)) != 0;
}

static int
pick_in(struct fwd *f, unsigned base, unsigned n)
{
	unsigned start = rand32() % n;
	int any = -1;

	for (unsigned k = 0; k < n; k++) {
		unsigned i = base + (start + k) % n;
		if (f->socks[i].fd < 0)
			continue;
		if (!f->socks[i].draining)
			return (int)i;
		any = (int)i;
	}
	return any;
}

/* A random socket of the family and pool that still takes queries; a
 * draining one only if every socket is draining.  No marked socket yet:
 * an unmarked one, counted. */
static int
pick_sock(struct fwd *f, uint8_t family, bool marked)
{
	int v6 = family != AF_INET, i;

	if (marked) {
		if ((i = pick_in(f, MBASE + (unsigned)v6 * FWD_MSOCKS,
		    FWD_MSOCKS)) >= 0)
			return i;
		f->ctr.unmarked_fallback++;
	}
	return pick_in(f, (unsigned)v6 * FWD_SOCKS, FWD_SOCKS);
}

/* (Re)sends p to its current resolver with a fresh ID and socket. */
static int
send_udp(struct fwd *f, struct fwd_pending *p)
{
	const struct fwd_addr *up = &p->up[p->cur];
	struct sockaddr_storage ss;
	uint8_t buf[DNS_NAME_MAX + 64];
	socklen_t sl;
	size_t n;
	int s;

	hash_del(f, p);
	p->attempts++;
	if ((s = pick_sock(f, up->family, needs_bypass(up))) < 0)
		return -EAFNOSUPPORT;
	p->sock = (uint8_t)s;
	do
		p->id = (uint16_t)rand32();
	while (lookup(f, p->sock, p->id) != NULL);
	hash_add(f, p);
	n = build_query(p, buf, sizeof(buf));
	sl = to_sockaddr(up, &ss);
	tl_del(f, p);
	tl_add(f, p);
	f->ctr.sent++;
	if (sendto(f->socks[s].fd, buf, n, 0, (struct sockaddr *)&ss, sl) < 0)
		return -errno;
	return 0;
}

/* Next resolver (or the same one again while attempts remain); SERVFAIL
 * when none is left. */
static void
fail_over(struct fwd *f, struct fwd_pending *p)
{
	tcp_close(p);
	while (p->attempts < FWD_ATTEMPTS_MAX) {
		p->cur = (uint8_t)((p->cur + 1) % p->nup);
		if (send_udp(f, p) == 0)
			return;
	}
	f->ctr.servfail++;
	reply_error(f, p, DNS_RCODE_SERVFAIL);
	release(f, p);
}

static bool
question_matches(const struct fwd_pending *p, const struct dns_resp *r)
{
	return dns_name_eq(&r->qname, &p->q.qname) &&
	    r->qtype == p->q.qtype && r->qclass == p->q.qclass;
}

static void tcp_start(struct fwd *f, struct fwd_pending *p);

/* A validated answer for p: cache it, give it to the client. */
static void
deliver(struct fwd *f, struct fwd_pending *p, uint8_t *msg, size_t len,
    const struct dns_resp *r)
{
	size_t lim = answer_limit(&p->q, p->cl.tcp_conn != 0);

	f->ctr.answers++;
	cache_put(f->cache, &p->q, msg, len, r, now_ms());
	dns_put16(msg, p->q.id);
	/* The client's spelling of the question, as it asked. */
	if (dns_question_plain(msg, len, &p->q.qname))
		memcpy(msg + DNS_HDR_LEN, p->q.qname.wire, p->q.qname.len);
	if (!p->q.edns)
		len = dns_strip_last_opt(msg, len, r->opt >= 0 ?
		    (int32_t)r->rr[r->opt].rr_off : -1);
	if (len > lim || (!p->q.edns && r->opt >= 0 && len > DNS_UDP_MIN)) {
		/* Too big for the client over UDP: TC, question only. */
		struct dns_builder b;
		uint8_t buf[DNS_UDP_MIN];
		dns_b_init(&b, buf, sizeof(buf), p->q.id, (uint16_t)(dns_get16(
		    msg + 2) | DNS_F_TC));
		dns_b_question(&b, &p->q.qname, p->q.qtype, p->q.qclass);
		if (p->q.edns)
			dns_b_opt(&b, DNS_EDNS_SIZE, 0, p->q.do_bit);
		len = dns_b_finish(&b, dns_get16(msg + 2) & DNS_F_RCODE);
		dnsd_reply(f->dd, &p->cl, buf, len);
	} else
		dnsd_reply(f->dd, &p->cl, msg, len);
	release(f, p);
}

/* The answer, from whichever transport: check it belongs to p. */
static void
on_answer(struct fwd *f, struct fwd_pending *p, uint8_t *msg, size_t len,
    bool tcp)
{
	static struct dns_resp r;
	unsigned rcode;

	if (dns_parse_response(msg, len, &r) < 0 || !(r.flags & DNS_F_QR) ||
	    (r.flags & DNS_F_OPCODE) != 0) {
		f->ctr.bad_answers++;
		if (tcp)
			fail_over(f, p);
		return;		/* UDP: the real answer may still come */
	}
	if (r.id != p->id || !question_matches(p, &r)) {
		unsigned missed;
		f->ctr.spoofed++;
		if (ratelimit_ok(&spoof_rl, now_ms(), &missed))
			log_warnx("upstream answer with wrong %s ignored "
			    "(%llu so far)", r.id != p->id ? "ID" : "question",
			    (unsigned long long)f->ctr.spoofed);
		if (tcp)
			fail_over(f, p);
		return;
	}
	if ((r.flags & DNS_F_TC) && !tcp) {
		f->ctr.tcp_retries++;
		tcp_start(f, p);
		return;
	}
	rcode = r.flags & DNS_F_RCODE;
	if ((rcode == DNS_RCODE_SERVFAIL || rcode == DNS_RCODE_REFUSED) &&
	    p->attempts < FWD_ATTEMPTS_MAX && p->nup > 1) {
		fail_over(f, p);
		return;
	}
	deliver(f, p, msg, len, &r);
}

static void
on_udp(uv_poll_t *h, int status, int events)
{
	static uint8_t bufs[FWD_RECV_BATCH][DNS_EDNS_SIZE + 512];
	static struct sockaddr_storage from[FWD_RECV_BATCH];
	static struct iovec iov[FWD_RECV_BATCH];
	static struct mmsghdr mm[FWD_RECV_BATCH];
	struct fwd_sock *fs = h->data;
	struct fwd *f = fs->f;
	unsigned si = (unsigned)(fs - f->socks);
	int n;

	(void)events;
	if (status < 0)
		return;
	for (int i = 0; i < FWD_RECV_BATCH; i++) {
		iov[i].iov_base = bufs[i];
		iov[i].iov_len = sizeof(bufs[i]);
		memset(&mm[i].msg_hdr, 0, sizeof(mm[i].msg_hdr));
		mm[i].msg_hdr.msg_iov = &iov[i];
		mm[i].msg_hdr.msg_iovlen = 1;
		mm[i].msg_hdr.msg_name = &from[i];
		mm[i].msg_hdr.msg_namelen = sizeof(from[i]);
	}
	n = recvmmsg(fs->fd, mm, FWD_RECV_BATCH, MSG_DONTWAIT, NULL);
	for (int i = 0; i < n; i++) {
		size_t len = mm[i].msg_len;
		struct fwd_pending *p = len >= 2 ?
		    lookup(f, si, dns_get16(bufs[i])) : NULL;
		unsigned missed;

		if (p == NULL || p->tcp_fd >= 0 ||
		    !same_addr(&p->up[p->cur], &from[i])) {
			f->ctr.spoofed++;
			if (ratelimit_ok(&spoof_rl, now_ms(), &missed))
				log_warnx("unexpected upstream answer (unknown "
				    "ID or wrong source) ignored (%llu so far)",
				    (unsigned long long)f->ctr.spoofed);
			continue;
		}
		on_answer(f, p, bufs[i], len, false);
	}
	dnsd_flush(f->dd);
}

/* TCP retry after truncation (RFC 7766): one connection per query. */

static void
tcp_close(struct fwd_pending *p)
{
	if (p->tcp_poll != NULL) {
		uv_poll_stop(p->tcp_poll);
		uv_close((uv_handle_t *)p->tcp_poll, (uv_close_cb)free);
		p->tcp_poll = NULL;
	}
	if (p->tcp_fd >= 0)
		close(p->tcp_fd);
	p->tcp_fd = -1;
	free(p->tcp_buf);
	p->tcp_buf = NULL;
	p->tcp_have = p->tcp_sent = p->tcp_qlen = 0;
}

static void on_tcp(uv_poll_t *h, int status, int events);

static int
tcp_send_query(struct fwd_pending *p)
{
	while (p->tcp_sent < p->tcp_qlen) {
		ssize_t n = write(p->tcp_fd, p->tcp_buf + p->tcp_sent,
		    p->tcp_qlen - p->tcp_sent);
		if (n < 0)
			return errno == EAGAIN ? 0 : -errno;
		p->tcp_sent += (size_t)n;
	}
	if (p->tcp_sent == p->tcp_qlen) {
		p->tcp_have = 0;	/* the buffer now takes the answer */
		p->tcp_sent++;
		uv_poll_start(p->tcp_poll, UV_READABLE, on_tcp);
	}
	return 0;
}

static int
tcp_read_answer(struct fwd *f, struct fwd_pending *p)
{
	for (;;) {
		size_t need = p->tcp_have < 2 ? 2 :
		    2 + (size_t)dns_get16(p->tcp_buf);
		ssize_t n;

		if (p->tcp_have >= 2 && p->tcp_have == need) {
			on_answer(f, p, p->tcp_buf + 2, need - 2, true);
			return 1;
		}
		n = read(p->tcp_fd, p->tcp_buf + p->tcp_have, need - p->tcp_have);
		if (n == 0)
			return -ECONNRESET;
		if (n < 0)
			return errno == EAGAIN ? 0 : -errno;
		p->tcp_have += (size_t)n;
	}
}

static void
on_tcp(uv_poll_t *h, int status, int events)
{
	struct fwd_pending *p = h->data;
	struct fwd *f = p->f;
	int r = 0, err = 0;
	socklen_t el = sizeof(err);

	if (status < 0)
		r = status;
	else if ((events & UV_WRITABLE) && p->tcp_sent <= p->tcp_qlen) {
		if (p->tcp_sent == 0 && (getsockopt(p->tcp_fd, SOL_SOCKET,
		    SO_ERROR, &err, &el) < 0 || err != 0))
			r = -ECONNREFUSED;
		else
			r = tcp_send_query(p);
	} else if (events & UV_READABLE)
		r = tcp_read_answer(f, p);
	if (r < 0) {
		f->ctr.tcp_failed++;
		fail_over(f, p);
	}
	dnsd_flush(f->dd);
}

static struct fwd_stock *
stock_of(struct fwd *f, int family, bool tcp)
{
	return &f->stock[family != AF_INET][tcp];
}

static int
tcp_socket(struct fwd *f, const struct fwd_addr *up)
{
	struct fwd_stock *st = stock_of(f, up->family, true);

	if (needs_bypass(up)) {
		if (st->n > 0)
			return st->fd[--st->n];
		f->ctr.unmarked_fallback++;
	}
	return socket(up->family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
}

static void
tcp_start(struct fwd *f, struct fwd_pending *p)
{
	struct sockaddr_storage ss;
	socklen_t sl = to_sockaddr(&p->up[p->cur], &ss);
	size_t n;

	hash_del(f, p);		/* late UDP answers no longer match */
	p->tcp_fd = tcp_socket(f, &p->up[p->cur]);
	p->tcp_buf = malloc(2 + DNS_TCP_MAX);
	p->tcp_poll = malloc(sizeof(*p->tcp_poll));
	if (p->tcp_fd < 0 || p->tcp_buf == NULL || p->tcp_poll == NULL ||
	    (connect(p->tcp_fd, (struct sockaddr *)&ss, sl) < 0 &&
	    errno != EINPROGRESS) ||
	    uv_poll_init(f->loop, p->tcp_poll, p->tcp_fd) != 0) {
		free(p->tcp_poll);
		p->tcp_poll = NULL;
		f->ctr.tcp_failed++;
		fail_over(f, p);
		return;
	}
	p->tcp_poll->data = p;
	n = build_query(p, p->tcp_buf + 2, DNS_NAME_MAX + 64);
	dns_put16(p->tcp_buf, (uint16_t)n);
	p->tcp_qlen = n + 2;
	p->tcp_sent = 0;
	tl_del(f, p);
	tl_add(f, p);
	uv_poll_start(p->tcp_poll, UV_WRITABLE, on_tcp);
}

static int open_sock(struct fwd *f, unsigned i, uint8_t family);
static int setup_sock(struct fwd *f, unsigned i, uint8_t family, int fd);

/* A marked slot takes a socket from the stock, or stays empty (fd -1)
 * until privd's next one arrives. */
static int
refill_slot(struct fwd *f, unsigned i, uint8_t family)
{
	struct fwd_stock *st = stock_of(f, family, false);

	if (i < MBASE)
		return open_sock(f, i, family);
	f->socks[i].fd = -1;
	if (st->n == 0)
		return 0;
	return setup_sock(f, i, family, st->fd[--st->n]);
}

/* A socket that has carried its share is replaced once idle, here in the
 * timer rather than while its answers are being read. */
static void
renew_socks(struct fwd *f)
{
	for (unsigned i = 0; i < FWD_NSOCKS; i++) {
		struct fwd_sock *s = &f->socks[i];
		if (s->fd < 0 || !s->draining || s->outstanding > 0)
			continue;
		/* No marked replacement in stock (privd rate-limits): keep
		 * the port a while longer rather than go unmarked. */
		if (i >= MBASE && stock_of(f, s->family, false)->n == 0)
			continue;
		uv_poll_stop(s->poll);
		uv_close((uv_handle_t *)s->poll, (uv_close_cb)free);
		s->poll = NULL;
		close(s->fd);
		s->fd = -1;
		if (refill_slot(f, i, s->family) < 0)
			log_warnx("upstream socket %u: cannot renew: %s", i,
			    strerror(errno));
	}
}

static unsigned
marked_in_use(struct fwd *f, int v6)
{
	unsigned n = 0;

	for (unsigned i = 0; i < FWD_MSOCKS; i++)
		n += f->socks[MBASE + (unsigned)v6 * FWD_MSOCKS + i].fd >= 0;
	return n;
}

/* Keeps FWD_MSOCKS marked UDP sockets in use and FWD_SPARES of each kind
 * in stock, asking privd for what is missing.  privd rate-limits and may
 * give fewer; what has not come after FWD_ASK_RETRY_MS is asked again. */
static void
ask_marked(struct fwd *f)
{
	struct ipc_chan *ch = child_chan(&f->dd->c, PM__PROC__PROC_PRIVD);
	uint64_t now = now_ms();

	if (ch == NULL)
		return;
	for (int v6 = 0; v6 < 2; v6++)
		for (int tcp = 0; tcp < 2; tcp++) {
			Pm__DnsdToPrivd env = PM__DNSD_TO_PRIVD__INIT;
			Pm__UpstreamSocketsRequest rq =
			    PM__UPSTREAM_SOCKETS_REQUEST__INIT;
			struct fwd_stock *st = &f->stock[v6][tcp];
			unsigned have = st->n + (tcp ? 0 : marked_in_use(f, v6)),
			    want = FWD_SPARES + (tcp ? 0 : FWD_MSOCKS);

			if (st->asked > 0 && now - st->asked_ms >
			    FWD_ASK_RETRY_MS)
				st->asked = 0;
			if (have + st->asked >= want)
				continue;
			rq.family = v6 ? AF_INET6 : AF_INET;
			rq.tcp = tcp;
			rq.count = want - have - st->asked;
			env.msg_case = PM__DNSD_TO_PRIVD__MSG_UPSTREAM_SOCKETS;
			env.upstream_sockets = &rq;
			if (ipc_send(ch, &env.base, -1) < 0)
				return;
			st->asked += rq.count;
			st->asked_ms = now;
		}
}

void
fwd_marked_socket(struct fwd *f, int family, bool tcp, int fd)
{
	struct fwd_stock *st = stock_of(f, family, tcp);
	unsigned base = MBASE + (family != AF_INET) * FWD_MSOCKS;

	f->ctr.marked_received++;
	if (st->asked > 0)
		st->asked--;
	if (!tcp)
		for (unsigned i = base; i < base + FWD_MSOCKS; i++)
			if (f->socks[i].fd < 0) {
				if (setup_sock(f, i, (uint8_t)family, fd) < 0)
					log_warnx("marked upstream socket: %s",
					    strerror(errno));
				return;
			}
	if (st->n == FWD_SPARES) {
		close(fd);
		return;
	}
	st->fd[st->n++] = fd;
}

/* Timeouts. */

static void
on_timer(uv_timer_t *t)
{
	struct fwd *f = t->data;
	uint64_t now = now_ms();

	renew_socks(f);
	ask_marked(f);
	while (f->thead != NULL && f->thead->deadline_ms <= now) {
		struct fwd_pending *p = f->thead;
		f->ctr.timeouts++;
		tl_del(f, p);
		fail_over(f, p);
	}
	dnsd_flush(f->dd);
}

/* Queries. */

static unsigned
resolvers_for(struct fwd *f, const struct zone_route *rt,
    struct fwd_addr *out)
{
	const struct upstream *ups;
	unsigned n = dnsd_default_upstreams(f->dd, &ups);

	if (rt != NULL && rt->nup > 0) {
		ups = rt->up;
		n = rt->nup;
	}
	for (unsigned i = 0; i < n; i++)
		to_fwd_addr(&ups[i], &out[i]);
	return n;
}

void
fwd_query(struct fwd *f, const struct dns_client *cl,
    const struct dns_query *q, const struct zone_route *rt)
{
	static uint8_t buf[CACHE_MSG_MAX];
	struct fwd_pending *p;
	size_t n;

	f->ctr.queries++;
	if ((n = cache_get(f->cache, q, buf, answer_limit(q, cl->tcp_conn != 0)
	    < sizeof(buf) ? answer_limit(q, cl->tcp_conn != 0) : sizeof(buf),
	    now_ms())) > 0) {
		f->ctr.cache_hits++;
		dnsd_reply(f->dd, cl, buf, n);
		return;
	}
	if ((p = f->free_list) == NULL) {
		f->ctr.overload++;
		n = answer_error(q, true, DNS_RCODE_SERVFAIL, buf, sizeof(buf));
		dnsd_reply(f->dd, cl, buf, n);
		return;
	}
	f->free_list = p->hnext;
	memset(p, 0, offsetof(struct fwd_pending, tcp_fd));
	p->tcp_fd = -1;
	p->f = f;
	p->used = true;
	p->cl = *cl;
	p->q = *q;
	if ((p->nup = (uint8_t)resolvers_for(f, rt, p->up)) == 0) {
		f->ctr.no_upstream++;
		reply_error(f, p, DNS_RCODE_SERVFAIL);
		p->hnext = f->free_list;
		f->free_list = p;
		p->used = false;
		return;
	}
	p->cur = 0;
	if (send_udp(f, p) < 0)
		fail_over(f, p);
}

/* fd is consumed: on error it is closed and the slot left empty. */
static int
setup_sock(struct fwd *f, unsigned i, uint8_t family, int fd)
{
	struct fwd_sock *s = &f->socks[i];
	struct sockaddr_storage ss = { .ss_family = family };

	memset(s, 0, sizeof(*s));
	s->f = f;
	s->family = family;
	s->fd = fd;
	/* Port 0: the kernel draws a random ephemeral port (RFC 5452 9.2). */
	if (bind(s->fd, (struct sockaddr *)&ss, family == AF_INET ?
	    sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6)) < 0 ||
	    (s->poll = malloc(sizeof(*s->poll))) == NULL ||
	    uv_poll_init(f->loop, s->poll, s->fd) != 0) {
		int e = errno;
		free(s->poll);
		s->poll = NULL;
		close(s->fd);
		s->fd = -1;
		errno = e;
		return -e;
	}
	s->poll->data = s;
	uv_poll_start(s->poll, UV_READABLE, on_udp);
	return 0;
}

static int
open_sock(struct fwd *f, unsigned i, uint8_t family)
{
	int fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0) {
		f->socks[i].fd = -1;
		return -errno;
	}
	return setup_sock(f, i, family, fd);
}

int
fwd_init(struct fwd *f, uv_loop_t *loop, struct dnsd *dd)
{
	memset(f, 0, sizeof(*f));
	f->loop = loop;
	f->dd = dd;
	f->cache = &dd->cache;
	if ((f->slots = calloc(FWD_PENDING_MAX, sizeof(*f->slots))) == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < FWD_PENDING_MAX; i++) {
		f->slots[i].tcp_fd = -1;
		f->slots[i].f = f;
		f->slots[i].hnext = f->free_list;
		f->free_list = &f->slots[i];
	}
	for (unsigned i = 0; i < 2 * FWD_SOCKS; i++)
		if (open_sock(f, i, i < FWD_SOCKS ? AF_INET : AF_INET6) < 0)
			log_warnx("upstream socket %u: %s, ignoring", i,
			    strerror(errno));
	for (unsigned i = MBASE; i < FWD_NSOCKS; i++) {
		f->socks[i].fd = -1;
		f->socks[i].f = f;
		f->socks[i].family = i < MBASE + FWD_MSOCKS ? AF_INET : AF_INET6;
	}
	uv_timer_init(loop, &f->timer);
	f->timer.data = f;
	uv_timer_start(&f->timer, on_timer, 100, 100);
	return 0;
}

void
fwd_config_changed(struct fwd *f)
{
	cache_clear(f->cache);
}
