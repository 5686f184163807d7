#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <errno.h>
#include <netinet/in.h>
#include <resolv.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "resolve.h"

#define QUERY_TIMEOUT_MS 2000

static struct __res_state rs;
static bool rs_ok;

struct resolve {
	uv_loop_t	*loop;
	uv_poll_t	 poll;
	uv_timer_t	 timer;
	int		 fd;
	char		 host[256];
	uint16_t	 port;
	int		 type;		/* ns_t_a, then ns_t_aaaa */
	int		 server;	/* index into rs.nsaddr_list */
	uint16_t	 id;
	resolve_cb	 cb;
	void		*arg;
	bool		 done;
	int		 closing;
	char		 err[160];
};

void
resolve_preinit(void)
{
	memset(&rs, 0, sizeof(rs));
	rs_ok = res_ninit(&rs) == 0 && rs.nscount > 0;
	if (!rs_ok)
		log_warnx("no nameserver in /etc/resolv.conf: login server "
		    "host names will not resolve");
}

int
resolve_parse(const uint8_t *msg, int len, uint16_t id, int type,
    uint8_t addr[16])
{
	ns_msg m;
	ns_rr rr;
	int n, want = type == ns_t_a ? 4 : 16;

	if (ns_initparse(msg, len, &m) < 0 || ns_msg_id(m) != id ||
	    !ns_msg_getflag(m, ns_f_qr))
		return -1;
	if (ns_msg_getflag(m, ns_f_rcode) != ns_r_noerror)
		return 0;
	n = ns_msg_count(m, ns_s_an);
	for (int i = 0; i < n; i++) {
		if (ns_parserr(&m, ns_s_an, i, &rr) < 0)
			return -1;
		if ((int)ns_rr_type(rr) == type && ns_rr_class(rr) == ns_c_in &&
		    ns_rr_rdlen(rr) == want) {
			memcpy(addr, ns_rr_rdata(rr), (size_t)want);
			return 1;
		}
	}
	return 0;
}

static void
on_closed(uv_handle_t *h)
{
	struct resolve *r = h->data;

	if (--r->closing == 0) {
		if (r->fd >= 0)
			close(r->fd);
		free(r);
	}
}

static void
finish(struct resolve *r, const struct sockaddr_storage *ss, socklen_t len,
    const char *err)
{
	if (r->done)
		return;
	r->done = true;
	uv_timer_stop(&r->timer);
	uv_poll_stop(&r->poll);
	if (r->cb != NULL)
		r->cb(r->arg, ss, len, err);
	r->closing = 2;
	uv_close((uv_handle_t *)&r->poll, on_closed);
	uv_close((uv_handle_t *)&r->timer, on_closed);
}

static void send_query(struct resolve *);

static void
next(struct resolve *r)
{
	if (++r->server < rs.nscount) {
		send_query(r);
		return;
	}
	if (r->type == ns_t_a) {
		r->type = ns_t_aaaa;
		r->server = 0;
		send_query(r);
		return;
	}
	finish(r, NULL, 0, r->err[0] ? r->err : "no address");
}

static void
on_readable(uv_poll_t *p, int status, int events)
{
	struct resolve *r = p->data;
	struct sockaddr_storage ss;
	uint8_t buf[2048], a[16];
	ssize_t n;
	int got;

	(void)events;
	if (status < 0 || (n = read(r->fd, buf, sizeof(buf))) < 0) {
		if (status >= 0 && errno == EAGAIN)
			return;
		snprintf(r->err, sizeof(r->err), "nameserver unreachable");
		next(r);
		return;
	}
	got = resolve_parse(buf, (int)n, r->id, r->type, a);
	if (got < 0)
		return;		/* not our answer: keep waiting */
	if (got == 0) {
		next(r);
		return;
	}
	memset(&ss, 0, sizeof(ss));
	if (r->type == ns_t_a) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
		s4->sin_family = AF_INET;
		s4->sin_port = htons(r->port);
		memcpy(&s4->sin_addr, a, 4);
		finish(r, &ss, sizeof(*s4), NULL);
	} else {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(r->port);
		memcpy(&s6->sin6_addr, a, 16);
		finish(r, &ss, sizeof(*s6), NULL);
	}
}

static void
on_timeout(uv_timer_t *t)
{
	struct resolve *r = t->data;

	snprintf(r->err, sizeof(r->err), "no answer from the nameserver");
	next(r);
}

static void
send_query(struct resolve *r)
{
	uint8_t q[512];
	int qlen;
	const struct sockaddr_in *ns = &rs.nsaddr_list[r->server];

	qlen = res_nmkquery(&rs, ns_o_query, r->host, ns_c_in, r->type, NULL,
	    0, NULL, q, sizeof(q));
	if (qlen < 12) {
		finish(r, NULL, 0, "bad host name");
		return;
	}
	r->id = (uint16_t)(q[0] << 8 | q[1]);
	/* One socket, re-connected to each server in turn: only answers
	 * from the server asked are read. */
	if (connect(r->fd, (const struct sockaddr *)ns, sizeof(*ns)) != 0 ||
	    write(r->fd, q, (size_t)qlen) != qlen) {
		snprintf(r->err, sizeof(r->err), "cannot query the "
		    "nameserver: %s", strerror(errno));
		/* From the loop, so the callback never runs inside start. */
		uv_timer_start(&r->timer, on_timeout, 0, 0);
		return;
	}
	uv_poll_start(&r->poll, UV_READABLE, on_readable);
	uv_timer_start(&r->timer, on_timeout, QUERY_TIMEOUT_MS, 0);
}

struct resolve *
resolve_start(uv_loop_t *loop, const char *host, uint16_t port,
    resolve_cb cb, void *arg)
{
	struct resolve *r;

	if (!rs_ok || strlen(host) >= sizeof(((struct resolve *)0)->host) ||
	    (r = calloc(1, sizeof(*r))) == NULL)
		return NULL;
	r->loop = loop;
	r->fd = -1;
	r->port = port;
	r->type = ns_t_a;
	r->cb = cb;
	r->arg = arg;
	snprintf(r->host, sizeof(r->host), "%s", host);
	/* resolv.conf's nameservers here are IPv4 (nsaddr_list). */
	r->fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (r->fd < 0 || uv_poll_init(loop, &r->poll, r->fd) != 0) {
		if (r->fd >= 0)
			close(r->fd);
		free(r);
		return NULL;
	}
	r->poll.data = r;
	uv_timer_init(loop, &r->timer);
	r->timer.data = r;
	send_query(r);
	return r;
}

void
resolve_cancel(struct resolve *r)
{
	if (r == NULL)
		return;
	r->cb = NULL;
	finish(r, NULL, 0, NULL);
}
