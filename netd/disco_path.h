/*
 * One peer's path choice, as Tailscale's magicsock endpoint makes it
 * (wgengine/magicsock/endpoint.go), as pure logic on a monotonic clock in
 * ns: the candidate direct addresses (control's Endpoints, CallMeMaybe,
 * sources of pings we got over UDP), the pings in flight, the best
 * address and how long it stays trusted without a fresh pong.  The
 * caller (disco_peer.c) does the I/O: it asks which candidates to ping,
 * records what it sent, and feeds in pongs and clock ticks.
 *
 * A direct address is used only while trusted (a pong within
 * DP_TRUST_NS); otherwise traffic goes through DERP and discovery runs.
 */
#ifndef PM_NETD_DISCO_PATH_H
#define PM_NETD_DISCO_PATH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "disco.h"
#include "ipport.h"

#define DP_MS			1000000ULL
#define DP_PING_INTERVAL_NS	(5000 * DP_MS)	/* discoPingInterval */
#define DP_PING_TIMEOUT_NS	(5000 * DP_MS)	/* pingTimeoutDuration */
#define DP_HEARTBEAT_NS		(3000 * DP_MS)	/* heartbeatInterval */
#define DP_SESSION_ACTIVE_NS	(45000 * DP_MS)	/* sessionActiveTimeout */
#define DP_TRUST_NS		(6500 * DP_MS)	/* trustUDPAddrDuration */
#define DP_UPGRADE_NS		(60000 * DP_MS)	/* upgradeInterval */
#define DP_GOOD_ENOUGH_NS	(5 * DP_MS)	/* goodEnoughLatency */

#define DP_CAND_MAX	16	/* candidates kept; more are refused */
#define DP_SENT_MAX	32	/* pings in flight; the oldest gives way */

/* Where a candidate came from (bits). */
#define DP_FROM_CONTROL	0x01
#define DP_FROM_CMM	0x02
#define DP_FROM_PING	0x04

enum dp_purpose {
	DP_DISCOVERY = 0,
	DP_HEARTBEAT,
	DP_CLI,		/* privmesh ping */
};

struct dp_cand {
	struct ipport	ap;
	uint64_t	last_ping;	/* 0: never */
	uint64_t	last_pong;
	uint64_t	latency;	/* of the last pong, ns */
	uint8_t		from;
};

struct dp_sent {
	uint8_t		txid[DISCO_TXID_LEN];
	struct ipport	to;		/* DERP: 127.3.3.40:<region> */
	uint64_t	at;
	uint64_t	cli_id;		/* DP_CLI: the request */
	uint8_t		purpose;
};

struct disco_path {
	struct dp_cand	cand[DP_CAND_MAX];
	struct dp_sent	sent[DP_SENT_MAX];
	uint8_t		ncand, nsent;
	bool		has_best;
	struct ipport	best;
	uint64_t	best_latency;
	uint64_t	trust_until;
	uint64_t	last_full_ping;
	uint64_t	last_heartbeat;
	uint64_t	last_send;	/* traffic to the peer (session) */
	uint64_t	last_ping_rx;	/* the peer pinged us */
};

/* The magic DERP address 127.3.3.40:<region> as an ipport. */
void	dp_derp_addr(struct ipport *, uint32_t region);
bool	dp_is_derp(const struct ipport *, uint32_t *region);

/* Adds (or marks) a candidate; its index, or -1 when full or unusable. */
int	dp_add_candidate(struct disco_path *, const struct ipport *,
	    uint8_t from);
/* CallMeMaybe: the candidates it named are exactly these (earlier CMM-only
 * ones go, and the best with them if it was one), and every candidate may
 * be pinged again at once. */
void	dp_call_me_maybe(struct disco_path *, const struct ipport *, size_t);

bool	dp_trusted(const struct disco_path *, uint64_t now);
/* The address to send to, or NULL (DERP). */
const struct ipport *dp_send_addr(const struct disco_path *, uint64_t now);
/* wantFullPingLocked: probe all candidates (and send CallMeMaybe). */
bool	dp_want_full_ping(const struct disco_path *, uint64_t now);
/* A candidate is due a discovery ping (not pinged within 5 s). */
bool	dp_cand_due(const struct dp_cand *, uint64_t now);
/* Heartbeat: traffic within 45 s and the best not pinged for 3 s. */
bool	dp_want_heartbeat(const struct disco_path *, uint64_t now);
bool	dp_session_active(const struct disco_path *, uint64_t now);
/* Nothing to keep: no session, no trusted path, no ping either way in
 * the last 45 s (candidates learned from pings stay that long). */
bool	dp_idle(const struct disco_path *, uint64_t now);

/* Records a ping sent (and the candidate's last_ping). */
void	dp_sent_add(struct disco_path *, const uint8_t txid[DISCO_TXID_LEN],
	    const struct ipport *to, uint64_t now, enum dp_purpose,
	    uint64_t cli_id);
/*
 * A pong: false if txid is not one in flight.  Otherwise *out is the ping
 * it answers, *latency the round trip, and for a direct address the
 * candidate's record is updated and the address becomes the best if it
 * is better (betterAddr) or the best is no longer trusted; the best is
 * trusted for DP_TRUST_NS more.
 */
bool	dp_pong(struct disco_path *, const uint8_t txid[DISCO_TXID_LEN],
	    uint64_t now, struct dp_sent *out, uint64_t *latency);
/* Drops pings older than DP_PING_TIMEOUT_NS; returns how many. */
size_t	dp_expire(struct disco_path *, uint64_t now);
/* betterAddr: a (latency la) is worth switching to from b (lb). */
bool	dp_better(const struct ipport *a, uint64_t la,
	    const struct ipport *b, uint64_t lb);

#endif
