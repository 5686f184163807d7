/*
 * netcheck's reports and home-region choice without I/O (netcheck.h),
 * following tailscale's net/netcheck: addNodeLatency, GetGlobalAddrs,
 * addReportHistoryAndSetPreferredDERP.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "netcheck.h"

void
nc_report_init(struct nc_report *r)
{
	memset(r, 0, sizeof(*r));
}

void
nc_report_free(struct nc_report *r)
{
	free(r->lat);
	nc_report_init(r);
}

int
nc_report_copy(struct nc_report *dst, const struct nc_report *src)
{
	*dst = *src;
	dst->lat = NULL;
	dst->cap = dst->nlat;
	if (src->nlat == 0)
		return 0;
	if ((dst->lat = calloc(src->nlat, sizeof(*dst->lat))) == NULL) {
		nc_report_init(dst);
		return -1;
	}
	memcpy(dst->lat, src->lat, src->nlat * sizeof(*dst->lat));
	return 0;
}

/* The region's entry, inserted in id order when absent. */
static struct nc_lat *
lat_slot(struct nc_report *r, uint32_t region)
{
	size_t i = 0;

	while (i < r->nlat && r->lat[i].region < region)
		i++;
	if (i < r->nlat && r->lat[i].region == region)
		return &r->lat[i];
	if (r->nlat == r->cap) {
		size_t ncap = r->cap ? r->cap * 2 : 8;
		struct nc_lat *n = reallocarray(r->lat, ncap, sizeof(*n));

		if (n == NULL)
			return NULL;
		r->lat = n;
		r->cap = ncap;
	}
	memmove(&r->lat[i + 1], &r->lat[i], (r->nlat - i) * sizeof(*r->lat));
	memset(&r->lat[i], 0, sizeof(*r->lat));
	r->lat[i].region = region;
	r->nlat++;
	return &r->lat[i];
}

/* updateLatency: keep the best. */
static void
best(uint64_t *slot, uint64_t d)
{
	if (*slot == 0 || d < *slot)
		*slot = d;
}

static void
count_seen(struct nc_seen *s, size_t *n, const struct ipport *ep)
{
	for (size_t i = 0; i < *n; i++)
		if (memcmp(&s[i].ep, ep, sizeof(*ep)) == 0) {
			s[i].count++;
			return;
		}
	if (*n < NC_SEEN_MAX) {
		s[*n].ep = *ep;
		s[(*n)++].count = 1;
	}
}

int
nc_add_latency(struct nc_report *r, uint32_t region, const struct ipport *ep,
    uint64_t d_ns)
{
	struct nc_lat *l = lat_slot(r, region);

	r->udp = true;
	if (l == NULL)
		return -1;
	if (d_ns == 0)
		d_ns = 1;	/* 0 means "none" here */
	best(&l->all, d_ns);
	if (!ipport_is_v4(ep)) {
		best(&l->v6, d_ns);
		r->v6 = true;
		r->g6 = *ep;		/* tailscale keeps the latest */
		r->have_g6 = true;
		count_seen(r->seen6, &r->nseen6, ep);
		return 0;
	}
	best(&l->v4, d_ns);
	r->v4 = true;
	count_seen(r->seen4, &r->nseen4, ep);
	if (!r->have_g4) {
		r->g4 = *ep;
		r->have_g4 = true;
	} else if (memcmp(&r->g4, ep, sizeof(*ep)) != 0)
		r->varies = NC_TRUE;
	else if (r->varies == NC_UNKNOWN)
		r->varies = NC_FALSE;
	return 0;
}

int
nc_add_https_latency(struct nc_report *r, uint32_t region, bool v6,
    uint64_t d_ns)
{
	struct nc_lat *l = lat_slot(r, region);

	if (l == NULL)
		return -1;
	best(&l->all, d_ns == 0 ? 1 : d_ns);
	/* As tailscale: the family that answered "works", UDP or not. */
	if (v6)
		r->v6 = true;
	else
		r->v4 = true;
	return 0;
}

const struct nc_lat *
nc_latency(const struct nc_report *r, uint32_t region)
{
	for (size_t i = 0; i < r->nlat; i++)
		if (r->lat[i].region == region)
			return &r->lat[i];
	return NULL;
}

size_t
nc_global_addrs(const struct nc_report *r, bool v6, struct ipport *out,
    size_t max)
{
	const struct ipport *g = v6 ? &r->g6 : &r->g4;
	const struct nc_seen *s = v6 ? r->seen6 : r->seen4;
	size_t ns = v6 ? r->nseen6 : r->nseen4, n = 0;

	if (max == 0 || !(v6 ? r->have_g6 : r->have_g4))
		return 0;
	out[n++] = *g;
	for (size_t i = 0; i < ns && n < max; i++)
		if (s[i].count > 1 && memcmp(&s[i].ep, g, sizeof(*g)) != 0)
			out[n++] = s[i].ep;
	return n;
}

static void
history_add(struct nc_history *h, const struct nc_report *r)
{
	struct nc_report *slot;

	/* Drop what is past the retention window, oldest first. */
	while (h->n > 0) {
		slot = &h->r[(h->head + NC_HIST_MAX - h->n) % NC_HIST_MAX];
		if (h->n < NC_HIST_MAX && r->at_ns - slot->at_ns <= NC_HIST_NS)
			break;
		nc_report_free(slot);
		h->n--;
	}
	slot = &h->r[h->head];
	if (nc_report_copy(slot, r) < 0)
		return;		/* this report still counts below */
	h->head = (h->head + 1) % NC_HIST_MAX;
	h->n++;
}

/* bestRecentLatencyLocked for one region, over the history and r. */
static uint64_t
best_recent(const struct nc_history *h, const struct nc_report *r,
    uint32_t region)
{
	const struct nc_lat *l = nc_latency(r, region);
	uint64_t b = l != NULL ? l->all : 0;

	for (size_t i = 0; i < h->n; i++) {
		const struct nc_report *p =
		    &h->r[(h->head + NC_HIST_MAX - 1 - i) % NC_HIST_MAX];

		if ((l = nc_latency(p, region)) != NULL && l->all != 0)
			best(&b, l->all);
	}
	return b;
}

static int64_t
scaled(uint64_t d, uint32_t region, double (*score)(void *, uint32_t),
    void *arg)
{
	double s = score != NULL ? score(arg, region) : 0;

	if (s > 0)
		return (int64_t)((double)d * s);
	return (int64_t)d;
}

void
nc_choose_home(struct nc_history *h, struct nc_report *r,
    const struct nc_derp_activity *act, double (*score)(void *, uint32_t),
    void *arg)
{
	uint32_t prev = h->last_preferred;
	int64_t best_any = 0, old_cur = 0;
	bool changing, heard = false, keep = false;

	history_add(h, r);
	r->preferred = 0;
	for (size_t i = 0; i < r->nlat; i++) {
		uint32_t id = r->lat[i].region;
		int64_t d = scaled(r->lat[i].all, id, score, arg);
		int64_t b = scaled(best_recent(h, r, id), id, score, arg);

		if (id == prev)
			old_cur = d;
		if (r->preferred == 0 || b < best_any) {
			best_any = b;
			r->preferred = id;
		}
	}
	/* Stickiness: the old home stays while it is reachable and the new
	 * one is not better by 10 ms and by a third. */
	changing = prev != 0 && r->preferred != prev;
	if (changing)
		heard = act->prev_heard_ago < act->run_ns ||
		    act->prev_heard_ago < NC_FRAME_NS;
	if (changing && (old_cur != 0 || heard)) {
		if (old_cur - best_any < (int64_t)NC_ABS_DIFF_NS)
			keep = true;
		if (best_any > old_cur / 3 * 2)
			keep = true;
	}
	if (keep)
		r->preferred = prev;
	/* No data at all: keep a home whose connection is alive. */
	if (r->preferred == 0 && act->prev_heard_ago < NC_KEEPALIVE_NS)
		r->preferred = prev;
	h->last_preferred = r->preferred;
	if (h->n > 0)
		h->r[(h->head + NC_HIST_MAX - 1) % NC_HIST_MAX].preferred =
		    r->preferred;
}

void
nc_history_free(struct nc_history *h)
{
	for (size_t i = 0; i < NC_HIST_MAX; i++)
		nc_report_free(&h->r[i]);
	memset(h, 0, sizeof(*h));
}
