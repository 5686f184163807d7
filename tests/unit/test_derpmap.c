/*
 * netd's DERP map (netd/derpmap.c): DerpMapUpdate transactions commit at
 * once on the last part, an unfinished generation is dropped, nodes with
 * bad addresses are skipped and counted, "none" and port defaults follow
 * tailcfg.DERPNode.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <arpa/inet.h>
#include <cmocka.h>

#include "derpmap.h"
#include "ctrld_to_netd.pb-c.h"

static Pm__DerpNode nodes[8];
static Pm__DerpNode *np[8];
static Pm__DerpRegion regs[4];
static Pm__DerpRegion *rp[4];

static void
mk_node(int i, const char *host, const char *v4, const char *v6, uint32_t port,
    int32_t stun)
{
	pm__derp_node__init(&nodes[i]);
	nodes[i].host_name = (char *)host;
	nodes[i].ipv4 = (char *)v4;
	nodes[i].ipv6 = (char *)v6;
	nodes[i].derp_port = port;
	nodes[i].stun_port = stun;
	np[i] = &nodes[i];
}

static void
mk_region(int i, uint32_t id, const char *code, int first, int n)
{
	pm__derp_region__init(&regs[i]);
	regs[i].region_id = id;
	regs[i].region_code = (char *)code;
	regs[i].nodes = &np[first];
	regs[i].n_nodes = (size_t)n;
	rp[i] = &regs[i];
}

static void
test_parts_commit_at_once(void **state)
{
	struct derpmap m = { 0 };
	Pm__DerpMapUpdate u = PM__DERP_MAP_UPDATE__INIT;
	const struct derp_region *r;

	(void)state;
	mk_node(0, "derp9.test", "192.0.2.9", "2001:db8::9", 0, 0);
	mk_node(1, "bad.test", "192.0.2.300", "", 443, -1);
	mk_node(2, "derp7.test", "none", "", 8443, -1);
	mk_region(0, 9, "nine", 0, 2);
	mk_region(1, 7, "seven", 2, 1);
	/* Region 9 alone, more to come: nothing in force yet. */
	u.generation = 1;
	u.more = true;
	u.home_region = 7;
	u.regions = &rp[0];
	u.n_regions = 1;
	assert_int_equal(derpmap_update(&m, &u), 0);
	assert_int_equal(m.nregions, 0);
	assert_null(derpmap_region(&m, 9));
	u.more = false;
	u.regions = &rp[1];
	assert_int_equal(derpmap_update(&m, &u), 1);
	assert_int_equal(m.nregions, 2);
	assert_int_equal(m.home, 7);
	assert_int_equal(m.regions[0].id, 7);	/* sorted */
	r = derpmap_region(&m, 9);
	assert_non_null(r);
	assert_string_equal(r->code, "nine");
	assert_int_equal(r->nnodes, 1);		/* the bad address skipped */
	assert_int_equal(m.bad_nodes, 1);
	assert_string_equal(r->nodes[0].host, "derp9.test");
	assert_true(r->nodes[0].has_v4 && r->nodes[0].has_v6);
	assert_int_equal(r->nodes[0].derp_port, 443);
	assert_int_equal(r->nodes[0].stun_port, 3478);
	r = derpmap_region(&m, 7);
	assert_true(r->nodes[0].no_v4 && !r->nodes[0].has_v4);
	assert_int_equal(r->nodes[0].derp_port, 8443);
	assert_int_equal(r->nodes[0].stun_port, -1);
	assert_null(derpmap_region(&m, 8));

	/* Generation 2 left unfinished, generation 3 replaces everything. */
	u.generation = 2;
	u.more = true;
	u.regions = &rp[0];
	assert_int_equal(derpmap_update(&m, &u), 0);
	u.generation = 3;
	u.more = false;
	u.home_region = 9;
	assert_int_equal(derpmap_update(&m, &u), 1);
	assert_int_equal(m.dropped_parts, 1);
	assert_int_equal(m.nregions, 1);
	assert_int_equal(m.home, 9);
	assert_null(derpmap_region(&m, 7));

	/* The same region twice in one map: one entry, the last. */
	mk_region(2, 9, "again", 2, 1);
	rp[1] = &regs[2];
	u.generation = 4;
	u.regions = &rp[0];
	u.n_regions = 2;
	assert_int_equal(derpmap_update(&m, &u), 1);
	assert_int_equal(m.nregions, 1);
	assert_string_equal(derpmap_region(&m, 9)->code, "again");

	/* Parts without end past DERPMAP_MAX_REGIONS: dropped, the map
	 * stays. */
	u.generation = 6;
	u.more = true;
	u.n_regions = 1;
	for (int i = 0; i < DERPMAP_MAX_REGIONS; i++)
		assert_int_equal(derpmap_update(&m, &u), 0);
	assert_int_equal(derpmap_update(&m, &u), -1);
	assert_int_equal(m.dropped_parts, 2);
	assert_false(m.open);
	assert_int_equal(m.nregions, 1);
	u.more = false;

	/* An empty map (ctrld logged out): no regions, no home. */
	u.generation = 5;
	u.home_region = 0;
	u.n_regions = 0;
	assert_int_equal(derpmap_update(&m, &u), 1);
	assert_int_equal(m.nregions, 0);
	assert_null(derpmap_region(&m, 9));
	derpmap_free(&m);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parts_commit_at_once),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
