/* privd's pure pieces: restart backoff and the config file parser. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "config.h"
#include "privd.h"

static void
test_backoff_doubles_and_caps(void **state)
{
	(void)state;
	assert_int_equal(backoff_ms(0), BACKOFF_BASE_MS);
	assert_int_equal(backoff_ms(1), BACKOFF_BASE_MS);
	assert_int_equal(backoff_ms(2), 2 * BACKOFF_BASE_MS);
	assert_int_equal(backoff_ms(4), 8 * BACKOFF_BASE_MS);
	assert_int_equal(backoff_ms(40), BACKOFF_MAX_MS);
	assert_int_equal(backoff_ms(UINT32_MAX), BACKOFF_MAX_MS);
}

struct kv {
	char	keys[8][32];
	char	vals[8][64];
	int	n;
};

static int
collect(const char *k, const char *v, void *arg)
{
	struct kv *kv = arg;

	if (strcmp(k, "bogus") == 0)
		return -ENOENT;
	if (strcmp(k, "mtu") == 0 && strcmp(v, "12") == 0)
		return -EINVAL;
	strcpy(kv->keys[kv->n], k);
	strcpy(kv->vals[kv->n], v);
	kv->n++;
	return 0;
}

static void
test_config_parses(void **state)
{
	const char text[] = "# privd\n\n  tun  pm1   # comment\n"
	    "state-dir /tmp/x\nsocket\t/run/p.sock\n";
	struct kv kv = { .n = 0 };
	char err[128];

	(void)state;
	assert_int_equal(config_parse(text, strlen(text), collect, &kv, err,
	    sizeof(err)), 0);
	assert_int_equal(kv.n, 3);
	assert_string_equal(kv.keys[0], "tun");
	assert_string_equal(kv.vals[0], "pm1");
	assert_string_equal(kv.vals[2], "/run/p.sock");
}

static void
test_config_errors_name_the_line(void **state)
{
	struct kv kv = { .n = 0 };
	char err[128];

	(void)state;
	assert_int_equal(config_parse("tun pm0\nbogus 1\n", 16, collect, &kv,
	    err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "line 2: unknown key 'bogus': not a privd "
	    "setting");
	assert_int_equal(config_parse("\n\nmtu 12\n", 9, collect, &kv, err,
	    sizeof(err)), -EINVAL);
	assert_string_equal(err, "line 3: bad value for 'mtu': 12");
	assert_int_equal(config_parse("tun\n", 4, collect, &kv, err,
	    sizeof(err)), -EINVAL);
	assert_string_equal(err, "line 1: 'tun' has no value");
	assert_int_equal(config_parse("tun a\0b\n", 8, collect, &kv, err,
	    sizeof(err)), -EINVAL);
	assert_string_equal(err, "line 1: NUL byte");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_backoff_doubles_and_caps),
		cmocka_unit_test(test_config_parses),
		cmocka_unit_test(test_config_errors_name_the_line),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
