/* privd's host network model: the rules each mode yields, the nft text,
 * the state file round trip, and the NetState check. */
#include <errno.h>
#include <linux/fib_rules.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "netreq.h"
#include "netstate.h"
#include "nft.h"
#include "statefile.h"
#include "netstate.pb-c.h"

static struct intent in;
static struct netstate st;
static const struct ns_opts opts = { .ifname = "pm0",
    .table = PM_TABLE, .mtu = 1280 };

static struct prefix
P(const char *s)
{
	struct prefix p;

	assert_int_equal(prefix_parse(s, true, &p), 0);
	return p;
}

static void
reset(void)
{
	memset(&in, 0, sizeof(in));
}

static int
count_prio(uint8_t family, uint32_t prio)
{
	int n = 0;

	for (size_t i = 0; i < st.nrules; i++)
		if (st.rules[i].family == family && st.rules[i].priority == prio)
			n++;
	return n;
}

static void
test_split_tunnel_v4_only(void **state)
{
	(void)state;
	reset();
	in.routes[in.nroutes++] = P("10.9.0.2/32");
	in.routes[in.nroutes++] = P("10.9.0.2/32");	/* duplicates merge */
	netstate_build(&opts, &in, &st);
	assert_int_equal(st.nroutes, 1);
	assert_int_equal(st.routes[0].table, PM_TABLE);
	assert_int_equal(st.nrules, 4);		/* 5210 5230 5250 5270, v4 */
	assert_int_equal(count_prio(AF_INET6, PM_PRIO_TABLE), 0);
	assert_int_equal(st.rules[2].type, FR_ACT_UNREACHABLE);
	assert_int_equal(st.rules[3].priority, PM_PRIO_TABLE);
	assert_int_equal(st.rules[3].table, PM_TABLE);
	assert_false(st.nft.on);
	assert_false(st.sysctl[NS_SYSCTL_IP_FORWARD]);
	assert_int_equal(st.mtu, 1280);
}

static void
test_exclude_and_allow_lan(void **state)
{
	struct prefix ex = P("2001:db8::/32");
	struct ns_opts o = opts;

	(void)state;
	reset();
	in.routes[in.nroutes++] = P("0.0.0.0/0");
	in.routes[in.nroutes++] = P("::/0");
	in.exclude[in.nexclude++] = P("203.0.113.0/24");
	o.exclude = &ex;
	o.nexclude = 1;
	o.allow_lan = true;
	netstate_build(&o, &in, &st);
	assert_int_equal(count_prio(AF_INET, PM_PRIO_EXCLUDE), 1);
	assert_int_equal(count_prio(AF_INET6, PM_PRIO_EXCLUDE), 1);
	assert_int_equal(count_prio(AF_INET, PM_PRIO_LAN_TAILNET), 1);
	assert_int_equal(count_prio(AF_INET6, PM_PRIO_LAN_MAIN), 1);
	assert_int_equal(st.nrules, 2 * 7);
	for (size_t i = 0; i < st.nrules; i++)
		if (st.rules[i].priority == PM_PRIO_EXCLUDE) {
			assert_true(st.rules[i].has_dst);
			assert_int_equal(st.rules[i].table, 254);
		}
}

static void
test_roles_switch_on_forwarding_and_nft(void **state)
{
	char buf[2048];

	(void)state;
	reset();
	in.advertise[in.nadvertise++] = P("10.77.0.0/24");
	netstate_build(&opts, &in, &st);
	assert_true(st.nft.on);
	assert_string_equal(st.nft.ifname, "pm0");
	assert_true(st.sysctl[NS_SYSCTL_IP_FORWARD]);
	assert_true(st.sysctl[NS_SYSCTL_IP6_FORWARDING]);
	assert_int_equal(st.nrules, 0);		/* no routes, no rules */
	assert_int_equal(pmnft_render(&st.nft, buf, sizeof(buf)), 0);
	assert_non_null(strstr(buf, "add table inet privmesh\n"
	    "delete table inet privmesh\ntable inet privmesh {"));
	assert_non_null(strstr(buf, "iifname \"pm0\" meta mark set"));
	assert_non_null(strstr(buf, "ip saddr 100.64.0.0/10 counter drop"));
	assert_non_null(strstr(buf, "masquerade"));
	st.nft.on = false;
	assert_int_equal(pmnft_render(&st.nft, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "add table inet privmesh\n"
	    "delete table inet privmesh\n");
}

static void
test_statefile_round_trip(void **state)
{
	char path[] = "/tmp/pm-statefile-XXXXXX";
	struct saved_state ss;
	int fd;

	(void)state;
	assert_true((fd = mkstemp(path)) >= 0);
	close(fd);
	memset(&st, 0, sizeof(st));
	st.nft.on = true;
	st.sysctl[NS_SYSCTL_IP6_FORWARDING] = true;
	st.saved[NS_SYSCTL_IP6_FORWARDING] = 0;
	st.sysctl[NS_SYSCTL_IP_FORWARD] = true;
	st.saved[NS_SYSCTL_IP_FORWARD] = 1;
	assert_int_equal(statefile_write(path, "pm0", 52, &st), 0);
	assert_int_equal(statefile_read(path, &ss), 0);
	assert_int_equal(ss.table, 52);
	assert_true(ss.nft);
	assert_true(ss.sysctl[NS_SYSCTL_IP_FORWARD]);
	assert_int_equal(ss.original[NS_SYSCTL_IP_FORWARD], 1);
	assert_true(ss.sysctl[NS_SYSCTL_IP6_FORWARDING]);
	assert_int_equal(ss.original[NS_SYSCTL_IP6_FORWARDING], 0);
	unlink(path);
	assert_int_equal(statefile_read(path, &ss), -ENOENT);
	assert_int_equal(statefile_parse((const uint8_t *)"\xff\xff", 2, &ss),
	    -EINVAL);
}

static int
parse(Pm__NetState *ns, char *err)
{
	struct netreq_own own = { "pm0", PM_TABLE };

	return netreq_parse(ns, &own, &in, err, 200);
}

static void
test_netreq_invariants(void **state)
{
	Pm__NetState ns = PM__NET_STATE__INIT;
	Pm__NetRoute r = PM__NET_ROUTE__INIT, *rp = &r;
	char *addr[] = { "100.64.0.5/32" }, err[200];

	(void)state;
	ns.addresses = addr;
	ns.n_addresses = 1;
	ns.routes = &rp;
	ns.n_routes = 1;
	r.prefix = "0.0.0.0/0";
	assert_int_equal(parse(&ns, err), 0);
	assert_int_equal(in.nroutes, 1);
	ns.interface = "eth0";
	assert_int_equal(parse(&ns, err), -EINVAL);
	assert_string_equal(err, "foreign interface");
	ns.interface = "pm0";
	r.table = 254;
	assert_int_equal(parse(&ns, err), -EINVAL);
	assert_string_equal(err, "route 0: foreign table 254");
	r.table = PM_TABLE;
	r.prefix = "10.0.0.1/8";
	assert_int_equal(parse(&ns, err), -EINVAL);
	assert_string_equal(err, "route 0: malformed prefix");
	r.prefix = "10.0.0.0/8";
	addr[0] = "fd7a:115c:a1e0::/48";
	assert_int_equal(parse(&ns, err), -EINVAL);
	assert_string_equal(err, "addresses 0: not a /32 or /128");
	addr[0] = "fd7a:115c:a1e0::5/128";
	ns.rule_priority = 5210;
	assert_int_equal(parse(&ns, err), -EINVAL);
	ns.rule_priority = PM_PRIO_BASE;
	ns.nft_table = "privmesh";
	assert_int_equal(parse(&ns, err), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_split_tunnel_v4_only),
		cmocka_unit_test(test_exclude_and_allow_lan),
		cmocka_unit_test(test_roles_switch_on_forwarding_and_nft),
		cmocka_unit_test(test_statefile_round_trip),
		cmocka_unit_test(test_netreq_invariants),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
