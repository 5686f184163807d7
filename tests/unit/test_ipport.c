/* struct ipport: wire form, sockaddr conversion and log strings. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "ipport.h"

static void
test_v4(void **state)
{
	struct ipport a, b;
	struct sockaddr_storage ss;
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
	uint8_t w[IPPORT_WIRE_LEN];
	char buf[IPPORT_STRLEN];

	(void)state;
	ipport_set_v4(&a, (const uint8_t[]){ 203, 0, 113, 9 }, 41641);
	assert_true(ipport_is_v4(&a));
	ipport_put(w, &a);
	assert_memory_equal(w, "\0\0\0\0\0\0\0\0\0\0\xff\xff\xcb\x00\x71\x09"
	    "\xa2\xa9", sizeof(w));
	ipport_get(&b, w);
	assert_memory_equal(&a, &b, sizeof(a));
	assert_int_equal(ipport_to_sockaddr(&a, &ss), sizeof(*sin));
	assert_int_equal(sin->sin_family, AF_INET);
	assert_int_equal(ntohs(sin->sin_port), 41641);
	assert_int_equal(ntohl(sin->sin_addr.s_addr), 0xcb007109);
	memset(&b, 0, sizeof(b));
	assert_int_equal(ipport_from_sockaddr(&b, (struct sockaddr *)&ss,
	    sizeof(*sin)), 0);
	assert_memory_equal(&a, &b, sizeof(a));
	assert_string_equal(ipport_str(&a, buf), "203.0.113.9:41641");
	/* A short sockaddr is refused. */
	assert_int_equal(ipport_from_sockaddr(&b, (struct sockaddr *)&ss,
	    sizeof(*sin) - 1), -1);
}

static void
test_v6(void **state)
{
	struct ipport a, b;
	struct sockaddr_storage ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
	char buf[IPPORT_STRLEN];
	uint8_t ip[16];

	(void)state;
	inet_pton(AF_INET6, "2001:db8::1", ip);
	ipport_set_v6(&a, ip, 3478);
	assert_false(ipport_is_v4(&a));
	assert_int_equal(ipport_to_sockaddr(&a, &ss), sizeof(*sin6));
	assert_int_equal(sin6->sin6_family, AF_INET6);
	assert_int_equal(ntohs(sin6->sin6_port), 3478);
	assert_memory_equal(&sin6->sin6_addr, ip, 16);
	assert_int_equal(ipport_from_sockaddr(&b, (struct sockaddr *)&ss,
	    sizeof(*sin6)), 0);
	assert_memory_equal(&a, &b, sizeof(a));
	assert_string_equal(ipport_str(&a, buf), "[2001:db8::1]:3478");
	/* The longest form fits. */
	memset(ip, 0xff, 16);
	ipport_set_v6(&a, ip, 65535);
	assert_string_equal(ipport_str(&a, buf),
	    "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535");
	/* A v4-mapped IPv6 sockaddr becomes the IPv4 address. */
	inet_pton(AF_INET6, "::ffff:192.0.2.7", &sin6->sin6_addr);
	assert_int_equal(ipport_from_sockaddr(&b, (struct sockaddr *)&ss,
	    sizeof(*sin6)), 0);
	assert_true(ipport_is_v4(&b));
	assert_string_equal(ipport_str(&b, buf), "192.0.2.7:3478");
	ss.ss_family = AF_UNIX;
	assert_int_equal(ipport_from_sockaddr(&b, (struct sockaddr *)&ss,
	    sizeof(ss)), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_v4),
		cmocka_unit_test(test_v6),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
