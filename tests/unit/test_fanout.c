/*
 * ctrld's fan-out choices: which of a peer's AllowedIPs this node takes
 * under --accept-routes and --exit-node (tailscale's wgcfg/nmcfg rules),
 * on peers parsed from a real MapResponse.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "fanout.h"
#include "netmap.h"
#include "prefs.h"

#define MAP "{\"Node\":{\"ID\":1,\"Key\":\"nodekey:" \
	"00000000000000000000000000000000000000000000000000000000000000aa\"," \
	"\"Name\":\"self.tailnet.test.\",\"Addresses\":[\"100.64.0.1/32\"]}," \
	"\"Peers\":[{\"ID\":2,\"Key\":\"nodekey:" \
	"00000000000000000000000000000000000000000000000000000000000000bb\"," \
	"\"Name\":\"gw.tailnet.test.\",\"Addresses\":[\"100.64.0.2/32\"," \
	"\"fd7a:115c:a1e0::2/128\"],\"AllowedIPs\":[\"100.64.0.2/32\"," \
	"\"fd7a:115c:a1e0::2/128\",\"10.1.0.0/16\",\"0.0.0.0/0\",\"::/0\"]," \
	"\"Hostinfo\":{\"Hostname\":\"gw\"}}]}"

static char *
joined(const struct prefs *p, const struct nm_node *n, char *buf, size_t len)
{
	char *out[16];
	size_t k = fanout_accepted(p, n, out, 16);

	buf[0] = '\0';
	for (size_t i = 0; i < k; i++) {
		strncat(buf, out[i], len - strlen(buf) - 1);
		strncat(buf, " ", len - strlen(buf) - 1);
	}
	return buf;
}

static void
test_accepted_prefixes(void **state)
{
	static const struct {
		bool		 routes;
		const char	*exit;
		const char	*want;
	} cases[] = {
		{ false, "", "100.64.0.2/32 fd7a:115c:a1e0::2/128 " },
		{ true, "", "100.64.0.2/32 fd7a:115c:a1e0::2/128 10.1.0.0/16 " },
		{ false, "100.64.0.2", "100.64.0.2/32 fd7a:115c:a1e0::2/128 "
		    "0.0.0.0/0 ::/0 " },
		{ false, "fd7a:115c:a1e0::2", "100.64.0.2/32 "
		    "fd7a:115c:a1e0::2/128 0.0.0.0/0 ::/0 " },
		{ true, "gw", "100.64.0.2/32 fd7a:115c:a1e0::2/128 10.1.0.0/16 "
		    "0.0.0.0/0 ::/0 " },
		{ false, "gw.tailnet.test", "100.64.0.2/32 "
		    "fd7a:115c:a1e0::2/128 0.0.0.0/0 ::/0 " },
		{ false, "g", "100.64.0.2/32 fd7a:115c:a1e0::2/128 " },
		{ false, "100.64.0.3", "100.64.0.2/32 fd7a:115c:a1e0::2/128 " },
	};
	struct netmap nm;
	struct prefs p;
	char err[256], buf[512];

	(void)state;
	netmap_init(&nm);
	assert_int_equal(netmap_apply(&nm, MAP, strlen(MAP), true, err,
	    sizeof(err)), NM_APPLIED);
	assert_int_equal(nm.npeers, 1);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		prefs_default(&p);
		p.accept_routes = cases[i].routes;
		snprintf(p.exit_node, sizeof(p.exit_node), "%s", cases[i].exit);
		assert_string_equal(joined(&p, &nm.peers[0], buf, sizeof(buf)),
		    cases[i].want);
		prefs_free(&p);
	}
	netmap_free(&nm);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_accepted_prefixes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
