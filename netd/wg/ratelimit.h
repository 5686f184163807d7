/*
 * Rate limit for handshake initiations under load, per source address, as
 * wireguard-go's ratelimiter and the kernel's ratelimiter.c: a token bucket
 * of 20 packets/s with a burst of 5, keyed by the IPv4 address or by the
 * IPv6 /64 (one host usually owns a whole /64).
 *
 * The table is a fixed open-addressing hash allocated once, so the packet
 * path never allocates; when max_entries sources are tracked, new sources
 * are refused until wg_ratelimiter_gc() frees idle ones (the caller runs it
 * about once a second).  The hash is keyed SipHash with a random key, so a
 * sender cannot choose sources that collide.
 *
 * Named wg_ratelimiter because common/log.h already has struct ratelimit
 * (for log lines).  Time is a monotonic clock in nanoseconds, supplied by
 * the caller.  Not thread-safe.
 */
#ifndef PM_WG_RATELIMIT_H
#define PM_WG_RATELIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WG_RATELIMIT_PER_SEC	20
#define WG_RATELIMIT_BURST	5
#define WG_RATELIMIT_IDLE_NS	1000000000ull	/* forgotten after 1 s idle */
#define WG_RATELIMIT_MAX_ENTRIES 8192		/* default table bound */

struct wg_ratelimit_slot;

struct wg_ratelimiter {
	struct wg_ratelimit_slot *slots;
	size_t		 mask;		/* slot count - 1, a power of two */
	size_t		 count;		/* sources tracked */
	size_t		 max;		/* at most half the slots */
	uint8_t		 key[16];	/* SipHash key */
};

/*
 * Allocates room for max_entries sources (1..1048576) and draws a fresh
 * hash key.  0, -EINVAL, -ENOMEM, or -EIO if libsodium cannot start.
 */
int	wg_ratelimiter_init(struct wg_ratelimiter *, size_t max_entries);
void	wg_ratelimiter_free(struct wg_ratelimiter *);

/*
 * Charges one packet from addr (4 or 16 bytes by family) at now_ns.  true
 * if it may be processed; false if over the rate, the table is full, or
 * the family is unknown.
 */
bool	wg_ratelimiter_allow(struct wg_ratelimiter *, int family,
	    const void *addr, uint64_t now_ns);

/* Forgets sources idle for more than WG_RATELIMIT_IDLE_NS; returns how
 * many. */
size_t	wg_ratelimiter_gc(struct wg_ratelimiter *, uint64_t now_ns);

#endif
