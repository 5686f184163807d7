/*
 * The split-DNS forwarder: queries dnsd does not answer itself go to the
 * resolvers of the longest matching route, else to the default resolvers
 * (DNSConfig's, else the host's own from privd).
 *
 *   client query -> cache hit? -> reply
 *               `-> pending slot (preallocated) -> UDP query with a random
 *                   ID from a pool of sockets on kernel-random ports
 *                   (re-drawn every FWD_SOCK_USES queries), EDNS0
 *   UDP answer  -> source address/port, ID and question must match, else
 *                  counted as spoofed and ignored (RFC 5452)
 *               -> TC: the same query again over TCP (RFC 7766)
 *               -> SERVFAIL/REFUSED: next resolver
 *               -> cache (RFC 2308 negative caching) -> reply
 *   timer       -> FWD_TRY_MS without an answer: next resolver; none
 *                  left: SERVFAIL
 *
 * Two pools.  Upstreams inside the tailnet (100.64.0.0/10,
 * fd7a:115c:a1e0::/48) use sockets dnsd opens itself, unmarked, so they go
 * through the tunnel.  Every other upstream uses sockets privd made with
 * SO_MARK 0x80000 (dnsd cannot: CAP_NET_ADMIN), which rule 5210 sends to
 * the main table, so an exit node's default route (table 52) never takes
 * them — as tailscaled marks its own sockets.  dnsd keeps FWD_MSOCKS of
 * them per family in use and FWD_SPARES in stock (UDP and, for the TCP
 * retry, TCP), asking privd for more from the timer as they are used up;
 * until they arrive (the first ~100 ms) an unmarked socket is used and
 * counted (unmarked_fallback).  Each UDP socket of either pool carries at
 * most FWD_SOCK_USES queries; then it takes no new ones and, once its
 * last answer is in, is replaced by a socket on a fresh random port.
 */
#ifndef PM_DNSD_FORWARD_H
#define PM_DNSD_FORWARD_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "cache.h"
#include "msg.h"
#include "zone.h"

#define FWD_SOCKS		8	/* per family */
#define FWD_PENDING_MAX		4096
#define FWD_TRY_MS		1500	/* per resolver */
#define FWD_ATTEMPTS_MAX	4
#define FWD_UPS_MAX		ZONE_ROUTE_UPS
#define FWD_HASH		8192	/* power of two */
#define FWD_RECV_BATCH		32
#define FWD_SOCK_USES		128	/* queries per port before a new one */
#define FWD_MSOCKS		4	/* marked UDP sockets in use, per family */
#define FWD_SPARES		4	/* marked sockets in stock, per family/kind */
#define FWD_ASK_RETRY_MS	2000	/* privd did not answer: ask again */
#define FWD_NSOCKS		(2 * FWD_SOCKS + 2 * FWD_MSOCKS)

/* Where a reply goes: netd's addressing, copied back unchanged. */
struct dns_client {
	uint8_t		addr[16], server[16];
	uint8_t		alen;
	uint16_t	port;
	uint32_t	tcp_conn;
};

struct fwd_addr {
	uint8_t		family;
	uint16_t	port;		/* network order */
	uint8_t		addr[16];
};

struct fwd;

struct fwd_pending {
	struct fwd_pending *hnext, *tprev, *tnext;
	struct fwd	*f;
	bool		 used;
	bool		 in_hash;	/* waiting on a UDP socket */
	uint8_t		 sock;		/* index into the pool */
	uint16_t	 id;		/* ours, towards the upstream */
	struct dns_client cl;
	struct dns_query q;
	struct fwd_addr	 up[FWD_UPS_MAX];
	uint8_t		 nup, cur, attempts;
	uint64_t	 deadline_ms;
	/* TCP retry */
	int		 tcp_fd;
	uv_poll_t	*tcp_poll;
	uint8_t		*tcp_buf;
	size_t		 tcp_have, tcp_sent, tcp_qlen;
};

struct fwd_counters {
	uint64_t	queries, cache_hits, sent, answers, spoofed, bad_answers,
			timeouts, servfail, tcp_retries, tcp_failed, overload,
			no_upstream, marked_received, unmarked_fallback;
};

/* Marked sockets from privd not yet in use, and those asked for. */
struct fwd_stock {
	int		 fd[FWD_SPARES];
	unsigned	 n;
	unsigned	 asked;		/* requested, not yet received */
	uint64_t	 asked_ms;
};

struct fwd_sock {
	int		 fd;
	uint8_t		 family;
	uv_poll_t	*poll;
	struct fwd	*f;
	unsigned	 uses;		/* queries sent from this port */
	unsigned	 outstanding;	/* of those, still waiting */
	bool		 draining;	/* no new queries; reopened when idle */
};

struct fwd {
	uv_loop_t	*loop;
	struct dnsd	*dd;
	/* [0, 2*FWD_SOCKS): unmarked, IPv4 then IPv6; then FWD_MSOCKS
	 * marked IPv4 and FWD_MSOCKS marked IPv6 (fd -1 until privd's). */
	struct fwd_sock	 socks[FWD_NSOCKS];
	struct fwd_stock stock[2][2];		/* [v6][tcp] */
	struct fwd_pending *slots;
	struct fwd_pending *free_list;
	struct fwd_pending *hash[FWD_HASH];
	struct fwd_pending *thead, *ttail;	/* by deadline */
	uv_timer_t	 timer;
	struct cache	*cache;
	struct fwd_counters ctr;
};

int	fwd_init(struct fwd *, uv_loop_t *, struct dnsd *);
/* q parsed from the client; route NULL means the default resolvers. */
void	fwd_query(struct fwd *, const struct dns_client *,
	    const struct dns_query *, const struct zone_route *);
/* A marked socket from privd (upstream_socket). */
void	fwd_marked_socket(struct fwd *, int family, bool tcp, int fd);
/* The configuration changed: the cache no longer holds. */
void	fwd_config_changed(struct fwd *);

#endif
