/* Handshake rate limit: token buckets per source, bounded table, gc. */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <cmocka.h>

#include "ratelimit.h"

#define MS	1000000ull
#define SEC	1000000000ull
#define T0	(1000 * SEC)	/* an arbitrary monotonic start */

static bool
allow(struct wg_ratelimiter *rl, const char *ip, uint64_t now)
{
	uint8_t a[16];
	int family = strchr(ip, ':') ? AF_INET6 : AF_INET;

	assert_int_equal(inet_pton(family, ip, a), 1);
	return wg_ratelimiter_allow(rl, family, a, now);
}

static void
test_burst_then_refused(void **state)
{
	struct wg_ratelimiter rl;

	(void)state;
	assert_int_equal(wg_ratelimiter_init(&rl, 16), 0);
	for (int i = 0; i < WG_RATELIMIT_BURST; i++)
		assert_true(allow(&rl, "192.0.2.1", T0));
	assert_false(allow(&rl, "192.0.2.1", T0));
	assert_false(allow(&rl, "192.0.2.1", T0 + MS));
	/* Another source has its own bucket. */
	assert_true(allow(&rl, "192.0.2.2", T0 + MS));
	assert_int_equal(rl.count, 2);
	wg_ratelimiter_free(&rl);
}

static void
test_refill(void **state)
{
	struct wg_ratelimiter rl;
	uint64_t t = T0;

	(void)state;
	assert_int_equal(wg_ratelimiter_init(&rl, 16), 0);
	for (int i = 0; i < WG_RATELIMIT_BURST; i++)
		assert_true(allow(&rl, "198.51.100.7", t));
	/* One packet's worth of credit is 1 s / 20 = 50 ms. */
	assert_false(allow(&rl, "198.51.100.7", t + 49 * MS));
	assert_true(allow(&rl, "198.51.100.7", t + 50 * MS));
	assert_false(allow(&rl, "198.51.100.7", t + 50 * MS));
	/* A steady 20/s passes indefinitely. */
	for (t += 100 * MS; t < T0 + 5 * SEC; t += 50 * MS)
		assert_true(allow(&rl, "198.51.100.7", t));
	assert_false(allow(&rl, "198.51.100.7", t - 50 * MS));
	/* Credit caps at the burst however long the source was idle. */
	t += 10 * SEC;
	for (int i = 0; i < WG_RATELIMIT_BURST; i++)
		assert_true(allow(&rl, "198.51.100.7", t));
	assert_false(allow(&rl, "198.51.100.7", t));
	wg_ratelimiter_free(&rl);
}

static void
test_clock_backwards(void **state)
{
	struct wg_ratelimiter rl;

	(void)state;
	assert_int_equal(wg_ratelimiter_init(&rl, 16), 0);
	for (int i = 0; i < WG_RATELIMIT_BURST; i++)
		assert_true(allow(&rl, "192.0.2.9", T0));
	assert_false(allow(&rl, "192.0.2.9", T0 - SEC));
	/* No credit was earned going back, and none is owed coming back. */
	assert_false(allow(&rl, "192.0.2.9", T0 + 49 * MS));
	assert_true(allow(&rl, "192.0.2.9", T0 + 50 * MS));
	wg_ratelimiter_free(&rl);
}

static void
test_ipv6_by_64(void **state)
{
	struct wg_ratelimiter rl;

	(void)state;
	assert_int_equal(wg_ratelimiter_init(&rl, 16), 0);
	for (int i = 0; i < WG_RATELIMIT_BURST; i++)
		assert_true(allow(&rl, "2001:db8:0:1::1", T0));
	/* Any address in the same /64 shares the bucket... */
	assert_false(allow(&rl, "2001:db8:0:1::2", T0));
	assert_false(allow(&rl, "2001:db8:0:1:ffff:ffff:ffff:ffff", T0));
	/* ...the neighbouring /64 does not. */
	assert_true(allow(&rl, "2001:db8:0:2::1", T0));
	/* Nor does the IPv4 address with the same leading bytes. */
	for (int i = 0; i < WG_RATELIMIT_BURST; i++)
		assert_true(allow(&rl, "2001:db8::1", T0));
	assert_true(allow(&rl, "32.1.13.184", T0));
	assert_int_equal(rl.count, 4);
	wg_ratelimiter_free(&rl);
}

static void
test_table_full(void **state)
{
	struct wg_ratelimiter rl;
	char ip[32];

	(void)state;
	assert_int_equal(wg_ratelimiter_init(&rl, 4), 0);
	for (int i = 0; i < 4; i++) {
		snprintf(ip, sizeof(ip), "203.0.113.%d", i);
		assert_true(allow(&rl, ip, T0));
	}
	/* New sources are refused, known ones keep their buckets. */
	assert_false(allow(&rl, "203.0.113.200", T0));
	assert_false(allow(&rl, "2001:db8::1", T0 + 2 * SEC));
	assert_true(allow(&rl, "203.0.113.0", T0));
	assert_int_equal(rl.count, 4);
	assert_int_equal(wg_ratelimiter_gc(&rl, T0 + SEC + 1), 4);
	assert_int_equal(rl.count, 0);
	assert_true(allow(&rl, "203.0.113.200", T0 + SEC + 1));
	wg_ratelimiter_free(&rl);
}

static void
test_gc_idle_only(void **state)
{
	struct wg_ratelimiter rl;

	(void)state;
	assert_int_equal(wg_ratelimiter_init(&rl, 16), 0);
	assert_true(allow(&rl, "192.0.2.1", T0));
	assert_true(allow(&rl, "192.0.2.2", T0));
	assert_true(allow(&rl, "192.0.2.2", T0 + 500 * MS));
	/* Idle for exactly 1 s is kept; longer is forgotten. */
	assert_int_equal(wg_ratelimiter_gc(&rl, T0 + SEC), 0);
	assert_int_equal(wg_ratelimiter_gc(&rl, T0 + SEC + 1), 1);
	assert_int_equal(rl.count, 1);
	/* A refused packet counts as activity: a flood never expires. */
	for (int i = 0; i < 10; i++)
		(void)allow(&rl, "192.0.2.2", T0 + SEC + 1);
	assert_int_equal(wg_ratelimiter_gc(&rl, T0 + 2 * SEC), 0);
	assert_int_equal(wg_ratelimiter_gc(&rl, T0 + 3 * SEC), 1);
	assert_int_equal(wg_ratelimiter_gc(&rl, T0 + 3 * SEC), 0);
	wg_ratelimiter_free(&rl);
}

/*
 * Many sources, expired in interleaved groups: after each gc every
 * survivor must still be found (allow() would otherwise add it again and
 * the count would grow), which checks the backward-shift deletion.
 */
static void
test_gc_keeps_survivors_reachable(void **state)
{
	struct wg_ratelimiter rl;
	enum { N = 1500 };
	uint8_t a[4];

	(void)state;
	assert_int_equal(wg_ratelimiter_init(&rl, 2000), 0);
	for (uint32_t i = 0; i < N; i++) {
		uint32_t v = htonl(0x0a000000u + i * 7919u);

		memcpy(a, &v, 4);
		assert_true(wg_ratelimiter_allow(&rl, AF_INET, a,
		    T0 + (i % 3) * 400 * MS));
	}
	assert_int_equal(rl.count, N);
	/* Group 0 is idle 1.6 s, group 1 1.2 s, group 2 0.8 s. */
	assert_int_equal(wg_ratelimiter_gc(&rl, T0 + 1600 * MS), 2 * N / 3);
	assert_int_equal(rl.count, N / 3);
	for (uint32_t i = 2; i < N; i += 3) {
		uint32_t v = htonl(0x0a000000u + i * 7919u);

		memcpy(a, &v, 4);
		(void)wg_ratelimiter_allow(&rl, AF_INET, a, T0 + 1600 * MS);
		assert_int_equal(rl.count, N / 3);
	}
	wg_ratelimiter_free(&rl);
}

static void
test_bad_arguments(void **state)
{
	struct wg_ratelimiter rl;
	uint8_t a[16] = { 0 };

	(void)state;
	assert_int_equal(wg_ratelimiter_init(&rl, 0), -EINVAL);
	assert_int_equal(wg_ratelimiter_init(&rl, (size_t)1 << 21), -EINVAL);
	assert_int_equal(wg_ratelimiter_init(&rl, WG_RATELIMIT_MAX_ENTRIES), 0);
	assert_false(wg_ratelimiter_allow(&rl, AF_UNIX, a, T0));
	assert_int_equal(rl.count, 0);
	wg_ratelimiter_free(&rl);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_burst_then_refused),
		cmocka_unit_test(test_refill),
		cmocka_unit_test(test_clock_backwards),
		cmocka_unit_test(test_ipv6_by_64),
		cmocka_unit_test(test_table_full),
		cmocka_unit_test(test_gc_idle_only),
		cmocka_unit_test(test_gc_keeps_survivors_reachable),
		cmocka_unit_test(test_bad_arguments),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
