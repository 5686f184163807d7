/*
 * The device's timer queue (netd/wg/timerq.c) and the draw of REKEY_TIMEOUT
 * jitter (netd/wg/timers.c).
 *
 *  - the heap against a plain array model under random operations: the
 *    first deadline, every peer's recorded position, and the drain order;
 *  - a device driven only through wg_timers_due()/wg_timers_schedule(), as
 *    netd's single timer drives it, fires each peer's persistent keepalive
 *    at exactly the times a per-peer timer would, in time order;
 *  - jitter stays in 0..333 ms, covers that range, and costs one call into
 *    libsodium's randombytes (a getrandom() system call) per many draws
 *    rather than one per data packet (counted through
 *    randombytes_set_implementation()).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "peer.h"

#define NS		UINT64_C(1000000000)
#define MS		UINT64_C(1000000)
#define T0		(UINT64_C(1000) * NS)

/* ---- Counting randombytes ----------------------------------------------- */

static unsigned long random_calls;

static const char *
counting_name(void)
{
	return "counting";
}

static uint32_t
counting_random(void)
{
	random_calls++;
	return randombytes_sysrandom_implementation.random();
}

static void
counting_stir(void)
{
	randombytes_sysrandom_implementation.stir();
}

static void
counting_buf(void *const buf, const size_t size)
{
	random_calls++;
	randombytes_sysrandom_implementation.buf(buf, size);
}

static int
counting_close(void)
{
	return randombytes_sysrandom_implementation.close();
}

static struct randombytes_implementation counting = {
	.implementation_name = counting_name,
	.random = counting_random,
	.stir = counting_stir,
	.uniform = NULL,	/* libsodium's own, over .random */
	.buf = counting_buf,
	.close = counting_close,
};

/* ---- Helpers ------------------------------------------------------------- */

#define NPEERS	200

static struct wg_device *
device_with_peers(struct wg_peer **peers, size_t n)
{
	struct wg_device *dev = calloc(1, sizeof(*dev));
	uint8_t priv[WG_KEY_LEN], pub[WG_KEY_LEN];

	assert_non_null(dev);
	randombytes_buf(priv, sizeof(priv));
	assert_int_equal(wg_device_init(dev, priv), 0);
	for (size_t i = 0; i < n; i++) {
		randombytes_buf(priv, sizeof(priv));
		assert_int_equal(crypto_scalarmult_base(pub, priv), 0);
		assert_int_equal(wg_peer_add(dev, pub, NULL, &peers[i]), 0);
	}
	assert_true(dev->timerq.cap >= n);
	return dev;
}

static void
device_free(struct wg_device *dev)
{
	wg_device_destroy(dev);
	free(dev);
}

/* Every queued peer sits where it thinks, and no parent is later. */
static void
check_heap(const struct wg_timerq *q)
{
	for (uint32_t i = 0; i < q->len; i++) {
		assert_int_equal(q->slot[i].peer->timers.queue_pos, i);
		if (i > 0)
			assert_true(q->slot[(i - 1) / 2].deadline <=
			    q->slot[i].deadline);
	}
}

/* ---- Tests --------------------------------------------------------------- */

static void
test_heap_model(void **state)
{
	struct wg_peer *peers[NPEERS];
	uint64_t model[NPEERS];
	struct wg_device *dev = device_with_peers(peers, NPEERS);
	struct wg_timerq *q = &dev->timerq;
	uint64_t last;

	(void)state;
	for (size_t i = 0; i < NPEERS; i++) {
		model[i] = WG_TIMER_OFF;
		assert_int_equal(peers[i]->timers.queue_pos, WG_TIMERQ_NONE);
	}
	assert_int_equal(wg_timerq_first(q), WG_TIMER_OFF);
	for (unsigned op = 0; op < 20000; op++) {
		size_t i = randombytes_uniform(NPEERS), armed = 0;
		/* Few distinct values, so equal deadlines are common. */
		uint64_t d = randombytes_uniform(4) == 0 ? WG_TIMER_OFF :
		    T0 + randombytes_uniform(64) * MS;
		uint64_t min = WG_TIMER_OFF;

		wg_timerq_set(q, peers[i], d);
		model[i] = d;
		for (size_t j = 0; j < NPEERS; j++) {
			if (model[j] != WG_TIMER_OFF)
				armed++;
			if (model[j] < min)
				min = model[j];
		}
		assert_int_equal(q->len, armed);
		assert_int_equal(wg_timerq_first(q), min);
		assert_true((model[i] == WG_TIMER_OFF) ==
		    (peers[i]->timers.queue_pos == WG_TIMERQ_NONE));
		if (op % 97 == 0)
			check_heap(q);
	}
	check_heap(q);
	/* Drained in deadline order, each exactly once. */
	last = 0;
	for (struct wg_peer *p; (p = wg_timerq_due(q, UINT64_MAX - 1)) != NULL;) {
		size_t i;

		for (i = 0; i < NPEERS && peers[i] != p; i++)
			;
		assert_true(i < NPEERS);
		assert_int_equal(q->slot[0].deadline, model[i]);
		assert_true(model[i] >= last);
		last = model[i];
		model[i] = WG_TIMER_OFF;
		wg_timerq_set(q, p, WG_TIMER_OFF);
	}
	for (size_t i = 0; i < NPEERS; i++)
		assert_int_equal(model[i], WG_TIMER_OFF);
	assert_int_equal(q->len, 0);
	device_free(dev);
}

static void
test_due_and_remove(void **state)
{
	struct wg_peer *peers[3];
	struct wg_device *dev = device_with_peers(peers, 3);

	(void)state;
	wg_timerq_set(&dev->timerq, peers[0], T0 + 3 * NS);
	wg_timerq_set(&dev->timerq, peers[1], T0 + 1 * NS);
	wg_timerq_set(&dev->timerq, peers[2], T0 + 2 * NS);
	assert_null(wg_timers_due(dev, T0 + NS - 1));
	assert_ptr_equal(wg_timers_due(dev, T0 + NS), peers[1]);
	assert_int_equal(wg_timers_first_deadline(dev), T0 + NS);
	/* A removed peer leaves the queue. */
	wg_peer_remove(peers[1]);
	assert_int_equal(dev->timerq.len, 2);
	assert_ptr_equal(wg_timers_due(dev, T0 + 5 * NS), peers[2]);
	check_heap(&dev->timerq);
	/* Moving a peer later and earlier re-sorts it. */
	wg_timerq_set(&dev->timerq, peers[2], T0 + 9 * NS);
	assert_ptr_equal(wg_timers_due(dev, T0 + 5 * NS), peers[0]);
	wg_timerq_set(&dev->timerq, peers[2], T0);
	assert_ptr_equal(wg_timers_due(dev, T0), peers[2]);
	device_free(dev);
}

struct fired {
	uint64_t	 at;
	struct wg_peer	*who;
};

/*
 * Persistent keepalives at random intervals, driven through the queue the
 * way netd's one timer does: sleep to the first deadline, poll every due
 * peer, and carry out the keepalive (here: only its timer hooks).
 */
static void
test_device_drive(void **state)
{
	struct wg_peer *peers[NPEERS];
	struct wg_device *dev = device_with_peers(peers, NPEERS);
	uint16_t interval[NPEERS];
	struct fired *f;
	const uint64_t until = T0 + 600 * NS;
	uint64_t now = T0, d;
	size_t want = 0, n = 0;

	(void)state;
	for (size_t i = 0; i < NPEERS; i++) {
		interval[i] = (uint16_t)(1 + randombytes_uniform(120));
		wg_timers_set_persistent_keepalive(peers[i], interval[i], T0);
		wg_timers_schedule(peers[i]);
		/* First at T0, then every interval: 600 s covers them. */
		want += 1 + 600 / interval[i];
	}
	assert_non_null(f = calloc(want, sizeof(*f)));
	while ((d = wg_timers_first_deadline(dev)) <= until) {
		struct wg_peer *p;

		assert_true(d >= now);
		now = d;
		while ((p = wg_timers_due(dev, now)) != NULL) {
			unsigned act = wg_timers_poll(p, now);

			assert_int_equal(act, WG_ACTION_SEND_KEEPALIVE);
			assert_true(n < want);
			f[n].at = now;
			f[n++].who = p;
			wg_timers_any_authenticated_packet_traversal(p, now);
			wg_timers_any_authenticated_packet_sent(p);
			wg_timers_schedule(p);
		}
	}
	assert_int_equal(n, want);
	/* Each peer fired exactly on its own schedule. */
	for (size_t i = 0; i < NPEERS; i++) {
		uint64_t next = T0;

		for (size_t k = 0; k < n; k++) {
			if (f[k].who != peers[i])
				continue;
			assert_int_equal(f[k].at, next);
			next += interval[i] * NS;
		}
		assert_true(next > until);
	}
	free(f);
	device_free(dev);
}

static void
test_jitter_pool(void **state)
{
	struct wg_peer *peers[1];
	struct wg_device *dev = device_with_peers(peers, 1);
	const unsigned draws = 10000;
	uint64_t lo = UINT64_MAX, hi = 0;

	(void)state;
	random_calls = 0;
	for (unsigned i = 0; i < draws; i++) {
		uint64_t j;

		peers[0]->timers.new_handshake = WG_TIMER_OFF;
		wg_timers_data_sent(peers[0], T0);
		j = peers[0]->timers.new_handshake - T0 -
		    (WG_KEEPALIVE_TIMEOUT + WG_REKEY_TIMEOUT) * NS;
		assert_true(j <= WG_REKEY_TIMEOUT_JITTER_MAX_MS * MS);
		assert_int_equal(j % MS, 0);
		if (j < lo)
			lo = j;
		if (j > hi)
			hi = j;
	}
	/* Uniform over 334 values: both ends show up in 10000 draws. */
	assert_true(lo < 20 * MS);
	assert_true(hi > 313 * MS);
	/* One getrandom() per 128 draws (a few more for rejected values),
	 * not one per packet. */
	assert_true(random_calls >= 1);
	assert_true(random_calls <= draws / 100);
	device_free(dev);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_heap_model),
		cmocka_unit_test(test_due_and_remove),
		cmocka_unit_test(test_device_drive),
		cmocka_unit_test(test_jitter_pool),
	};

	/* Before sodium_init(), as libsodium asks. */
	if (randombytes_set_implementation(&counting) != 0 || sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
