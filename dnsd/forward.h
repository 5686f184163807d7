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
 * dnsd opens these sockets itself, unmarked: an upstream reached through
 * the tunnel is fine, but an upstream that must bypass an exit node's
 * default route will need a socket marked by privd (SO_MARK needs
 * CAP_NET_ADMIN) — not done yet.  Each socket of the pool carries at most
 * FWD_SOCK_USES queries; then it takes no new ones and, once its last
 * answer is in, is replaced by a socket on a fresh random port.
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
			no_upstream;
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
	struct fwd_sock	 socks[2 * FWD_SOCKS];
	unsigned	 nsocks;
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
/* The configuration changed: the cache no longer holds. */
void	fwd_config_changed(struct fwd *);

#endif
