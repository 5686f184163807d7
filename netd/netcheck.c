/*
 * netcheck's probes on the libuv loop (netcheck.h): the probe plans of
 * tailscale's makeProbePlanInitial (full) and makeProbePlan
 * (incremental), STUN requests from the WireGuard UDP socket, answers
 * matched by transaction ID and source, and what a finished report
 * changes: the home DERP region, the endpoints ctrld reports to control,
 * NetInfo for ctrld, answers to `privmesh netcheck`.
 *
 * Memory is bounded by the DERP map (<= 1024 regions, 3 tries x 2
 * families each per run) and NC_HIST_MAX reports of history.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "log.h"
#include "netcheck.h"
#include "netd.h"
#include "stun.h"
#include "netd_to_ctrld.pb-c.h"

#define MS			1000000ull
#define STUN_TIMEOUT_NS		(3000 * MS)	/* stunProbeTimeout */
#define REPORT_TIMEOUT_NS	(5000 * MS)	/* ReportTimeout */
#define FULL_EVERY_NS		(300000 * MS)	/* fullReportInterval */
#define RESTUN_MIN_MS		20000		/* magicsock periodic re-STUN */
#define RESTUN_MAX_MS		26000
#define INITIAL_RETRANSMIT_NS	(100 * MS)
#define ACTIVE_RETRANSMIT_NS	(200 * MS)
#define ENOUGH_REGIONS		3
#define INCREMENTAL_REGIONS	3
#define TRIES_FULL		3
#define WAITERS_MAX		8
#define ENDPOINTS_MAX		8
/* Latencies per NetInfo: ~220 bytes each within the channel's 64 KiB
 * (real maps have a few dozen regions). */
#define NETINFO_LAT_MAX		200

enum probe_state { P_PENDING, P_SENT, P_CANCELLED };

struct probe {
	uint32_t	 region;
	uint32_t	 set;		/* index into run.set_done */
	bool		 v6;
	uint8_t		 state;
	uint64_t	 at;		/* send time, from the run's start */
	uint64_t	 sent;		/* monotonic */
	uint8_t		 txid[STUN_TXID_LEN];
	struct ipport	 dst;
};

static struct {
	bool		 timers_ready;
	uv_timer_t	 run_timer, sched_timer;
	/* The run in progress. */
	bool		 running, full;
	bool		 https;		/* STUN over, HTTPS checks under way */
	uint64_t	 start, stop_at;	/* stop_at 0: not yet known */
	struct probe	*p;
	size_t		 np;
	bool		*set_done;
	size_t		 nset;
	struct nc_report cur;
	/* Results. */
	struct nc_report last;
	bool		 have_last;
	struct nc_history hist;
	uint64_t	 last_full;
	bool		 next_full, v6_ok;
	uint64_t	 waiters[WAITERS_MAX];
	size_t		 nwait;
	/* Counters, in the report log line and status. */
	struct nc_counters ctr;
} nc = { .next_full = true, .v6_ok = true };

static void	finish(struct netd *);
static void	arm(struct netd *);

/* ---- plans ---- */

/* The node's STUN address over the family: literals only (netd has no
 * resolver); "none", STUNPort -1 or a name: none. */
static bool
node_addr(const struct derp_node *n, bool v6, struct ipport *a)
{
	uint16_t port = n->stun_port == 0 ? STUN_DEFAULT_PORT :
	    (uint16_t)n->stun_port;

	if (n->stun_port < 0 || n->stun_port > 65535)
		return false;
	if (v6 ? (n->no_v6 || !n->has_v6) : (n->no_v4 || !n->has_v4))
		return false;
	if (v6)
		ipport_set_v6(a, n->v6.s6_addr, port);
	else
		ipport_set_v4(a, (const uint8_t *)&n->v4, port);
	return true;
}

static int
add_probe(uint32_t region, uint32_t set, bool v6, uint64_t at,
    const struct derp_node *n, size_t *cap)
{
	struct probe *p;

	if (n->stun_port < 0 || (v6 ? n->no_v6 : n->no_v4))
		return 0;
	if (nc.np == *cap) {
		size_t ncap = *cap ? *cap * 2 : 32;

		if ((p = reallocarray(nc.p, ncap, sizeof(*p))) == NULL)
			return -1;
		nc.p = p;
		*cap = ncap;
	}
	p = &nc.p[nc.np];
	memset(p, 0, sizeof(*p));
	if (!node_addr(n, v6, &p->dst)) {
		nc.ctr.no_addr++;
		return 0;
	}
	p->region = region;
	p->set = set;
	p->v6 = v6;
	p->at = at;
	nc.np++;
	return 0;
}

static int
plan_full(const struct derpmap *m, size_t *cap)
{
	for (size_t i = 0; i < m->nregions; i++) {
		const struct derp_region *r = &m->regions[i];
		uint32_t s4 = (uint32_t)nc.nset, s6 = s4 + 1;

		if (r->no_measure_no_home || r->nnodes == 0)
			continue;
		nc.nset += 2;
		for (unsigned t = 0; t < TRIES_FULL; t++) {
			const struct derp_node *n = &r->nodes[t % r->nnodes];

			if (add_probe(r->id, s4, false, t *
			    INITIAL_RETRANSMIT_NS, n, cap) < 0 ||
			    add_probe(r->id, s6, true, t *
			    INITIAL_RETRANSMIT_NS, n, cap) < 0)
				return -1;
		}
	}
	return 0;
}

static uint64_t
last_lat(uint32_t region)
{
	const struct nc_lat *l = nc_latency(&nc.last, region);

	return l != NULL ? l->all : 0;
}

/* sortRegions: measurable regions (an Avoid one only if it is home),
 * fastest first by the last report, those without data last. */
static int
by_last_latency(const void *a, const void *b)
{
	const struct derp_region *x = *(const struct derp_region *const *)a;
	const struct derp_region *y = *(const struct derp_region *const *)b;
	uint64_t dx = last_lat(x->id), dy = last_lat(y->id);

	if ((dx == 0) != (dy == 0))
		return dx == 0 ? 1 : -1;
	if (dx != dy)
		return dx < dy ? -1 : 1;
	return (x->id > y->id) - (x->id < y->id);
}

static int
plan_incremental(const struct derpmap *m, size_t *cap)
{
	const struct derp_region **rs;
	uint32_t home = nc.last.preferred;
	bool had4 = false, had6 = false, has_home = home == 0;
	size_t n = 0;
	int rc = 0;

	for (size_t i = 0; i < nc.last.nlat; i++) {
		had4 |= nc.last.lat[i].v4 != 0;
		had6 |= nc.last.lat[i].v6 != 0;
	}
	if ((rs = calloc(m->nregions + 1, sizeof(*rs))) == NULL)
		return -1;
	for (size_t i = 0; i < m->nregions; i++)
		if (!m->regions[i].no_measure_no_home &&
		    (!m->regions[i].avoid || m->regions[i].id == home))
			rs[n++] = &m->regions[i];
	qsort(rs, n, sizeof(*rs), by_last_latency);
	for (size_t ri = 0; ri < n && rc == 0; ri++) {
		const struct derp_region *r = rs[ri];
		bool is_home = r->id == home, fast2 = ri < 2;
		bool do4 = true, do6 = nc.v6_ok;
		unsigned tries = 1;
		uint64_t prev = last_lat(r->id) * 120 / 100;
		uint32_t s4 = (uint32_t)nc.nset, s6 = s4 + 1;

		if (ri >= INCREMENTAL_REGIONS && (has_home || !is_home))
			continue;
		if (fast2 || is_home)
			tries = 2;
		else if (nc.v6_ok && had4 && had6) {
			do4 = ri % 2 == 0;	/* alternate on dual stack */
			do6 = !do4;
		}
		if (!is_home && !fast2 && !had6)
			do6 = false;
		if (is_home) {
			tries = 4;
			has_home = true;
		}
		if (prev == 0)
			prev = ACTIVE_RETRANSMIT_NS;
		nc.nset += 2;
		for (unsigned t = 0; t < tries && r->nnodes > 0; t++) {
			const struct derp_node *nd = &r->nodes[t % r->nnodes];
			uint64_t at = t * prev + (t > 1 ? t * 50 * MS : 0);

			if (t != 0 && !had6)
				do6 = false;
			if ((do4 && add_probe(r->id, s4, false, at, nd,
			    cap) < 0) || (do6 && add_probe(r->id, s6, true,
			    at, nd, cap) < 0))
				rc = -1;
		}
	}
	free(rs);
	return rc;
}

/* ---- a run ---- */

static void
run_free(void)
{
	free(nc.p);
	free(nc.set_done);
	nc.p = NULL;
	nc.set_done = NULL;
	nc.np = nc.nset = 0;
	nc_report_free(&nc.cur);
	netcheck_https_stop();
	nc.running = nc.https = false;
}

static bool
ready(const struct netd *nd)
{
	return nd->wg.udp_fd >= 0 && nd->derp.nregions > 0;
}

/* tailscale's OSHasIPv6 binds to [::1]; privd made the socket dual-stack
 * exactly when the host has IPv6. */
static bool
socket_is_v6(int fd)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);

	return getsockname(fd, (struct sockaddr *)&ss, &sl) == 0 &&
	    ss.ss_family == AF_INET6;
}

static void
timers_init(struct netd *nd)
{
	if (nc.timers_ready)
		return;
	uv_timer_init(nd->c.loop, &nc.run_timer);
	uv_timer_init(nd->c.loop, &nc.sched_timer);
	nc.run_timer.data = nc.sched_timer.data = nd;
	nc.timers_ready = true;
}

static void
start(struct netd *nd)
{
	size_t cap = 0;
	uint64_t now = wg_now_ns();
	int r;

	if (nc.running)
		run_free();
	uv_timer_stop(&nc.sched_timer);
	nc.full = nc.next_full || !nc.have_last || nc.last.nlat == 0 ||
	    now - nc.last_full > FULL_EVERY_NS;
	r = nc.full ? plan_full(&nd->derp, &cap) :
	    plan_incremental(&nd->derp, &cap);
	if (r == 0 && nc.nset > 0 &&
	    (nc.set_done = calloc(nc.nset, sizeof(*nc.set_done))) == NULL)
		r = -1;
	/* A set without probes (no address over its family) is done. */
	for (size_t s = 0; r == 0 && s < nc.nset; s++)
		nc.set_done[s] = true;
	for (size_t i = 0; r == 0 && i < nc.np; i++)
		nc.set_done[nc.p[i].set] = false;
	if (r < 0) {
		log_warnx("netcheck: out of memory for the probe plan");
		run_free();
		return;
	}
	if (nc.full) {
		nc.next_full = false;
		nc.last_full = now;
		nc.v6_ok = true;	/* a full run tries IPv6 again */
	}
	nc_report_init(&nc.cur);
	nc.cur.os_v6 = socket_is_v6(nd->wg.udp_fd);
	nc.running = true;
	nc.start = now;
	nc.stop_at = 0;
	if (nc.full)
		nc.ctr.runs_full++;
	else
		nc.ctr.runs_incremental++;
	arm(nd);
}

static void
send_probe(struct netd *nd, struct probe *p)
{
	uint8_t req[STUN_REQUEST_LEN];
	struct sockaddr_storage ss;
	socklen_t sl = ipport_to_sockaddr(&p->dst, &ss);

	stun_new_txid(p->txid);
	stun_build_request(req, p->txid);
	p->sent = wg_now_ns();
	p->state = P_SENT;
	nc.ctr.tx++;
	if (sendto(nd->wg.udp_fd, req, sizeof(req), 0, (struct sockaddr *)&ss,
	    sl) == (ssize_t)sizeof(req))
		return;
	nc.ctr.tx_errors++;
	/* No route over the family: not "lost UDP" (TreatAsLostUDP). */
	if (p->v6 && (errno == ENETUNREACH || errno == EADDRNOTAVAIL ||
	    errno == EAFNOSUPPORT))
		nc.v6_ok = false;
}

/* probeWouldHelp: a region without latency, the first IPv6 answer, or
 * a second IPv4 answer to learn whether the mapping varies. */
static bool
would_help(const struct probe *p)
{
	bool any6 = false;

	if (nc_latency(&nc.cur, p->region) == NULL)
		return true;
	for (size_t i = 0; i < nc.cur.nlat && !any6; i++)
		any6 = nc.cur.lat[i].v6 != 0;
	if (p->v6 && !any6)
		return true;
	return !p->v6 && nc.cur.varies == NC_UNKNOWN;
}

static void
cancel_set(uint32_t set)
{
	nc.set_done[set] = true;
	for (size_t i = 0; i < nc.np; i++)
		if (nc.p[i].set == set && nc.p[i].state == P_PENDING)
			nc.p[i].state = P_CANCELLED;
}

/* Sends what is due; the time of the next event, or 0 when the run is
 * over. */
static uint64_t
step(struct netd *nd, uint64_t now)
{
	uint64_t next = nc.start + STUN_TIMEOUT_NS;
	bool all_done = true;

	for (size_t i = 0; i < nc.np; i++) {
		struct probe *p = &nc.p[i];

		if (p->state != P_PENDING)
			continue;
		if (nc.start + p->at > now) {
			if (nc.start + p->at < next)
				next = nc.start + p->at;
			continue;
		}
		if (!would_help(p))
			cancel_set(p->set);
		else
			send_probe(nd, p);
	}
	for (size_t s = 0; s < nc.nset && all_done; s++)
		all_done = nc.set_done[s];
	if (all_done || now >= nc.start + STUN_TIMEOUT_NS ||
	    (nc.stop_at != 0 && now >= nc.stop_at))
		return 0;
	if (nc.stop_at != 0 && nc.stop_at < next)
		next = nc.stop_at;
	return next;
}

static void
on_run_timer(uv_timer_t *t)
{
	arm(t->data);
}

static void
arm(struct netd *nd)
{
	uint64_t now = wg_now_ns(), next;

	if (!nc.running || nc.https)
		return;
	if ((next = step(nd, now)) == 0) {
		uv_timer_stop(&nc.run_timer);
		/* UDP blocked: measure over HTTPS (GetReport's fallback). */
		if (nc.full && !nc.cur.udp && netcheck_https_start(nd,
		    &nc.cur, &nc.ctr, nc.start + REPORT_TIMEOUT_NS, finish)) {
			nc.https = true;
			return;
		}
		finish(nd);
		return;
	}
	/* libuv timers are in ms: round up so the event is due. */
	uv_timer_start(&nc.run_timer, on_run_timer,
	    (next - now + MS - 1) / MS, 0);
}

static void	schedule(void);

/* magicsock's shouldDoPeriodicReSTUN: not worth it without peers (the
 * timer keeps ticking so the first peer brings it back). */
static void
on_sched_timer(uv_timer_t *t)
{
	struct netd *nd = t->data;

	if (!ready(nd) || nc.running)
		return;
	if (nd->wg.on && nd->wg.dev.npeers > 0)
		start(nd);
	else
		schedule();
}

static void
schedule(void)
{
	uv_timer_start(&nc.sched_timer, on_sched_timer, RESTUN_MIN_MS +
	    randombytes_uniform(RESTUN_MAX_MS - RESTUN_MIN_MS + 1), 0);
}

/* ---- answers ---- */

void
netcheck_stun_input(struct netd *nd, const uint8_t *pkt, size_t len,
    const struct sockaddr *src, socklen_t srclen)
{
	uint8_t txid[STUN_TXID_LEN];
	struct ipport from, mapped;
	enum stun_err e;

	if (!nc.running || ipport_from_sockaddr(&from, src, srclen) < 0) {
		nc.ctr.rx_ignored++;
		return;
	}
	if ((e = stun_parse_response(pkt, len, NULL, txid, &mapped)) !=
	    STUN_OK) {
		/* A request (someone probing us) is not ours to answer. */
		if (e == STUN_ERR_NOT_SUCCESS)
			nc.ctr.rx_ignored++;
		else
			nc.ctr.rx_bad++;
		return;
	}
	for (size_t i = 0; i < nc.np; i++) {
		struct probe *p = &nc.p[i];

		if (p->state != P_SENT ||
		    sodium_memcmp(p->txid, txid, STUN_TXID_LEN) != 0)
			continue;
		if (memcmp(&p->dst, &from, sizeof(from)) != 0)
			break;		/* right ID, wrong sender */
		p->state = P_CANCELLED;	/* one answer per request */
		nc.ctr.rx++;
		if (nc_add_latency(&nc.cur, p->region, &mapped,
		    wg_now_ns() - p->sent) < 0)
			log_warnx("netcheck: out of memory for a latency");
		cancel_set(p->set);
		/* Enough regions: wait for the slowest of them (twice that
		 * in a full run), not for every region. */
		if (nc.cur.nlat == ENOUGH_REGIONS && nc.stop_at == 0) {
			uint64_t max = 0;

			for (size_t j = 0; j < nc.cur.nlat; j++)
				if (nc.cur.lat[j].all > max)
					max = nc.cur.lat[j].all;
			nc.stop_at = wg_now_ns() + (nc.full ? 2 * max : max);
		}
		arm(nd);
		return;
	}
	nc.ctr.rx_ignored++;
}

/* ---- results ---- */

static double
region_score(void *arg, uint32_t id)
{
	const struct derp_region *r = derpmap_region(&((struct netd *)arg)->derp,
	    id);

	return r != NULL ? r->score : 0;
}

static void
fill_info(const struct netd *nd, Pm__NetInfo *ni, Pm__RegionLatency *ls,
    Pm__RegionLatency **lp)
{
	const struct nc_report *r = &nc.last;

	pm__net_info__init(ni);
	ni->preferred_derp = r->preferred;
	ni->mapping_varies_by_dest_ip = r->varies;
	ni->working_udp = r->udp;
	ni->working_v4 = r->v4;
	ni->working_v6 = r->v6;
	ni->os_has_v6 = r->os_v6;
	ni->latencies = lp;
	for (size_t i = 0; i < r->nlat && i < NETINFO_LAT_MAX; i++) {
		const struct derp_region *dr = derpmap_region(&nd->derp,
		    r->lat[i].region);
		Pm__RegionLatency *l = &ls[ni->n_latencies];

		pm__region_latency__init(l);
		l->region_id = r->lat[i].region;
		l->code = dr != NULL ? (char *)dr->code : "";
		l->name = dr != NULL ? (char *)dr->name : "";
		l->latency_us = (r->lat[i].all + 999) / 1000;
		l->v4_us = (r->lat[i].v4 + 999) / 1000;
		l->v6_us = (r->lat[i].v6 + 999) / 1000;
		lp[ni->n_latencies++] = l;
	}
}

/* id 0: NetInfo; else the NetcheckReport answering request `id`. */
static void
send_info(struct netd *nd, uint64_t id, const char *err)
{
	struct ipc_chan *ch = child_chan(&nd->c, PM__PROC__PROC_CTRLD);
	Pm__NetdToCtrld env = PM__NETD_TO_CTRLD__INIT;
	Pm__NetcheckReport rep = PM__NETCHECK_REPORT__INIT;
	Pm__NetInfo ni;
	Pm__RegionLatency *ls;
	Pm__RegionLatency **lp;
	char g4[IPPORT_STRLEN] = "", g6[IPPORT_STRLEN] = "";
	size_t n = nc.have_last ? nc.last.nlat : 0;
	int r;

	if (ch == NULL)
		return;
	ls = calloc(n + 1, sizeof(*ls));
	lp = calloc(n + 1, sizeof(*lp));
	if (ls == NULL || lp == NULL) {
		log_warnx("netcheck: out of memory for the report");
		goto out;
	}
	fill_info(nd, &ni, ls, lp);
	if (!nc.have_last)
		ni.n_latencies = 0;
	if (id == 0) {
		env.msg_case = PM__NETD_TO_CTRLD__MSG_NET_INFO;
		env.net_info = &ni;
	} else {
		rep.id = id;
		rep.error = (char *)(err != NULL ? err : "");
		rep.info = &ni;
		if (nc.have_last && nc.last.have_g4)
			ipport_str(&nc.last.g4, g4);
		if (nc.have_last && nc.last.have_g6)
			ipport_str(&nc.last.g6, g6);
		rep.global_v4 = g4;
		rep.global_v6 = g6;
		env.msg_case = PM__NETD_TO_CTRLD__MSG_NETCHECK_REPORT;
		env.netcheck_report = &rep;
	}
	if ((r = ipc_send(ch, &env.base, -1)) < 0)
		log_warnx("netcheck: cannot send the report to ctrld: %s",
		    strerror(-r));
out:
	free(ls);
	free(lp);
}

static void
log_report(const struct netd *nd)
{
	const struct nc_report *r = &nc.last;
	char g4[IPPORT_STRLEN] = "-", g6[IPPORT_STRLEN] = "-";
	char lat[256] = "";
	size_t o = 0;

	(void)nd;
	if (r->have_g4)
		ipport_str(&r->g4, g4);
	if (r->have_g6)
		ipport_str(&r->g6, g6);
	for (size_t i = 0; i < r->nlat && o + 32 < sizeof(lat); i++)
		o += (size_t)snprintf(lat + o, sizeof(lat) - o, " %u=%.1fms",
		    r->lat[i].region, (double)r->lat[i].all / 1e6);
	log_info("netcheck: %s udp=%d v4=%s v6=%s mapvarydest=%s derp=%u%s "
	    "(sent %llu, answers %llu, ignored %llu, bad %llu, send errors "
	    "%llu, nodes without address %llu)", nc.full ? "full" :
	    "incremental", r->udp, g4, g6, r->varies == NC_TRUE ? "true" :
	    r->varies == NC_FALSE ? "false" : "?", r->preferred, lat,
	    (unsigned long long)nc.ctr.tx, (unsigned long long)nc.ctr.rx,
	    (unsigned long long)nc.ctr.rx_ignored,
	    (unsigned long long)nc.ctr.rx_bad,
	    (unsigned long long)nc.ctr.tx_errors,
	    (unsigned long long)nc.ctr.no_addr);
}

static void
finish(struct netd *nd)
{
	struct nc_derp_activity act;
	uint32_t old_home = netcheck_home(nd);
	uint64_t now = wg_now_ns();

	nc.cur.at_ns = now;
	act.run_ns = now - nc.start;
	act.prev_heard_ago = derp_home_heard_ago(nc.hist.last_preferred);
	nc_choose_home(&nc.hist, &nc.cur, &act, region_score, nd);
	nc_report_free(&nc.last);
	nc.last = nc.cur;		/* moved: cur's array now last's */
	nc_report_init(&nc.cur);
	nc.have_last = true;
	run_free();
	log_report(nd);
	send_info(nd, 0, NULL);
	for (size_t i = 0; i < nc.nwait; i++)
		send_info(nd, nc.waiters[i], NULL);
	nc.nwait = 0;
	peers_ctrld_endpoints_changed(nd);
	if (netcheck_home(nd) != old_home)
		derp_regions_update(nd);
	if (nc.next_full && ready(nd))
		start(nd);
	else
		schedule();
}

/* ---- entry points ---- */

void
netcheck_map_changed(struct netd *nd)
{
	timers_init(nd);
	nc.next_full = true;
	if (ready(nd))
		start(nd);
}

void
netcheck_udp_ready(struct netd *nd)
{
	timers_init(nd);
	if (ready(nd) && !nc.running)
		start(nd);
}

int
netcheck_request(struct netd *nd, uint64_t id)
{
	timers_init(nd);
	if (!ready(nd)) {
		send_info(nd, id, nd->wg.udp_fd < 0 ? "no UDP socket yet" :
		    "no DERP map yet");
		return 0;
	}
	if (nc.nwait == WAITERS_MAX) {
		send_info(nd, id, "too many netchecks waiting");
		return 0;
	}
	nc.waiters[nc.nwait++] = id;
	/* A full run under way answers it; else one starts now. */
	if (!nc.running || !nc.full) {
		nc.next_full = true;
		start(nd);
	}
	return 0;
}

const struct nc_counters *
netcheck_counters(void)
{
	return &nc.ctr;
}

uint32_t
netcheck_home(const struct netd *nd)
{
	(void)nd;
	return nc.have_last ? nc.last.preferred : 0;
}

static size_t
add_ep(struct ipport *out, uint32_t *types, size_t n, size_t max,
    const struct ipport *ep, uint32_t type)
{
	for (size_t i = 0; i < n; i++)
		if (memcmp(&out[i], ep, sizeof(*ep)) == 0)
			return n;
	if (n == max)
		return n;
	out[n] = *ep;
	types[n] = type;
	return n + 1;
}

size_t
netcheck_endpoints(const struct netd *nd, struct ipport *out,
    uint32_t *types, size_t max)
{
	struct ipport v4[ENDPOINTS_MAX], v6[ENDPOINTS_MAX], lp;
	size_t n4, n6, n = 0;

	if (!nc.have_last)
		return 0;
	n4 = nc_global_addrs(&nc.last, false, v4, ENDPOINTS_MAX);
	n6 = nc_global_addrs(&nc.last, true, v6, ENDPOINTS_MAX);
	for (size_t i = 0; i < n4; i++)
		n = add_ep(out, types, n, max, &v4[i], 2);	/* STUN */
	for (size_t i = 0; i < n6; i++)
		n = add_ep(out, types, n, max, &v6[i], 2);
	/* Hard NAT: maybe the router forwards our fixed port. */
	if (n4 > 0 && nc.last.varies == NC_TRUE && nd->wg.udp_port != 0) {
		lp = v4[0];
		lp.port = (uint16_t)nd->wg.udp_port;
		n = add_ep(out, types, n, max, &lp, 4);	/* STUN4LocalPort */
	}
	return n;
}

void
netcheck_channel(struct netd *nd)
{
	if (nc.have_last)
		send_info(nd, 0, NULL);
}
