/* The DNS channels' allow-lists and checks: netd and dnsd only ever talk
 * about the quad-100 addresses, in bounded batches. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <cmocka.h>

#include "ipc.h"
#include "check.h"
#include "dnsd_to_netd.pb-c.h"
#include "dnsd_to_privd.pb-c.h"
#include "netd_to_dnsd.pb-c.h"

static const uint8_t q4[4] = { 100, 100, 100, 100 };
static const uint8_t client4[4] = { 100, 64, 0, 1 };
static uint8_t msg[12] = { 0x12, 0x34 };

static size_t
replies(uint8_t *buf, const uint8_t *server, size_t slen, uint32_t port,
    size_t n)
{
	Pm__DnsdToNetd env = PM__DNSD_TO_NETD__INIT;
	Pm__DnsPackets ps = PM__DNS_PACKETS__INIT;
	Pm__DnsPacket p = PM__DNS_PACKET__INIT;
	Pm__DnsPacket **pp = calloc(n, sizeof(*pp));
	size_t len;

	p.client.data = (uint8_t *)client4;
	p.client.len = 4;
	p.server.data = (uint8_t *)server;
	p.server.len = slen;
	p.client_port = port;
	p.msg.data = msg;
	p.msg.len = sizeof(msg);
	for (size_t i = 0; i < n; i++)
		pp[i] = &p;
	ps.n_packets = n;
	ps.packets = pp;
	env.msg_case = PM__DNSD_TO_NETD__MSG_REPLIES;
	env.replies = &ps;
	len = pm__dnsd_to_netd__pack(&env, buf);
	free(pp);
	return len;
}

static void
test_dns_replies_checked(void **state)
{
	static uint8_t buf[65536];
	const struct ipc_policy *pol = ipc_policy(PM__PROC__PROC_DNSD,
	    PM__PROC__PROC_NETD);
	const uint8_t other[4] = { 192, 0, 2, 1 };
	struct ipc_msg m;
	enum ipc_drop why;
	size_t n;

	(void)state;
	n = replies(buf, q4, 4, 5353, 3);
	assert_int_equal(ipc_decode(pol, buf, n, false, IPC_PHASE_RUN, 0, &m,
	    &why), 0);
	ipc_msg_free(&m);
	/* a reply from anywhere but quad-100 would let dnsd forge packets */
	n = replies(buf, other, 4, 5353, 1);
	assert_int_equal(ipc_decode(pol, buf, n, false, IPC_PHASE_RUN, 0, &m,
	    &why), -EBADMSG);
	assert_int_equal(why, IPC_DROP_INVALID);
	/* family mismatch, port 0, batch too large */
	n = replies(buf, q4, 3, 5353, 1);
	assert_int_equal(ipc_decode(pol, buf, n, false, IPC_PHASE_RUN, 0, &m,
	    &why), -EBADMSG);
	n = replies(buf, q4, 4, 0, 1);
	assert_int_equal(ipc_decode(pol, buf, n, false, IPC_PHASE_RUN, 0, &m,
	    &why), -EBADMSG);
	n = replies(buf, q4, 4, 53, 257);
	assert_int_equal(ipc_decode(pol, buf, n, false, IPC_PHASE_RUN, 0, &m,
	    &why), -EBADMSG);
	assert_int_equal(why, IPC_DROP_INVALID);
}

static void
test_dns_queries_channel(void **state)
{
	const struct ipc_policy *pol = ipc_policy(PM__PROC__PROC_NETD,
	    PM__PROC__PROC_DNSD);

	(void)state;
	assert_non_null(pol);
	assert_int_equal(pol->max_size, 65536);
	assert_int_equal(pol->nkinds, 1);
}

static int
os_dns_full(const char **names, size_t n, const char **match, size_t nmatch)
{
	static uint8_t buf[65536];
	const struct ipc_policy *pol = ipc_policy(PM__PROC__PROC_DNSD,
	    PM__PROC__PROC_PRIVD);
	Pm__DnsdToPrivd env = PM__DNSD_TO_PRIVD__INIT;
	Pm__OsDns o = PM__OS_DNS__INIT;
	struct ipc_msg m;
	enum ipc_drop why;
	size_t len;
	int r;

	o.search_domains = (char **)names;
	o.n_search_domains = n;
	o.match_domains = (char **)match;
	o.n_match_domains = nmatch;
	o.default_route = nmatch == 0;
	env.msg_case = PM__DNSD_TO_PRIVD__MSG_OS_DNS;
	env.os_dns = &o;
	len = pm__dnsd_to_privd__pack(&env, buf);
	if ((r = ipc_decode(pol, buf, len, false, IPC_PHASE_RUN, 0, &m,
	    &why)) == 0)
		ipc_msg_free(&m);
	else
		assert_int_equal(why, IPC_DROP_INVALID);
	return r;
}

static int
os_dns(const char **names, size_t n)
{
	return os_dns_full(names, n, NULL, 0);
}

/* systemd-resolved's routing domains: host names only, at most 256 (the
 * MagicDNS reverse zones alone are 65). */
static void
test_os_dns_match_domains(void **state)
{
	static const char *search[] = { "tail.example" };
	static const char *bad[] = { "ok.example", "a\nb" };
	const char *many[257];

	(void)state;
	for (size_t i = 0; i < 257; i++)
		many[i] = "127.100.in-addr.arpa";
	assert_int_equal(os_dns_full(search, 1, many, 256), 0);
	assert_int_equal(os_dns_full(search, 1, many, 257), -EBADMSG);
	assert_int_equal(os_dns_full(search, 1, bad, 1), 0);
	assert_int_equal(os_dns_full(search, 1, bad, 2), -EBADMSG);
	assert_int_equal(os_dns_full(NULL, 0, bad + 1, 1), -EBADMSG);
}

/* privd writes these into resolv.conf: host names only, at most 16. */
static void
test_os_dns_search_domains(void **state)
{
	static const char *good[] = { "tail.example", "Tail.Example.",
	    "a-b.c_d.example", "x", "100.64.in-addr.arpa" };
	static const char *bad[] = { "", ".", "a..b", "-a.example",
	    "a-.example", "a b", "a\tb", "a\nnameserver 1.2.3.4", "#x", "a;b",
	    "a\\b", "a.example..", "\x80.example" };
	const char *many[17];
	char label[70], longname[300];

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		assert_true(dns_hostname_ok(good[i]));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_false(dns_hostname_ok(bad[i]));
	memset(label, 'a', 63);
	label[63] = '\0';
	assert_true(dns_hostname_ok(label));
	label[63] = 'a';
	label[64] = '\0';
	assert_false(dns_hostname_ok(label));
	/* 253 bytes is the limit, 254 is not */
	memset(longname, 'a', sizeof(longname));
	for (size_t i = 63; i < 253; i += 64)
		longname[i] = '.';
	longname[253] = '\0';
	assert_true(dns_hostname_ok(longname));
	longname[253] = 'a';
	longname[254] = '\0';
	assert_false(dns_hostname_ok(longname));

	assert_int_equal(os_dns(good, 5), 0);
	assert_int_equal(os_dns(NULL, 0), 0);
	assert_int_equal(os_dns(bad + 7, 1), -EBADMSG);
	for (size_t i = 0; i < 17; i++)
		many[i] = "tail.example";
	assert_int_equal(os_dns(many, 16), 0);
	assert_int_equal(os_dns(many, 17), -EBADMSG);
}

static int
sockets_req(uint32_t family, uint32_t count)
{
	uint8_t buf[64];
	const struct ipc_policy *pol = ipc_policy(PM__PROC__PROC_DNSD,
	    PM__PROC__PROC_PRIVD);
	Pm__DnsdToPrivd env = PM__DNSD_TO_PRIVD__INIT;
	Pm__UpstreamSocketsRequest rq = PM__UPSTREAM_SOCKETS_REQUEST__INIT;
	struct ipc_msg m;
	enum ipc_drop why;
	int r;

	rq.family = family;
	rq.count = count;
	env.msg_case = PM__DNSD_TO_PRIVD__MSG_UPSTREAM_SOCKETS;
	env.upstream_sockets = &rq;
	if ((r = ipc_decode(pol, buf, pm__dnsd_to_privd__pack(&env, buf), false,
	    IPC_PHASE_RUN, 0, &m, &why)) == 0)
		ipc_msg_free(&m);
	return r;
}

/* privd makes sockets on these: IPv4/IPv6 only, 1-8 per request. */
static void
test_upstream_sockets_request(void **state)
{
	(void)state;
	assert_int_equal(sockets_req(AF_INET, 1), 0);
	assert_int_equal(sockets_req(AF_INET6, 8), 0);
	assert_int_equal(sockets_req(AF_INET, 0), -EBADMSG);
	assert_int_equal(sockets_req(AF_INET, 9), -EBADMSG);
	assert_int_equal(sockets_req(AF_UNIX, 1), -EBADMSG);
	assert_int_equal(sockets_req(AF_NETLINK, 1), -EBADMSG);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dns_replies_checked),
		cmocka_unit_test(test_dns_queries_channel),
		cmocka_unit_test(test_os_dns_search_domains),
		cmocka_unit_test(test_os_dns_match_domains),
		cmocka_unit_test(test_upstream_sockets_request),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
