/*
 * The device's timer queue: every peer with an armed deadline, earliest
 * first, in a binary min-heap, so the I/O layer drives all of WireGuard's
 * per-peer timers (timers.h) with one event-loop timer armed at the first
 * deadline instead of one timer per peer.
 *
 * A slot holds the deadline the peer was queued with and the peer; the
 * peer holds its slot's position (timers.queue_pos), so moving or removing
 * it is O(log n) without a search.  Peers with nothing armed are not in
 * the heap.  Room for every peer is reserved when the peer is added, so
 * queueing never allocates and cannot fail.
 */
#ifndef PM_WG_TIMERQ_H
#define PM_WG_TIMERQ_H

#include <stddef.h>
#include <stdint.h>

struct wg_peer;

#define WG_TIMERQ_NONE	UINT32_MAX	/* queue_pos of a peer not queued */

struct wg_timerq_slot {
	uint64_t	 deadline;	/* monotonic ns */
	struct wg_peer	*peer;
};

struct wg_timerq {
	struct wg_timerq_slot *slot;
	uint32_t	 len;
	uint32_t	 cap;
};

/* Room for n peers in all.  0 or -ENOMEM. */
int	wg_timerq_reserve(struct wg_timerq *, size_t n);
void	wg_timerq_free(struct wg_timerq *);
/*
 * Queues the peer at deadline, moves it there if queued already, or takes
 * it out for WG_TIMER_OFF.  Needs room reserved for the peer.
 */
void	wg_timerq_set(struct wg_timerq *, struct wg_peer *, uint64_t deadline);
/* The first deadline, or WG_TIMER_OFF when empty. */
uint64_t wg_timerq_first(const struct wg_timerq *);
/* The peer with the first deadline if that is <= now_ns, else NULL. */
struct wg_peer *wg_timerq_due(const struct wg_timerq *, uint64_t now_ns);

#endif
