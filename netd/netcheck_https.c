/*
 * netcheck's HTTPS latency check, for a full run in which no STUN answer
 * came back (UDP blocked), as tailscale's GetReport falls back to
 * measureHTTPSLatency: for each region with a DERP node and no latency
 * yet, a TLS connection to the node a DERP connection would use (a
 * marked TCP socket from privd, TLS checked as derp_tls.c does: CertName
 * pins, InsecureForTests, the CA bundle), then `GET /derp/latency-check`
 * on it; the region's latency is the time from the request's last byte
 * handed to the kernel to the answer's first byte (httpstat's
 * ServerProcessing).  An answer above 299 (a middlebox, most likely) or a
 * malformed status line gives no latency.
 *
 * Bounds: one probe per region per run, at most HTTPS_AT_ONCE
 * connections at once, and everything ends at the run's deadline
 * (tailscale's ReportTimeout, 5 s from the run's start).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "derp_client.h"
#include "derp_probe.h"
#include "log.h"
#include "netcheck.h"
#include "netd.h"

#define HTTPS_AT_ONCE	4

struct hprobe {
	struct hprobe	*next;
	uint32_t	 region;
	struct derp_target to;
	int		 fd;
	uv_poll_t	 poll;
	bool		 waiting, connecting, tls_up;
	struct derp_tls	 t;
	char		 req[512];
	size_t		 req_len, req_off;
	uint8_t		 cbuf[4096];	/* ciphertext not yet sent */
	size_t		 clen;
	uint8_t		 line[DERP_PROBE_LINE_MAX];
	size_t		 line_len;
	uint64_t	 wrote, first;	/* monotonic ns; 0: not yet */
};

static struct {
	bool		 timer_ready, on;
	uv_timer_t	 timer;
	struct netd	*nd;
	struct nc_report *r;
	struct nc_counters *ctr;
	void		(*done)(struct netd *);
	uint32_t	*todo;		/* regions, in map order */
	size_t		 ntodo, next;
	struct hprobe	*active;	/* in the order sockets were asked */
	size_t		 nactive;
} H;

static void	launch(void);

static void
on_closed(uv_handle_t *h)
{
	struct hprobe *p = h->data;

	close(p->fd);
	free(p);
}

static void
unlink_probe(struct hprobe *p)
{
	for (struct hprobe **pp = &H.active; *pp != NULL; pp = &(*pp)->next)
		if (*pp == p) {
			*pp = p->next;
			H.nactive--;
			return;
		}
}

static void
probe_free(struct hprobe *p)
{
	if (p->tls_up)
		derp_tls_free(&p->t);
	if (p->fd >= 0)
		uv_close((uv_handle_t *)&p->poll, on_closed);
	else
		free(p);
}

/* The probe is over: its latency (when d_ns is not 0) into the report. */
static void
probe_end(struct hprobe *p, uint64_t d_ns, const char *why)
{
	if (d_ns != 0) {
		H.ctr->https_rx++;
		if (nc_add_https_latency(H.r, p->region,
		    p->to.addr.ss_family == AF_INET6, d_ns) < 0)
			log_warnx("netcheck: out of memory for a latency");
	} else {
		H.ctr->https_errors++;
		log_info("netcheck: HTTPS latency of region %u: %s",
		    p->region, why);
	}
	unlink_probe(p);
	probe_free(p);
	launch();
}

static void
on_timer(uv_timer_t *t)
{
	void (*done)(struct netd *) = H.done;

	netcheck_https_stop();
	done(t->data);
}

/* Starts probes while there is room; once none is left, the run goes on
 * from the loop (not from under a probe's callback). */
static void
launch(void)
{
	while (H.nactive < HTTPS_AT_ONCE && H.next < H.ntodo) {
		const struct derp_region *rg = derpmap_region(&H.nd->derp,
		    H.todo[H.next++]);
		struct hprobe *p, **tail;
		int n;

		if (rg == NULL || (p = calloc(1, sizeof(*p))) == NULL)
			continue;
		p->fd = -1;
		p->region = rg->id;
		if (!derp_region_target(rg, &p->to) ||
		    (n = derp_probe_request(p->req, sizeof(p->req),
		    p->to.host)) < 0 ||
		    derp_socket_ask(H.nd, p->to.addr.ss_family) !=
		    -EINPROGRESS) {
			free(p);
			continue;
		}
		p->req_len = (size_t)n;
		p->waiting = true;
		H.ctr->https_tx++;
		for (tail = &H.active; *tail != NULL; tail = &(*tail)->next)
			;
		*tail = p;
		H.nactive++;
	}
	if (H.nactive == 0 && H.next == H.ntodo)
		(void)uv_timer_start(&H.timer, on_timer, 0, 0);
}

/* Moves the request through TLS to the socket; false when the probe
 * ended. */
static bool
flush(struct hprobe *p)
{
	ssize_t w;

	for (;;) {
		w = derp_tls_write(&p->t, (const uint8_t *)p->req + p->req_off,
		    p->req_len - p->req_off);
		if (w < 0) {
			probe_end(p, 0, p->t.err);
			return false;
		}
		p->req_off += (size_t)w;
		p->clen += derp_tls_out(&p->t, p->cbuf + p->clen,
		    sizeof(p->cbuf) - p->clen);
		if (p->clen == 0)
			break;
		w = send(p->fd, p->cbuf, p->clen, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return true;
		if (w <= 0) {
			probe_end(p, 0, strerror(errno));
			return false;
		}
		memmove(p->cbuf, p->cbuf + w, p->clen - (size_t)w);
		p->clen -= (size_t)w;
	}
	if (p->wrote == 0 && p->t.done && p->req_off == p->req_len)
		p->wrote = wg_now_ns();
	return true;
}

/* Plaintext from the server: the status line decides. */
static bool
answer(struct hprobe *p, const uint8_t *b, size_t len)
{
	size_t room = sizeof(p->line) - p->line_len;
	ssize_t n;
	int status = 0;
	char why[48];

	if (p->wrote == 0) {
		probe_end(p, 0, "answer before the request");
		return false;
	}
	if (p->first == 0)
		p->first = wg_now_ns();
	memcpy(p->line + p->line_len, b, len < room ? len : room);
	p->line_len += len < room ? len : room;
	if ((n = derp_probe_status(p->line, p->line_len, &status)) == 0)
		return true;
	if (n < 0) {
		probe_end(p, 0, "not an HTTP answer");
		return false;
	}
	if (status > 299) {
		snprintf(why, sizeof(why), "HTTP status %d", status);
		probe_end(p, 0, why);
		return false;
	}
	probe_end(p, p->first - p->wrote, NULL);
	return false;
}

static bool
readable(struct hprobe *p)
{
	uint8_t buf[4096], plain[4096];
	ssize_t r;

	for (int i = 0; i < 16; i++) {
		r = recv(p->fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return true;
		if (r <= 0) {
			probe_end(p, 0, r == 0 ? "closed by the server" :
			    strerror(errno));
			return false;
		}
		if (derp_tls_feed(&p->t, buf, (size_t)r) != r) {
			probe_end(p, 0, "TLS input");
			return false;
		}
		while ((r = derp_tls_read(&p->t, plain, sizeof(plain))) > 0)
			if (!answer(p, plain, (size_t)r))
				return false;
		if (r < 0) {
			probe_end(p, 0, p->t.err);
			return false;
		}
	}
	return true;
}

static bool
connected(struct hprobe *p)
{
	int err = 0;
	socklen_t l = sizeof(err);

	if (getsockopt(p->fd, SOL_SOCKET, SO_ERROR, &err, &l) != 0)
		err = errno;
	if (err != 0) {
		probe_end(p, 0, strerror(err));
		return false;
	}
	p->connecting = false;
	if (derp_tls_init(&p->t, derp_regions_tls(), p->to.host,
	    p->to.cert_name, p->to.insecure) < 0) {
		probe_end(p, 0, p->t.err);
		return false;
	}
	p->tls_up = true;
	return true;
}

static void
on_poll(uv_poll_t *h, int status, int events)
{
	struct hprobe *p = h->data;

	if (status < 0) {
		probe_end(p, 0, uv_strerror(status));
		return;
	}
	if (p->connecting && !connected(p))
		return;
	if ((events & UV_READABLE) && !readable(p))
		return;
	if (!flush(p))
		return;
	(void)uv_poll_start(&p->poll, UV_READABLE |
	    (p->clen > 0 ? UV_WRITABLE : 0), on_poll);
}

static void
dial(struct hprobe *p, int fd)
{
	p->waiting = false;
	if (connect(fd, (struct sockaddr *)&p->to.addr, p->to.alen) != 0 &&
	    errno != EINPROGRESS) {
		int e = errno;

		close(fd);
		probe_end(p, 0, strerror(e));
		return;
	}
	if (uv_poll_init(H.nd->c.loop, &p->poll, fd) != 0) {
		close(fd);
		probe_end(p, 0, "poll");
		return;
	}
	p->fd = fd;
	p->poll.data = p;
	p->connecting = true;
	(void)uv_poll_start(&p->poll, UV_WRITABLE, on_poll);
}

bool
netcheck_https_socket(struct netd *nd, int fd)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);

	(void)nd;
	if (!H.on || getsockname(fd, (struct sockaddr *)&ss, &sl) != 0)
		return false;
	for (struct hprobe *p = H.active; p != NULL; p = p->next)
		if (p->waiting && p->to.addr.ss_family == ss.ss_family) {
			dial(p, fd);
			return true;
		}
	return false;
}

bool
netcheck_https_start(struct netd *nd, struct nc_report *r,
    struct nc_counters *ctr, uint64_t deadline_ns,
    void (*done)(struct netd *))
{
	const struct derpmap *m = &nd->derp;
	struct derp_target to;
	uint64_t now = wg_now_ns();

	netcheck_https_stop();
	if (derp_regions_tls() == NULL || deadline_ns <= now)
		return false;
	if ((H.todo = calloc(m->nregions + 1, sizeof(*H.todo))) == NULL)
		return false;
	/* Regions with a DERP node and no latency (regionHasDERPNode). */
	for (size_t i = 0; i < m->nregions; i++)
		if (!m->regions[i].no_measure_no_home &&
		    nc_latency(r, m->regions[i].id) == NULL &&
		    derp_region_target(&m->regions[i], &to))
			H.todo[H.ntodo++] = m->regions[i].id;
	if (H.ntodo == 0) {
		free(H.todo);
		H.todo = NULL;
		return false;
	}
	if (!H.timer_ready) {
		uv_timer_init(nd->c.loop, &H.timer);
		H.timer_ready = true;
	}
	H.timer.data = nd;
	H.nd = nd;
	H.r = r;
	H.ctr = ctr;
	H.done = done;
	H.on = true;
	log_info("netcheck: UDP is blocked, trying HTTPS (%zu regions)",
	    H.ntodo);
	(void)uv_timer_start(&H.timer, on_timer,
	    (deadline_ns - now + 999999) / 1000000, 0);
	launch();
	return true;
}

void
netcheck_https_stop(void)
{
	if (!H.on)
		return;
	H.on = false;
	uv_timer_stop(&H.timer);
	while (H.active != NULL) {
		struct hprobe *p = H.active;

		H.active = p->next;
		H.ctr->https_errors++;
		log_info("netcheck: HTTPS latency of region %u: no answer in "
		    "time",
		    p->region);
		probe_free(p);
	}
	H.nactive = 0;
	free(H.todo);
	H.todo = NULL;
	H.ntodo = H.next = 0;
}
