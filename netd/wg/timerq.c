/*
 * A binary min-heap of (deadline, peer) slots; see timerq.h.  Each slot
 * move writes the peer's new position back, which is what makes removal
 * and re-keying O(log n).
 */
#include <errno.h>
#include <stdlib.h>

#include "peer.h"
#include "timerq.h"

int
wg_timerq_reserve(struct wg_timerq *q, size_t n)
{
	struct wg_timerq_slot *s;
	size_t cap;

	if (n <= q->cap)
		return 0;
	if (n >= WG_TIMERQ_NONE)
		return -ENOMEM;
	/* Grow by half: the spare room is per configured peer. */
	cap = q->cap < 16 ? 16 : q->cap + q->cap / 2;
	if (cap < n)
		cap = n;
	if (cap >= WG_TIMERQ_NONE)
		cap = WG_TIMERQ_NONE - 1;
	if ((s = reallocarray(q->slot, cap, sizeof(*s))) == NULL)
		return -ENOMEM;
	q->slot = s;
	q->cap = (uint32_t)cap;
	return 0;
}

void
wg_timerq_free(struct wg_timerq *q)
{
	free(q->slot);
	q->slot = NULL;
	q->len = q->cap = 0;
}

static void
put(struct wg_timerq *q, uint32_t i, struct wg_timerq_slot s)
{
	q->slot[i] = s;
	s.peer->timers.queue_pos = i;
}

/* Moves s from hole i towards the root while it is earlier than a parent. */
static void
sift_up(struct wg_timerq *q, uint32_t i, struct wg_timerq_slot s)
{
	while (i > 0) {
		uint32_t parent = (i - 1) / 2;

		if (q->slot[parent].deadline <= s.deadline)
			break;
		put(q, i, q->slot[parent]);
		i = parent;
	}
	put(q, i, s);
}

/* Moves s from hole i towards the leaves while a child is earlier. */
static void
sift_down(struct wg_timerq *q, uint32_t i, struct wg_timerq_slot s)
{
	for (;;) {
		uint32_t c = 2 * i + 1;

		if (c >= q->len)
			break;
		if (c + 1 < q->len && q->slot[c + 1].deadline < q->slot[c].deadline)
			c++;
		if (s.deadline <= q->slot[c].deadline)
			break;
		put(q, i, q->slot[c]);
		i = c;
	}
	put(q, i, s);
}

/* Fills hole i with s, wherever s belongs relative to i's neighbours. */
static void
place(struct wg_timerq *q, uint32_t i, struct wg_timerq_slot s)
{
	if (i > 0 && s.deadline < q->slot[(i - 1) / 2].deadline)
		sift_up(q, i, s);
	else
		sift_down(q, i, s);
}

static void
take_out(struct wg_timerq *q, struct wg_peer *peer)
{
	uint32_t i = peer->timers.queue_pos;

	peer->timers.queue_pos = WG_TIMERQ_NONE;
	if (--q->len != i)
		place(q, i, q->slot[q->len]);
}

void
wg_timerq_set(struct wg_timerq *q, struct wg_peer *peer, uint64_t deadline)
{
	struct wg_timerq_slot s = { deadline, peer };
	uint32_t i = peer->timers.queue_pos;

	if (deadline == WG_TIMER_OFF) {
		if (i != WG_TIMERQ_NONE)
			take_out(q, peer);
		return;
	}
	if (i == WG_TIMERQ_NONE) {
		/* wg_peer_add() reserved the slot. */
		sift_up(q, q->len++, s);
		return;
	}
	if (q->slot[i].deadline != deadline)
		place(q, i, s);
}

uint64_t
wg_timerq_first(const struct wg_timerq *q)
{
	return q->len > 0 ? q->slot[0].deadline : WG_TIMER_OFF;
}

struct wg_peer *
wg_timerq_due(const struct wg_timerq *q, uint64_t now_ns)
{
	return q->len > 0 && q->slot[0].deadline <= now_ns ? q->slot[0].peer :
	    NULL;
}
