/*
 * netcheck as tailscale's net/netcheck and magicsock run it: STUN Binding
 * Requests from the one UDP socket (so the mapping learnt is the
 * WireGuard port's) to the STUN servers of the DERP map, and from the
 * answers a report: UDP works (v4, v6), the public endpoint(s), whether
 * the NAT's mapping varies by destination, each region's latency (best
 * try), and the preferred (home) region, chosen from the last 5 min 5 s
 * of reports with tailscale's stickiness rules.
 *
 * Runs: a full one when the UDP socket and a DERP map are there and when
 * the map changes; then, while there are peers, every 20-26 s (jittered,
 * magicsock's periodic re-STUN) an incremental one (the home region and
 * the 3 fastest), full again once 5 min passed since the last full one;
 * on `privmesh netcheck` a full one at once.  A run ends when every probe set (region x family)
 * was answered or given up, when 3 regions answered and their slowest
 * latency (doubled in a full run) passed, or after 3 s.  A full run that
 * got no STUN answer at all then measures each region's latency over
 * HTTPS until 5 s from its start (netcheck_https.c).  Not done (unlike
 * tailscale): DNS names of STUN servers (netd has no resolver), the ICMP
 * latency fallback, port mapping (UPnP/NAT-PMP/PCP), captive-portal
 * detection.
 *
 * netcheck_report.c is the pure half (reports, history, home choice),
 * unit-tested; netcheck.c schedules probes and talks to the socket,
 * ctrld and the DERP home connection.
 */
#ifndef PM_NETD_NETCHECK_H
#define PM_NETD_NETCHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "ipport.h"

#define NC_SEEN_MAX	8	/* distinct mapped endpoints kept per family */
#define NC_HIST_MAX	32	/* reports kept for the home choice */
#define NC_HIST_NS	(305ull * 1000000000ull)	/* 5 min + 5 s */
#define NC_ABS_DIFF_NS	(10ull * 1000000ull)	/* preferredDERPAbsoluteDiff */
#define NC_FRAME_NS	(8ull * 1000000000ull)	/* PreferredDERPFrameTime */
#define NC_KEEPALIVE_NS	(120ull * 1000000000ull)	/* 2 x DERP keepalive */

/* opt.Bool, as NetInfo.mapping_varies_by_dest_ip carries it. */
enum nc_optbool { NC_UNKNOWN = 0, NC_FALSE = 1, NC_TRUE = 2 };

struct nc_lat {
	uint32_t	 region;
	uint64_t	 all, v4, v6;	/* ns; 0: no answer */
};

struct nc_seen {
	struct ipport	 ep;
	unsigned	 count;
};

struct nc_report {
	uint64_t	 at_ns;		/* monotonic, when finished */
	bool		 udp, v4, v6;
	bool		 os_v6;		/* the UDP socket is IPv6 */
	enum nc_optbool	 varies;
	bool		 have_g4, have_g6;
	struct ipport	 g4, g6;	/* first mapped endpoint seen */
	struct nc_seen	 seen4[NC_SEEN_MAX], seen6[NC_SEEN_MAX];
	size_t		 nseen4, nseen6;
	struct nc_lat	*lat;		/* by region, ascending */
	size_t		 nlat, cap;
	uint32_t	 preferred;	/* 0: none */
};

/* What the home choice knows besides the reports. */
struct nc_derp_activity {
	/* ns since the previous home region's DERP connection last heard
	 * from its server, UINT64_MAX: never or no connection. */
	uint64_t	 prev_heard_ago;
	uint64_t	 run_ns;	/* how long the run took */
};

struct nc_history {
	struct nc_report r[NC_HIST_MAX];	/* ring; lat arrays owned */
	size_t		 n, head;
	uint32_t	 last_preferred;
};

void	nc_report_init(struct nc_report *);
void	nc_report_free(struct nc_report *);
/* Deep copy; -1 when out of memory (dst then empty). */
int	nc_report_copy(struct nc_report *dst, const struct nc_report *src);
/* One STUN answer from `region` over `v6` that took d_ns, mapped to ep
 * (tailscale's addNodeLatency).  -1: out of memory (latency not kept). */
int	nc_add_latency(struct nc_report *, uint32_t region, const struct ipport *,
	    uint64_t d_ns);
/* A latency measured over HTTPS (UDP blocked): the region's latency
 * only, no per-family one, no endpoint; UDP stays false. */
int	nc_add_https_latency(struct nc_report *, uint32_t region, bool v6,
	    uint64_t d_ns);
const struct nc_lat *nc_latency(const struct nc_report *, uint32_t region);
/* Report.GetGlobalAddrs: the first mapped endpoint, then others seen
 * more than once; returns how many were written. */
size_t	nc_global_addrs(const struct nc_report *, bool v6, struct ipport *out,
	    size_t max);

/*
 * addReportHistoryAndSetPreferredDERP: stores a copy of r in the history
 * (dropping reports older than NC_HIST_NS and the oldest past
 * NC_HIST_MAX) and sets r->preferred.  score(region) is the DERP map's
 * HomeParams.RegionScore (0: none).
 */
void	nc_choose_home(struct nc_history *, struct nc_report *r,
	    const struct nc_derp_activity *, double (*score)(void *, uint32_t),
	    void *arg);
void	nc_history_free(struct nc_history *);

/* netcheck.c */
struct netd;

/* Since netd started; WgStatusReply.netcheck. */
struct nc_counters {
	uint64_t	 runs_full, runs_incremental;
	uint64_t	 tx, tx_errors;		/* STUN requests */
	uint64_t	 rx, rx_ignored, rx_bad;	/* answers */
	uint64_t	 no_addr;	/* probes skipped: no address */
	/* HTTPS latency checks (UDP blocked): started, answered, failed. */
	uint64_t	 https_tx, https_rx, https_errors;
};
const struct nc_counters *netcheck_counters(void);

/* netcheck_https.c: a full run without any STUN answer measures each
 * region without a latency in r over HTTPS (see there); done() runs from
 * the loop when every probe ended or at deadline_ns.  false: nothing to
 * measure (done() will not run). */
bool	netcheck_https_start(struct netd *, struct nc_report *r,
	    struct nc_counters *, uint64_t deadline_ns,
	    void (*done)(struct netd *));
/* Ends the probes now (a new run starts); done() does not run. */
void	netcheck_https_stop(void);
/* A socket from privd no DERP connection waited for: false if no probe
 * wants it either. */
bool	netcheck_https_socket(struct netd *, int fd);
void	netcheck_map_changed(struct netd *);
void	netcheck_udp_ready(struct netd *);
/* A datagram demux_classify() called STUN, from the UDP socket. */
void	netcheck_stun_input(struct netd *, const uint8_t *pkt, size_t len,
	    const struct sockaddr *src, socklen_t srclen);
/* ctrld's NetcheckRequest: a full run now, answered when it ends. */
int	netcheck_request(struct netd *, uint64_t id);
/* The home DERP region netcheck chose; 0 until a run produced one. */
uint32_t netcheck_home(const struct netd *);
/* Endpoints from STUN with their tailcfg.EndpointType (2 STUN, 4 STUN
 * IPv4 with the local port on a hard NAT), magicsock's order. */
size_t	netcheck_endpoints(const struct netd *, struct ipport *out,
	    uint32_t *types, size_t max);
/* ctrld has a new channel: send it the last NetInfo again. */
void	netcheck_channel(struct netd *);

#endif
