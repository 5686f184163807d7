/*
 * netcheck's reports and home choice (netd/netcheck_report.c) against
 * the rules of tailscale's net/netcheck: MappingVariesByDestIP from the
 * IPv4 answers, GetGlobalAddrs, and addReportHistoryAndSetPreferredDERP
 * (best latency over 5 min 5 s of history, RegionScore, stickiness of
 * 10 ms and two thirds, the keep-alive rule).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "netcheck.h"

#define MS	1000000ull
#define SEC	1000000000ull

static struct ipport
v4(uint8_t last, uint16_t port)
{
	struct ipport a;
	uint8_t ip[4] = { 192, 0, 2, last };

	ipport_set_v4(&a, ip, port);
	return a;
}

static const struct nc_derp_activity never = { UINT64_MAX, 0 };

/* A report at `at` with (region, ms) pairs, all over IPv4 from one
 * mapped endpoint; ends at region 0. */
static void
mk(struct nc_report *r, uint64_t at, ...)
{
	struct ipport ep = v4(1, 41641);
	va_list ap;
	unsigned id;

	nc_report_init(r);
	r->at_ns = at;
	va_start(ap, at);
	while ((id = va_arg(ap, unsigned)) != 0)
		assert_int_equal(nc_add_latency(r, id, &ep,
		    va_arg(ap, unsigned) * MS), 0);
	va_end(ap);
}

static uint32_t
choose(struct nc_history *h, uint64_t at, const struct nc_derp_activity *a,
    double (*score)(void *, uint32_t), ...)
{
	struct nc_report r;
	struct ipport ep = v4(1, 41641);
	va_list ap;
	unsigned id;
	uint32_t p;

	nc_report_init(&r);
	r.at_ns = at;
	va_start(ap, score);
	while ((id = va_arg(ap, unsigned)) != 0)
		assert_int_equal(nc_add_latency(&r, id, &ep,
		    va_arg(ap, unsigned) * MS), 0);
	va_end(ap);
	nc_choose_home(h, &r, a, score, NULL);
	p = r.preferred;
	nc_report_free(&r);
	return p;
}

static void
test_mapping_varies(void **state)
{
	struct nc_report r;
	struct ipport a = v4(1, 1000), b = v4(1, 2000), out[4];

	(void)state;
	nc_report_init(&r);
	assert_int_equal(nc_add_latency(&r, 1, &a, 5 * MS), 0);
	assert_int_equal(r.varies, NC_UNKNOWN);	/* one answer: unknown */
	assert_int_equal(nc_add_latency(&r, 2, &a, 7 * MS), 0);
	assert_int_equal(r.varies, NC_FALSE);
	assert_int_equal(nc_add_latency(&r, 3, &b, 9 * MS), 0);
	assert_int_equal(r.varies, NC_TRUE);
	assert_true(r.udp && r.v4 && !r.v6);
	assert_memory_equal(&r.g4, &a, sizeof(a));	/* the first one */
	/* GetGlobalAddrs: the first, then others seen more than once. */
	assert_int_equal(nc_global_addrs(&r, false, out, 4), 1);
	assert_int_equal(nc_add_latency(&r, 3, &b, 8 * MS), 0);
	assert_int_equal(nc_global_addrs(&r, false, out, 4), 2);
	assert_memory_equal(&out[1], &b, sizeof(b));
	/* Best try per region. */
	assert_int_equal(nc_latency(&r, 3)->all, 8 * MS);
	assert_int_equal(nc_latency(&r, 3)->v4, 8 * MS);
	assert_int_equal(nc_latency(&r, 3)->v6, 0);
	assert_int_equal(nc_global_addrs(&r, true, out, 4), 0);
	nc_report_free(&r);
}

static void
test_first_choice_is_lowest(void **state)
{
	struct nc_history h = { 0 };

	(void)state;
	assert_int_equal(choose(&h, 1 * SEC, &never, NULL, 3, 20, 1, 10, 2,
	    15, 0), 1);
	nc_history_free(&h);
}

static void
test_history_keeps_old_best(void **state)
{
	struct nc_history h = { 0 };

	(void)state;
	assert_int_equal(choose(&h, 1 * SEC, &never, NULL, 1, 10, 2, 20, 0),
	    1);
	/* Region 1 got slow, but its best in the last 5 min is 10 ms. */
	assert_int_equal(choose(&h, 30 * SEC, &never, NULL, 1, 40, 2, 15, 0),
	    1);
	nc_history_free(&h);
}

static void
test_stickiness(void **state)
{
	struct nc_history h = { 0 };
	uint64_t t = 1 * SEC;

	(void)state;
	assert_int_equal(choose(&h, t, &never, NULL, 1, 30, 2, 40, 0), 1);
	/* Past the history window: only this report counts.  5 ms better
	 * is under preferredDERPAbsoluteDiff: keep 1. */
	t += 400 * SEC;
	assert_int_equal(choose(&h, t, &never, NULL, 1, 30, 2, 25, 0), 1);
	/* 100 -> 70 ms: 30 ms better but not below two thirds: keep. */
	t += 400 * SEC;
	assert_int_equal(choose(&h, t, &never, NULL, 1, 100, 2, 70, 0), 1);
	/* 100 -> 60 ms: both rules passed: move. */
	t += 400 * SEC;
	assert_int_equal(choose(&h, t, &never, NULL, 1, 100, 2, 60, 0), 2);
	nc_history_free(&h);
}

static void
test_old_region_silent(void **state)
{
	struct nc_history h = { 0 };
	struct nc_derp_activity heard = { 0, 3 * SEC };

	(void)state;
	assert_int_equal(choose(&h, 1 * SEC, &never, NULL, 1, 30, 2, 40, 0),
	    1);
	/* No STUN answer from 1 but its DERP connection is alive: kept. */
	assert_int_equal(choose(&h, 400 * SEC, &heard, NULL, 2, 25, 0), 1);
	/* Neither: move. */
	assert_int_equal(choose(&h, 800 * SEC, &never, NULL, 2, 25, 0), 2);
	/* No data at all: the live home stays, else none. */
	assert_int_equal(choose(&h, 1200 * SEC, &heard, NULL, 0), 2);
	assert_int_equal(choose(&h, 1600 * SEC, &never, NULL, 0), 0);
	nc_history_free(&h);
}

static double
score_1_triple(void *arg, uint32_t id)
{
	(void)arg;
	return id == 1 ? 3.0 : 0;
}

static void
test_region_score(void **state)
{
	struct nc_history h = { 0 };

	(void)state;
	/* 10 ms x 3 = 30 ms > 20 ms. */
	assert_int_equal(choose(&h, 1 * SEC, &never, score_1_triple, 1, 10,
	    2, 20, 0), 2);
	nc_history_free(&h);
}

static void
test_history_bounded(void **state)
{
	struct nc_history h = { 0 };
	struct nc_report r;

	(void)state;
	for (unsigned i = 0; i < 3 * NC_HIST_MAX; i++) {
		mk(&r, (i + 1) * MS, 1, 10 + i, 0);
		nc_choose_home(&h, &r, &never, NULL, NULL);
		nc_report_free(&r);
		assert_true(h.n <= NC_HIST_MAX);
	}
	assert_int_equal(h.n, NC_HIST_MAX);
	nc_history_free(&h);
}

/* UDP blocked: HTTPS latencies make a home but no UDP, endpoint or
 * per-family latency. */
static void
test_https_latency(void **state)
{
	struct nc_history h = { 0 };
	struct nc_report r;

	(void)state;
	nc_report_init(&r);
	r.at_ns = 1 * SEC;
	assert_int_equal(nc_add_https_latency(&r, 900, false, 30 * MS), 0);
	assert_int_equal(nc_add_https_latency(&r, 902, false, 12 * MS), 0);
	assert_int_equal(nc_add_https_latency(&r, 902, false, 20 * MS), 0);
	assert_int_equal(nc_add_https_latency(&r, 7, true, 0), 0);
	assert_false(r.udp || r.have_g4 || r.have_g6);
	assert_true(r.v4 && r.v6);
	assert_int_equal(r.varies, NC_UNKNOWN);
	assert_int_equal(nc_latency(&r, 902)->all, 12 * MS);
	assert_int_equal(nc_latency(&r, 902)->v4, 0);
	assert_int_equal(nc_latency(&r, 7)->all, 1);	/* 0 is "none" */
	nc_choose_home(&h, &r, &never, NULL, NULL);
	assert_int_equal(r.preferred, 7);
	nc_report_free(&r);
	nc_history_free(&h);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mapping_varies),
		cmocka_unit_test(test_first_choice_is_lowest),
		cmocka_unit_test(test_history_keeps_old_best),
		cmocka_unit_test(test_stickiness),
		cmocka_unit_test(test_old_region_silent),
		cmocka_unit_test(test_region_score),
		cmocka_unit_test(test_history_bounded),
		cmocka_unit_test(test_https_latency),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
