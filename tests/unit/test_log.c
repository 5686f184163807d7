/* Rate limiting of peer-caused log lines. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "log.h"

static void
test_burst_then_suppress(void **state)
{
	struct ratelimit rl = RATELIMIT_INIT(1000, 3);
	unsigned missed;

	(void)state;
	for (int i = 0; i < 3; i++)
		assert_true(ratelimit_ok(&rl, 5000, &missed));
	assert_false(ratelimit_ok(&rl, 5100, &missed));
	assert_false(ratelimit_ok(&rl, 5900, &missed));
	/* A new window reports what was suppressed. */
	assert_true(ratelimit_ok(&rl, 6001, &missed));
	assert_int_equal(missed, 2);
	assert_true(ratelimit_ok(&rl, 6002, &missed));
	assert_int_equal(missed, 0);
}

static void
test_monotonic_clock(void **state)
{
	uint64_t a = now_ms(), b = now_ms();

	(void)state;
	assert_true(b >= a);
	assert_true(a > 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_burst_then_suppress),
		cmocka_unit_test(test_monotonic_clock),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
