/* The local API's request parser and its operator check. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "api.h"

static int
parse(const char *s, struct api_request *req, char *err)
{
	return api_parse_request(s, strlen(s), req, err, 128);
}

static void
test_parse(void **state)
{
	struct api_request req;
	char err[128];

	(void)state;
	assert_int_equal(parse("{\"op\":\"status\"}", &req, err), 0);
	assert_int_equal(req.op, API_OP_STATUS);
	assert_false(api_op_writes(req.op));
	/* The control ops: reading the backend is free, changing it is not. */
	assert_int_equal(parse("{\"op\":\"backend\"}", &req, err), 0);
	assert_int_equal(req.op, API_OP_BACKEND);
	assert_false(api_op_writes(req.op));
	assert_int_equal(parse("{\"op\":\"up\",\"prefs\":{},\"auth_key\":\"k\"}",
	    &req, err), 0);
	assert_int_equal(req.op, API_OP_UP);
	assert_true(api_op_writes(req.op));
	assert_int_equal(parse("{\"op\":\"down\"}", &req, err), 0);
	assert_true(api_op_writes(req.op));
	assert_int_equal(parse("{\"op\":\"logout\"}", &req, err), 0);
	assert_true(api_op_writes(req.op));
	assert_int_equal(parse("{\"op\":\"set\",\"prefs\":{}}", &req, err), 0);
	assert_true(api_op_writes(req.op));
	assert_int_equal(parse("{\"op\":\"reboot\"}", &req, err), -EINVAL);
	assert_string_equal(err, "unknown op");
	assert_int_equal(parse("{\"op\":1}", &req, err), -EINVAL);
	assert_int_equal(parse("[\"op\"]", &req, err), -EINVAL);
	assert_int_equal(parse("{\"op\":\"status\",\"op\":\"status\"}", &req,
	    err), -EINVAL);
	assert_int_equal(parse("{\"op\":\"sta", &req, err), -EINVAL);
	assert_string_equal(err, "request is not valid JSON");
}

static void
test_operator(void **state)
{
	struct api_peer root = { .uid = 0, .gid = 0 };
	struct api_peer user = { .uid = 1000, .gid = 1000,
	    .groups = { 27, 995 }, .ngroups = 2 };
	struct api_peer other = { .uid = 1001, .gid = 1001 };

	(void)state;
	assert_true(api_peer_is_operator(&root, false, 0));
	assert_true(api_peer_is_operator(&user, true, 995));
	assert_false(api_peer_is_operator(&user, false, 995));
	assert_false(api_peer_is_operator(&other, true, 995));
	other.gid = 995;
	assert_true(api_peer_is_operator(&other, true, 995));
}

/* `ping`: anyone may ask; a node and an optional timeout in range. */
static int
ping(const char *s, char *node, long *ms, char *err)
{
	return api_parse_ping(s, strlen(s), node, 64, ms, err, 128);
}

static void
test_ping(void **state)
{
	struct api_request req;
	char node[64], err[128];
	long ms = 0;

	(void)state;
	assert_int_equal(parse("{\"op\":\"ping\",\"node\":\"b\"}", &req,
	    err), 0);
	assert_int_equal(req.op, API_OP_PING);
	assert_false(api_op_writes(req.op));
	assert_int_equal(ping("{\"op\":\"ping\",\"node\":\"100.64.0.2\"}",
	    node, &ms, err), 0);
	assert_string_equal(node, "100.64.0.2");
	assert_int_equal(ms, API_PING_DEFAULT_MS);
	assert_int_equal(ping("{\"node\":\"b\",\"timeout_ms\":60000}", node,
	    &ms, err), 0);
	assert_int_equal(ms, 60000);
	assert_int_equal(ping("{\"node\":\"b\",\"timeout_ms\":60001}", node,
	    &ms, err), -EINVAL);
	assert_int_equal(ping("{\"node\":\"b\",\"timeout_ms\":0}", node,
	    &ms, err), -EINVAL);
	assert_int_equal(ping("{\"node\":\"b\",\"timeout_ms\":\"5s\"}",
	    node, &ms, err), -EINVAL);
	assert_int_equal(ping("{\"node\":\"\"}", node, &ms, err), -EINVAL);
	assert_int_equal(ping("{\"node\":7}", node, &ms, err), -EINVAL);
	/* Longer than the caller's buffer: refused, not cut. */
	assert_int_equal(ping("{\"node\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}", node, &ms, err), -EINVAL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_operator),
		cmocka_unit_test(test_ping),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
