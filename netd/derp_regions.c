/*
 * netd's DERP connections, as tailscale's magicsock (derp.go) keeps them:
 * one to the home region at all times, and one to any other region on
 * demand, opened when a packet must go to a peer whose home is there.
 * While a connection logs in, packets for it wait in a short queue
 * (tailscale's bufferedDerpWritesBeforeDrop, 32; past it they are dropped
 * and counted).  A connection other than the home one is closed once
 * nothing was sent on it for DERP_IDLE_MS, checked every
 * DERP_IDLE_CHECK_MS (derpInactiveCleanupTime, derpCleanStaleInterval).
 * Each connection reconnects by itself with a backoff (derp_client.c) and
 * tells its server whether it is our home region (NotePreferred) when it
 * logs in and when the home moves.  netcheck picks the home region
 * (derp_home_region) and calls derp_regions_update when it moves.
 *
 * Sockets come from privd (marked so they bypass the tunnel; netd cannot
 * open one) and are interchangeable: each goes to the connection that has
 * waited longest for one of its family, else to netcheck's HTTPS latency
 * check (netcheck_https.c), which asks for them the same way.  TLS is checked as derp_tls.c
 * says, with the CA bundle read before the sandbox.
 *
 * Relayed packets go to the WireGuard core (wg_io_from_derp) with the DERP
 * "endpoint" 127.3.3.40:<region> as their source; derp_send() is the way
 * out.  Counters per region are kept for status (derp_regions_status).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "derp_client.h"
#include "log.h"
#include "netcheck.h"
#include "netd.h"
#include "netd_to_privd.pb-c.h"

#define CA_BUNDLE		"/etc/ssl/certs/ca-certificates.crt"
#define DERP_QUEUE_MAX		32
#define DERP_IDLE_MS		60000
#define DERP_IDLE_CHECK_MS	15000
/* Connections at once: every region of a hostile map would otherwise
 * cost a socket each. */
#define DERP_CONNS_MAX		DERP_STATUS_REGIONS_MAX

struct queued {
	uint8_t		 dst[32];
	size_t		 len;
	uint8_t		*pkt;
};

struct region_conn {
	struct region_conn *next;
	struct netd	*nd;
	uint32_t	 region;
	struct derp_target to;
	struct derp_client *cl;		/* on the heap, frees itself */
	uint64_t	 last_write_ms;
	uint64_t	 asked;		/* order of its socket request */
	struct queued	 q[DERP_QUEUE_MAX];
	size_t		 qlen;
	struct derp_region_stats st;
};

static struct {
	SSL_CTX		*ctx;
	struct region_conn *conns;
	size_t		 nconns;
	uint8_t		 pub[32];
	uint64_t	 asked;
	uint64_t	 tx_no_region;	/* no connection could be made */
	uint32_t	 home;		/* as the servers were last told */
	uv_timer_t	 idle;
	bool		 idle_on;
} R;

void
derp_regions_init(void)
{
	/* Read whole now: after the chroot the bundle is out of reach. */
	if ((R.ctx = derp_tls_ctx_new(CA_BUNDLE)) == NULL &&
	    (R.ctx = derp_tls_ctx_new(NULL)) == NULL)
		fatalx("cannot create the TLS context for DERP");
}

static struct region_conn *
find(uint32_t region)
{
	for (struct region_conn *r = R.conns; r != NULL; r = r->next)
		if (r->region == region)
			return r;
	return NULL;
}

int
derp_socket_ask(struct netd *nd, int family)
{
	struct ipc_chan *ch = child_chan(&nd->c, PM__PROC__PROC_PRIVD);
	Pm__NetdToPrivd env = PM__NETD_TO_PRIVD__INIT;
	Pm__DerpSocketRequest rq = PM__DERP_SOCKET_REQUEST__INIT;
	int e;

	rq.family = (uint32_t)family;
	env.msg_case = PM__NETD_TO_PRIVD__MSG_DERP_SOCKET_REQUEST;
	env.derp_socket_request = &rq;
	if (ch == NULL)
		return -ENOTCONN;
	if ((e = ipc_send(ch, &env.base, -1)) < 0)
		return e;
	return -EINPROGRESS;
}

SSL_CTX *
derp_regions_tls(void)
{
	return R.ctx;
}

static int
ask_socket(void *arg, int family)
{
	struct region_conn *r = arg;
	int e = derp_socket_ask(r->nd, family);

	if (e == -EINPROGRESS)
		r->asked = ++R.asked;
	return e;
}

void
derp_regions_socket(struct netd *nd, int fd)
{
	struct region_conn *best = NULL;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &sl) != 0) {
		close(fd);
		return;
	}
	for (struct region_conn *r = R.conns; r != NULL; r = r->next)
		if (r->cl->waiting_socket &&
		    r->to.addr.ss_family == ss.ss_family &&
		    (best == NULL || r->asked < best->asked))
			best = r;
	if (best != NULL)
		derp_client_socket(best->cl, fd);
	else if (!netcheck_https_socket(nd, fd))
		close(fd);
}

static void
count_rx(struct region_conn *r, size_t len)
{
	r->st.rx_packets++;
	r->st.rx_bytes += len;
}

static void
on_recv(void *arg, const uint8_t src[32], const uint8_t *pkt, size_t len)
{
	struct region_conn *r = arg;
	uint64_t bad = r->nd->wg.ctr.rx_bad;

	count_rx(r, len);
	wg_io_from_derp(r->nd, r->region, src, pkt, len);
	/* A relayed packet WireGuard refused: garbage from a peer (or one
	 * posing as it) through this region. */
	if (r->nd->wg.ctr.rx_bad != bad)
		r->st.rx_refused++;
}

static void
queue_free(struct region_conn *r)
{
	for (size_t i = 0; i < r->qlen; i++)
		free(r->q[i].pkt);
	r->qlen = 0;
}

static void
queue_flush(struct region_conn *r)
{
	for (size_t i = 0; i < r->qlen; i++) {
		if (derp_client_send(r->cl, r->q[i].dst, r->q[i].pkt,
		    r->q[i].len) == 0) {
			r->st.tx_packets++;
			r->st.tx_bytes += r->q[i].len;
		}
	}
	queue_free(r);
}

static void
on_state(struct derp_client *d, bool up)
{
	struct region_conn *r = d->cb_arg;

	if (up) {
		log_info("DERP: region %u: logged in (%llu logins)",
		    r->region, (unsigned long long)d->logins);
		/* As derphttp does on every connect. */
		(void)derp_client_note_preferred(d,
		    r->region == derp_home_region(r->nd));
		queue_flush(r);
	} else
		log_warnx("DERP: region %u: connection lost: %s (server "
		    "errors %llu); again in %u ms", r->region, d->last_err,
		    (unsigned long long)d->server_errors, d->backoff_ms);
}

static void
unlink_conn(struct region_conn *r)
{
	for (struct region_conn **pp = &R.conns; *pp != NULL;
	    pp = &(*pp)->next)
		if (*pp == r) {
			*pp = r->next;
			return;
		}
}

static void
conn_free(struct region_conn *r)
{
	unlink_conn(r);
	derp_client_stop(r->cl);	/* frees itself once closed */
	queue_free(r);
	R.nconns--;
	free(r);
}

/* The region's first node that relays and has an address of ours to dial
 * (names are not resolved: netd has no resolver). */
static bool
target(const struct derp_region *rg, struct derp_target *to)
{
	for (size_t i = 0; i < rg->nnodes; i++) {
		const struct derp_node *n = &rg->nodes[i];
		struct sockaddr_in *s4 = (struct sockaddr_in *)&to->addr;
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&to->addr;

		if (n->stun_only || (!n->has_v4 && !n->has_v6))
			continue;
		memset(to, 0, sizeof(*to));
		if (n->has_v4) {
			s4->sin_family = AF_INET;
			s4->sin_addr = n->v4;
			s4->sin_port = htons(n->derp_port);
			to->alen = sizeof(*s4);
		} else {
			s6->sin6_family = AF_INET6;
			s6->sin6_addr = n->v6;
			s6->sin6_port = htons(n->derp_port);
			to->alen = sizeof(*s6);
		}
		memcpy(to->host, n->host, sizeof(to->host));
		memcpy(to->cert_name, n->cert_name, sizeof(to->cert_name));
		to->insecure = n->insecure;
		return true;
	}
	return false;
}

bool
derp_region_target(const struct derp_region *rg, struct derp_target *to)
{
	return target(rg, to);
}

/* The one place that says which region is home: netcheck's choice, else
 * (nothing measured yet, the region left the map, or it has only STUN
 * nodes) ctrld's. */
uint32_t
derp_home_region(const struct netd *nd)
{
	const struct derp_region *rg = derpmap_region(&nd->derp,
	    netcheck_home(nd));
	struct derp_target to;

	return rg != NULL && target(rg, &to) ? rg->id : nd->derp.home;
}

/* For netcheck's stickiness: 0 while a connection to region is logged in
 * (the server's keepalives arrive, so a lost one is noticed within the
 * keepalive period), UINT64_MAX otherwise. */
uint64_t
derp_home_heard_ago(uint32_t region)
{
	const struct region_conn *r = region != 0 ? find(region) : NULL;

	return r != NULL && r->cl->ready ? 0 : UINT64_MAX;
}

static void	idle_check(uv_timer_t *);

static struct region_conn *
conn_new(struct netd *nd, const struct derp_region *rg,
    const struct derp_target *to)
{
	static const struct derp_conn_cb cb = { on_recv, NULL };
	const uint8_t *priv = netd_node_private();
	struct region_conn *r;

	if (priv == NULL || R.nconns >= DERP_CONNS_MAX ||
	    (r = calloc(1, sizeof(*r))) == NULL)
		return NULL;
	if ((r->cl = calloc(1, sizeof(*r->cl))) == NULL) {
		free(r);
		return NULL;
	}
	r->nd = nd;
	r->region = rg->id;
	r->to = *to;
	r->last_write_ms = now_ms();
	r->next = R.conns;
	R.conns = r;
	R.nconns++;
	log_info("DERP: %s region %u \"%s\" via %s",
	    rg->id == derp_home_region(nd) ? "home" : "connecting to",
	    rg->id, rg->code, to->host);
	if (derp_client_start(r->cl, nd->c.loop, R.ctx, to, R.pub, priv,
	    ask_socket, r, &cb, r) < 0) {
		log_warnx("DERP: cannot start region %u's client", rg->id);
		unlink_conn(r);		/* the client never ran: no handles */
		R.nconns--;
		free(r->cl);
		free(r);
		return NULL;
	}
	r->cl->heap = true;
	r->cl->on_state = on_state;
	if (!R.idle_on && uv_timer_init(nd->c.loop, &R.idle) == 0) {
		R.idle_on = true;
		(void)uv_timer_start(&R.idle, idle_check, DERP_IDLE_CHECK_MS,
		    DERP_IDLE_CHECK_MS);
	}
	return r;
}

/* The region's connection, opened now if there is none. */
static struct region_conn *
conn_get(struct netd *nd, uint32_t region)
{
	struct region_conn *r = find(region);
	const struct derp_region *rg;
	struct derp_target to;

	if (r != NULL)
		return r;
	if ((rg = derpmap_region(&nd->derp, region)) == NULL ||
	    !target(rg, &to))
		return NULL;
	return conn_new(nd, rg, &to);
}

static void
idle_check(uv_timer_t *t)
{
	struct region_conn *r, *next;
	uint64_t now = now_ms();

	(void)t;
	for (r = R.conns; r != NULL; r = next) {
		next = r->next;
		if (r->region != derp_home_region(r->nd) &&
		    now - r->last_write_ms >= DERP_IDLE_MS) {
			log_info("DERP: region %u: idle, closed", r->region);
			conn_free(r);
		}
	}
}

void
derp_send(struct netd *nd, uint32_t region, const uint8_t dst[32],
    const uint8_t *pkt, size_t len)
{
	struct region_conn *r = conn_get(nd, region);
	struct queued *q;

	if (r == NULL) {
		R.tx_no_region++;
		return;
	}
	r->last_write_ms = now_ms();
	if (r->cl->ready) {
		/* (a refusal is counted by the client) */
		if (derp_client_send(r->cl, dst, pkt, len) == 0) {
			r->st.tx_packets++;
			r->st.tx_bytes += len;
		}
		return;
	}
	/* Logging in: keep it for then. */
	if (r->qlen == DERP_QUEUE_MAX ||
	    (r->q[r->qlen].pkt = malloc(len)) == NULL) {
		r->st.tx_dropped++;
		return;
	}
	q = &r->q[r->qlen++];
	memcpy(q->dst, dst, 32);
	memcpy(q->pkt, pkt, len);
	q->len = len;
}

/* The map, the home region or the node key changed: the home region gets
 * its connection, connections to regions gone from the map (or moved to
 * other nodes, or made with another key) close; others stay. */
void
derp_regions_update(struct netd *nd)
{
	const uint8_t *priv = netd_node_private();
	const struct derp_region *rg;
	struct region_conn *r, *next;
	struct derp_target to;
	uint8_t pub[32] = { 0 };

	if (priv != NULL)
		crypto_scalarmult_base(pub, priv);
	for (r = R.conns; r != NULL; r = next) {
		next = r->next;
		rg = derpmap_region(&nd->derp, r->region);
		if (priv == NULL || memcmp(pub, R.pub, 32) != 0 ||
		    rg == NULL || !target(rg, &to) ||
		    memcmp(&to, &r->to, sizeof(to)) != 0) {
			log_info("DERP: region %u: closed (map or key "
			    "changed)", r->region);
			conn_free(r);
		}
	}
	memcpy(R.pub, pub, 32);
	if (R.home != derp_home_region(nd)) {
		/* The home moved: every server learns whether it is it. */
		R.home = derp_home_region(nd);
		for (r = R.conns; r != NULL; r = r->next) {
			(void)derp_client_note_preferred(r->cl,
			    r->region == R.home);
			if (r->region == R.home)
				log_info("DERP: home region %u \"%s\" via %s "
				    "(connected already)", r->region,
				    derpmap_region(&nd->derp, r->region)->code,
				    r->to.host);
		}
	}
	if (priv == NULL || derp_home_region(nd) == 0) {
		if (R.nconns > 0)
			log_info("DERP: no home region to connect to");
		return;
	}
	if (conn_get(nd, derp_home_region(nd)) == NULL)
		log_warnx("DERP: no connection to home region %u",
		    derp_home_region(nd));
}

size_t
derp_regions_status(const struct netd *nd, struct derp_region_stats *out,
    size_t max, uint64_t *tx_no_region)
{
	size_t n = 0;

	*tx_no_region = R.tx_no_region;
	for (const struct region_conn *r = R.conns; r != NULL && n < max;
	    r = r->next) {
		const struct derp_client *d = r->cl;
		struct derp_region_stats *s = &out[n++];

		*s = r->st;
		s->region = r->region;
		s->home = r->region == derp_home_region(nd);
		s->connected = d->ready;
		s->dials = d->dials;
		s->logins = d->logins;
		s->drops = d->drops;
		s->server_errors = d->server_errors;
		s->tx_dropped += d->tx_dropped;
		s->garbage_frames = d->skipped + (d->session ?
		    d->c.st.skipped : 0);
		snprintf(s->last_error, sizeof(s->last_error), "%s",
		    d->last_err);
	}
	return n;
}
