/*
 * netcheck's HTTPS latency check (netd/derp_probe.c): the request as Go's
 * http.Client writes it for GET https://<host>/derp/latency-check, and
 * the status line of the answer, cut anywhere.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "derp_probe.h"

static void
test_request(void **state)
{
	char out[256], small[40];
	int n;

	(void)state;
	n = derp_probe_request(out, sizeof(out), "derp.test");
	assert_int_equal(n, (int)strlen(out));
	assert_string_equal(out, "GET /derp/latency-check HTTP/1.1\r\n"
	    "Host: derp.test\r\nUser-Agent: Go-http-client/1.1\r\n"
	    "Accept-Encoding: gzip\r\n\r\n");
	assert_int_equal(derp_probe_request(small, sizeof(small),
	    "derp.test"), -1);
}

static ssize_t
status(const char *s, int *code)
{
	*code = -1;
	return derp_probe_status((const uint8_t *)s, strlen(s), code);
}

static void
test_status(void **state)
{
	const char *ok = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
	char big[300];
	int code;

	(void)state;
	assert_int_equal(status(ok, &code), 17);
	assert_int_equal(code, 200);
	/* Every prefix short of the line's end: not yet. */
	for (size_t n = 0; n < 17; n++) {
		code = -1;
		assert_int_equal(derp_probe_status((const uint8_t *)ok, n,
		    &code), 0);
		assert_int_equal(code, -1);
	}
	assert_int_equal(status("HTTP/1.0 403\r\n", &code), 14);
	assert_int_equal(code, 403);
	assert_int_equal(status("HTTP/1.1 503 Busy\r\n", &code), 19);
	assert_int_equal(code, 503);
	assert_int_equal(status("HTTP/2 200 OK\r\n", &code), -1);
	assert_int_equal(status("HTTP/1.1 20x OK\r\n", &code), -1);
	assert_int_equal(status("HTTP/1.1 099 X\r\n", &code), -1);
	assert_int_equal(status("HTTP/1.1 2000 OK\r\n", &code), -1);
	assert_int_equal(status("HTTP/1.1 200 OK\n", &code), -1);
	assert_int_equal(status("\x16\x03\x01\x02hello\r\n", &code), -1);
	/* No line end within the limit. */
	memset(big, 'a', sizeof(big));
	assert_int_equal(derp_probe_status((const uint8_t *)big, sizeof(big),
	    &code), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_request),
		cmocka_unit_test(test_status),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
