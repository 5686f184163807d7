/*
 * disco_path: magicsock's path choice as pure logic, driven with a fake
 * clock: candidates, pongs, trust, heartbeats, full pings, betterAddr.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "disco_path.h"

#define S	(1000 * DP_MS)

static struct ipport
v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d, uint16_t port)
{
	const uint8_t ip[4] = { a, b, c, d };
	struct ipport ap;

	ipport_set_v4(&ap, ip, port);
	return ap;
}

static void
txid_of(uint8_t t[DISCO_TXID_LEN], uint8_t n)
{
	memset(t, 0, DISCO_TXID_LEN);
	t[0] = n;
}

/* Pings cand i at `at`, answered `rtt` later; returns dp_pong's answer. */
static bool
ping_pong(struct disco_path *p, const struct ipport *to, uint8_t n,
    uint64_t at, uint64_t rtt)
{
	uint8_t t[DISCO_TXID_LEN];
	struct dp_sent s;
	uint64_t lat;

	txid_of(t, n);
	dp_sent_add(p, t, to, at, DP_DISCOVERY, 0);
	if (!dp_pong(p, t, at + rtt, &s, &lat))
		return false;
	assert_int_equal(lat, rtt);
	assert_memory_equal(&s.to, to, sizeof(*to));
	return true;
}

static void
test_candidates(void **state)
{
	struct disco_path p;
	struct ipport a = v4(192, 0, 2, 12, 41641), derp, zero = v4(0, 0, 0, 0,
	    1), noport = v4(192, 0, 2, 1, 0);
	uint32_t region;

	(void)state;
	memset(&p, 0, sizeof(p));
	dp_derp_addr(&derp, 900);
	assert_true(dp_is_derp(&derp, &region));
	assert_int_equal(region, 900);
	assert_false(dp_is_derp(&a, NULL));
	assert_int_equal(dp_add_candidate(&p, &a, DP_FROM_CONTROL), 0);
	assert_int_equal(dp_add_candidate(&p, &a, DP_FROM_PING), 0);
	assert_int_equal(p.cand[0].from, DP_FROM_CONTROL | DP_FROM_PING);
	assert_int_equal(dp_add_candidate(&p, &derp, DP_FROM_CMM), -1);
	assert_int_equal(dp_add_candidate(&p, &zero, DP_FROM_CMM), -1);
	assert_int_equal(dp_add_candidate(&p, &noport, DP_FROM_CMM), -1);
	for (uint16_t i = 1; i < DP_CAND_MAX; i++) {
		struct ipport c = v4(198, 51, 100, 1, i);

		assert_int_equal(dp_add_candidate(&p, &c, DP_FROM_CMM), i);
	}
	struct ipport more = v4(198, 51, 100, 2, 1);
	assert_int_equal(dp_add_candidate(&p, &more, DP_FROM_CMM), -1);
}

/* DERP until a pong; trusted 6.5 s after the last pong; then DERP. */
static void
test_trust_and_fallback(void **state)
{
	struct disco_path p;
	struct ipport a = v4(192, 0, 2, 12, 41641);
	uint64_t t0 = 100 * S;

	(void)state;
	memset(&p, 0, sizeof(p));
	dp_add_candidate(&p, &a, DP_FROM_CONTROL);
	assert_null(dp_send_addr(&p, t0));
	assert_true(dp_want_full_ping(&p, t0));
	assert_true(ping_pong(&p, &a, 1, t0, 3 * DP_MS));
	assert_non_null(dp_send_addr(&p, t0 + 3 * DP_MS));
	assert_true(dp_trusted(&p, t0 + 3 * DP_MS + DP_TRUST_NS - 1));
	assert_false(dp_trusted(&p, t0 + 3 * DP_MS + DP_TRUST_NS));
	assert_null(dp_send_addr(&p, t0 + 3 * DP_MS + DP_TRUST_NS));
	/* Untrusted: probe everything again. */
	assert_true(dp_want_full_ping(&p, t0 + 3 * DP_MS + DP_TRUST_NS));
	/* A pong to an unknown txid changes nothing. */
	uint8_t t[DISCO_TXID_LEN];
	struct dp_sent s;
	uint64_t lat;
	txid_of(t, 99);
	assert_false(dp_pong(&p, t, t0, &s, &lat));
}

static void
test_heartbeat_and_session(void **state)
{
	struct disco_path p;
	struct ipport a = v4(192, 0, 2, 12, 41641);
	uint64_t t0 = 100 * S;
	uint8_t t[DISCO_TXID_LEN];

	(void)state;
	memset(&p, 0, sizeof(p));
	dp_add_candidate(&p, &a, DP_FROM_CONTROL);
	assert_false(dp_want_heartbeat(&p, t0));	/* no best */
	assert_true(ping_pong(&p, &a, 1, t0, DP_MS));
	assert_false(dp_want_heartbeat(&p, t0));	/* no traffic */
	p.last_send = t0;
	assert_true(dp_session_active(&p, t0 + DP_SESSION_ACTIVE_NS - 1));
	assert_false(dp_session_active(&p, t0 + DP_SESSION_ACTIVE_NS));
	assert_true(dp_want_heartbeat(&p, t0 + S));
	txid_of(t, 2);
	dp_sent_add(&p, t, &a, t0 + S, DP_HEARTBEAT, 0);
	assert_false(dp_want_heartbeat(&p, t0 + S + DP_HEARTBEAT_NS - 1));
	assert_true(dp_want_heartbeat(&p, t0 + S + DP_HEARTBEAT_NS));
	/* Unanswered pings expire after 5 s. */
	assert_int_equal(dp_expire(&p, t0 + S + DP_PING_TIMEOUT_NS - 1), 0);
	assert_int_equal(dp_expire(&p, t0 + S + DP_PING_TIMEOUT_NS), 1);
	assert_int_equal(p.nsent, 0);
	/* Idle once the session, the trust and received pings are old. */
	p.last_ping_rx = t0 + 10 * S;
	assert_false(dp_idle(&p, t0 + DP_SESSION_ACTIVE_NS));
	assert_false(dp_idle(&p, t0 + 10 * S + DP_SESSION_ACTIVE_NS - 1));
	assert_true(dp_idle(&p, t0 + 10 * S + DP_SESSION_ACTIVE_NS));
}

/* Good enough (<= 5 ms): no full pings while trusted; slower: every
 * minute; a candidate is pinged at most every 5 s. */
static void
test_upgrade_interval(void **state)
{
	struct disco_path p;
	struct ipport a = v4(192, 0, 2, 12, 41641);
	uint64_t t0 = 100 * S;

	(void)state;
	memset(&p, 0, sizeof(p));
	dp_add_candidate(&p, &a, DP_FROM_CONTROL);
	p.last_full_ping = t0;
	assert_true(ping_pong(&p, &a, 1, t0, 5 * DP_MS));
	assert_false(dp_want_full_ping(&p, t0 + S));
	memset(&p, 0, sizeof(p));
	dp_add_candidate(&p, &a, DP_FROM_CONTROL);
	p.last_full_ping = t0;
	assert_true(ping_pong(&p, &a, 1, t0, 20 * DP_MS));
	assert_false(dp_want_full_ping(&p, t0 + S));
	p.trust_until = t0 + 2 * DP_UPGRADE_NS;		/* as heartbeats do */
	assert_false(dp_want_full_ping(&p, t0 + DP_UPGRADE_NS - 1));
	assert_true(dp_want_full_ping(&p, t0 + DP_UPGRADE_NS));
	assert_false(dp_cand_due(&p.cand[0], t0 + DP_PING_INTERVAL_NS - 1));
	assert_true(dp_cand_due(&p.cand[0], t0 + DP_PING_INTERVAL_NS));
}

/* The lower latency wins, with 1 % stickiness and bonuses for private
 * addresses and IPv6; an untrusted best gives way to any pong. */
static void
test_better(void **state)
{
	struct disco_path p;
	struct ipport pub1 = v4(198, 51, 100, 1, 1), pub2 = v4(203, 0, 113, 1,
	    1), priv = v4(10, 0, 0, 1, 1);
	uint64_t t0 = 100 * S;

	(void)state;
	assert_true(dp_better(&pub1, 10, &pub2, 20));
	assert_false(dp_better(&pub1, 20, &pub2, 10));
	assert_false(dp_better(&pub1, 995, &pub2, 1000));	/* < 1 % */
	assert_true(dp_better(&priv, 110, &pub2, 100));		/* +20 */
	assert_false(dp_better(&pub1, 10, &pub1, 20));		/* same */

	memset(&p, 0, sizeof(p));
	dp_add_candidate(&p, &pub1, DP_FROM_CONTROL);
	dp_add_candidate(&p, &pub2, DP_FROM_CONTROL);
	assert_true(ping_pong(&p, &pub1, 1, t0, 20 * DP_MS));
	assert_true(ping_pong(&p, &pub2, 2, t0, 30 * DP_MS));
	assert_memory_equal(&p.best, &pub1, sizeof(pub1));	/* slower */
	assert_true(ping_pong(&p, &pub2, 3, t0 + S, 10 * DP_MS));
	assert_memory_equal(&p.best, &pub2, sizeof(pub2));	/* faster */
	assert_int_equal(p.best_latency, 10 * DP_MS);
	/* pub2 goes quiet; after the trust runs out pub1's pong wins. */
	assert_true(ping_pong(&p, &pub1, 4, t0 + 10 * S, 50 * DP_MS));
	assert_memory_equal(&p.best, &pub1, sizeof(pub1));
	assert_true(dp_trusted(&p, t0 + 10 * S + 50 * DP_MS));
}

/* CallMeMaybe replaces the earlier CMM-only candidates, keeps the
 * others, skips link-local IPv6 and makes every candidate due. */
static void
test_call_me_maybe(void **state)
{
	struct disco_path p;
	struct ipport ctl = v4(192, 0, 2, 12, 41641), old = v4(198, 51, 100, 7,
	    7), n1 = v4(203, 0, 113, 9, 9), ll;
	const uint8_t llip[16] = { 0xfe, 0x80, [15] = 1 };
	struct ipport list[2];
	uint64_t t0 = 100 * S;
	uint8_t t[DISCO_TXID_LEN];

	(void)state;
	memset(&p, 0, sizeof(p));
	ipport_set_v6(&ll, llip, 5);
	dp_add_candidate(&p, &ctl, DP_FROM_CONTROL);
	dp_add_candidate(&p, &old, DP_FROM_CMM);
	txid_of(t, 1);
	dp_sent_add(&p, t, &ctl, t0, DP_DISCOVERY, 0);
	assert_false(dp_cand_due(&p.cand[0], t0 + S));
	list[0] = n1;
	list[1] = ll;
	dp_call_me_maybe(&p, list, 2);
	assert_int_equal(p.ncand, 2);
	assert_memory_equal(&p.cand[0].ap, &ctl, sizeof(ctl));
	assert_memory_equal(&p.cand[1].ap, &n1, sizeof(n1));
	assert_true(dp_cand_due(&p.cand[0], t0 + S));
	/* A best learned only from CallMeMaybe goes with the next one. */
	assert_true(ping_pong(&p, &n1, 2, t0 + S, DP_MS));
	assert_true(dp_trusted(&p, t0 + S + DP_MS));
	dp_call_me_maybe(&p, list, 0);
	assert_int_equal(p.ncand, 1);
	assert_false(p.has_best);
	assert_null(dp_send_addr(&p, t0 + S + DP_MS));
}

static void
test_sent_overflow(void **state)
{
	struct disco_path p;
	struct ipport a = v4(192, 0, 2, 12, 41641);
	uint8_t t[DISCO_TXID_LEN];
	struct dp_sent s;
	uint64_t lat;

	(void)state;
	memset(&p, 0, sizeof(p));
	for (int i = 0; i < DP_SENT_MAX + 3; i++) {
		txid_of(t, (uint8_t)i);
		dp_sent_add(&p, t, &a, (uint64_t)i + 1, DP_CLI, (uint64_t)i);
	}
	assert_int_equal(p.nsent, DP_SENT_MAX);
	txid_of(t, 0);				/* the oldest gave way */
	assert_false(dp_pong(&p, t, 100, &s, &lat));
	txid_of(t, DP_SENT_MAX + 2);
	assert_true(dp_pong(&p, t, 100, &s, &lat));
	assert_int_equal(s.purpose, DP_CLI);
	assert_int_equal(s.cli_id, DP_SENT_MAX + 2);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_candidates),
		cmocka_unit_test(test_trust_and_fallback),
		cmocka_unit_test(test_heartbeat_and_session),
		cmocka_unit_test(test_upgrade_interval),
		cmocka_unit_test(test_better),
		cmocka_unit_test(test_call_me_maybe),
		cmocka_unit_test(test_sent_overflow),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
