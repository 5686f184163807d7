/*
 * ctrld's fan-out choices: which of a peer's AllowedIPs this node takes
 * under --accept-routes and --exit-node (tailscale's wgcfg/nmcfg rules),
 * on peers parsed from a real MapResponse.  And the per-peer delta path:
 * after every kind of delta, netd's peer set as rebuilt from the
 * PeerUpdates it received over a real channel equals the netmap's, and
 * privd and dnsd hear only of changes to what they take.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <cmocka.h>

#include "ctrld.h"
#include "ctrld_to_netd.pb-c.h"
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

static int
no_dispatch(struct ipc_chan *ch, struct ipc_msg *m, void *arg)
{
	(void)ch;
	(void)m;
	(void)arg;
	return 0;
}

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

/* ---- the delta path against netd's view ---- */

#define NPEERS	200
#define SIM_MAX	(NPEERS + 16)

struct sim_peer {
	uint8_t		 key[32];
	char		 eps[256];
	char		 allowed[256];
	uint32_t	 derp;
};

static struct sim_peer sim[SIM_MAX];
static size_t nsim;
static int sink[3];
static unsigned got[3];		/* datagrams: netd, privd, dnsd */

/* netd's DERP map as rebuilt from DerpMapUpdate parts. */
static struct {
	uint64_t	 gen;
	char		 open_ids[8192], ids[8192];	/* "id:code:nodes " */
	uint32_t	 home;
	unsigned	 parts, commits;
} dm;

static void
dm_apply(const Pm__DerpMapUpdate *u)
{
	size_t len;

	if (u->generation != dm.gen) {
		dm.gen = u->generation;
		dm.open_ids[0] = '\0';
	}
	dm.parts++;
	for (size_t i = 0; i < u->n_regions; i++) {
		len = strlen(dm.open_ids);
		snprintf(dm.open_ids + len, sizeof(dm.open_ids) - len,
		    "%u:%s:%zu ", u->regions[i]->region_id,
		    u->regions[i]->region_code, u->regions[i]->n_nodes);
	}
	if (!u->more) {
		memcpy(dm.ids, dm.open_ids, sizeof(dm.ids));
		dm.home = u->home_region;
		dm.commits++;
	}
}

static void
strv_join(char **v, size_t n, char *buf, size_t len)
{
	buf[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		strncat(buf, v[i], len - strlen(buf) - 1);
		strncat(buf, " ", len - strlen(buf) - 1);
	}
}

static struct sim_peer *
sim_find(const uint8_t *key)
{
	for (size_t i = 0; i < nsim; i++)
		if (memcmp(sim[i].key, key, 32) == 0)
			return &sim[i];
	return NULL;
}

/* What netd does with a PeerUpdate (netd/peers: upsert by key). */
static void
sim_apply(const Pm__PeerUpdate *u)
{
	if (u->reset)
		nsim = 0;
	for (size_t i = 0; i < u->n_upsert; i++) {
		const Pm__TailnetPeer *tp = u->upsert[i];
		struct sim_peer *sp = sim_find(tp->node_key.data);

		assert_int_equal(tp->node_key.len, 32);
		if (sp == NULL) {
			assert_true(nsim < SIM_MAX);
			sp = &sim[nsim++];
			memcpy(sp->key, tp->node_key.data, 32);
		}
		strv_join(tp->endpoints, tp->n_endpoints, sp->eps,
		    sizeof(sp->eps));
		strv_join(tp->allowed_ips, tp->n_allowed_ips, sp->allowed,
		    sizeof(sp->allowed));
		sp->derp = tp->home_derp;
	}
	for (size_t i = 0; i < u->n_remove; i++) {
		struct sim_peer *sp = sim_find(u->remove[i].data);

		assert_non_null(sp);
		*sp = sim[--nsim];
	}
}

static void
drain(struct ctrld *cd)
{
	static uint8_t buf[70000];
	bool more = true;

	memset(got, 0, sizeof(got));
	while (more) {
		more = false;
		uv_run(cd->c.loop, UV_RUN_NOWAIT);
		for (int i = 0; i < 3; i++) {
			ssize_t r;

			while ((r = recv(sink[i], buf, sizeof(buf),
			    MSG_DONTWAIT)) > 0) {
				Pm__CtrldToNetd *m;

				got[i]++;
				more = true;
				if (i != 0)
					continue;
				m = pm__ctrld_to_netd__unpack(NULL, (size_t)r,
				    buf);
				assert_non_null(m);
				if (m->msg_case ==
				    PM__CTRLD_TO_NETD__MSG_PEER_UPDATE)
					sim_apply(m->peer_update);
				else if (m->msg_case ==
				    PM__CTRLD_TO_NETD__MSG_DERP_MAP_UPDATE)
					dm_apply(m->derp_map_update);
				pm__ctrld_to_netd__free_unpacked(m, NULL);
			}
		}
		for (int p = 1; p <= PM_NPROC; p++)
			if (cd->c.chans[p].open && cd->c.chans[p].txq_len > 0)
				more = true;
	}
}

/* netd's view equals the netmap's usable peers, field by field. */
static void
check_netd(const struct netmap *nm, const struct prefs *p)
{
	size_t usable = 0;
	char buf[256];

	for (size_t i = 0; i < nm->npeers; i++) {
		const struct nm_node *n = &nm->peers[i];
		struct sim_peer *sp;

		if (n->expired || n->naddrs == 0)
			continue;
		usable++;
		sp = sim_find(n->key);
		assert_non_null(sp);
		strv_join(n->endpoints, n->nendpoints, buf, sizeof(buf));
		assert_string_equal(sp->eps, buf);
		assert_string_equal(sp->allowed, joined(p, n, buf,
		    sizeof(buf)));
		assert_int_equal(sp->derp, (uint32_t)n->home_derp);
	}
	assert_int_equal(nsim, usable);
}

static size_t
node_json(char *out, int id, int keyid, const char *extra)
{
	return (size_t)sprintf(out, "{\"ID\":%d,\"Name\":\"peer-%d.tailnet.test.\","
	    "\"Key\":\"nodekey:%064x\",\"DiscoKey\":\"discokey:%064x\","
	    "\"Addresses\":[\"100.64.%d.%d/32\"],\"AllowedIPs\":["
	    "\"100.64.%d.%d/32\",\"10.%d.0.0/16\"],"
	    "\"Endpoints\":[\"198.51.100.%d:41641\"],\"HomeDERP\":%d,"
	    "\"Hostinfo\":{\"Hostname\":\"peer-%d\"}%s}", id, id, keyid, id,
	    id >> 8, id & 255, id >> 8, id & 255, id & 255, id & 255, 1 + id % 3,
	    id, extra);
}

static void
apply(struct netmap *nm, const char *json)
{
	char err[256];

	assert_int_equal(netmap_apply(nm, json, strlen(json), false, err,
	    sizeof(err)), NM_APPLIED);
}

/* One step: apply `json` (NULL: none), fan out, check netd's view and
 * which siblings heard something. */
static void
step(struct ctrld *cd, struct netmap *nm, struct prefs *p, const char *json,
    bool netd, bool privd, bool dnsd)
{
	if (json != NULL)
		apply(nm, json);
	fanout_apply(cd, nm, p);
	drain(cd);
	check_netd(nm, p);
	assert_int_equal(got[0] > 0, netd);
	assert_int_equal(got[1] > 0, privd);
	assert_int_equal(got[2] > 0, dnsd);
}

static void
test_delta_matches_map(void **state)
{
	static struct ctrld cd;
	static const Pm__Proc procs[3] = { PM__PROC__PROC_NETD,
	    PM__PROC__PROC_PRIVD, PM__PROC__PROC_DNSD };
	static char json[NPEERS * 512 + 4096];
	char one[8192], err[256];
	struct netmap nm;
	struct prefs p;
	size_t len = 0;

	(void)state;
	cd.c.self = PM__PROC__PROC_CTRLD;
	cd.c.loop = uv_default_loop();
	for (int i = 0; i < 3; i++) {
		int sv[2];

		assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
		assert_true(ipc_chan_open(&cd.c.chans[procs[i]], cd.c.loop,
		    sv[0], PM__PROC__PROC_CTRLD, procs[i], no_dispatch, NULL,
		    &cd) >= 0);
		sink[i] = sv[1];
	}
	len += (size_t)sprintf(json, "{\"Node\":");
	len += node_json(json + len, 1, 1, "");
	len += (size_t)sprintf(json + len, ",\"DNSConfig\":{\"Domains\":"
	    "[\"tailnet.test\"]},\"Peers\":[");
	for (int i = 0; i < NPEERS; i++) {
		if (i)
			json[len++] = ',';
		len += node_json(json + len, i + 2, i + 2, "");
	}
	sprintf(json + len, "]}");
	netmap_init(&nm);
	prefs_default(&p);
	assert_int_equal(netmap_apply(&nm, json, strlen(json), true, err,
	    sizeof(err)), NM_APPLIED);
	step(&cd, &nm, &p, NULL, true, true, true);
	step(&cd, &nm, &p, NULL, false, false, false);
	/* Endpoints of one peer: netd only. */
	step(&cd, &nm, &p, "{\"PeersChangedPatch\":[{\"NodeID\":50,"
	    "\"Endpoints\":[\"203.0.113.9:41641\"],\"DERPRegion\":7}]}",
	    true, false, false);
	/* A new node key: the old one removed, the new one added. */
	sprintf(one, "{\"PeersChangedPatch\":[{\"NodeID\":60,\"Key\":"
	    "\"nodekey:%064x\"}]}", 5060);
	step(&cd, &nm, &p, one, true, false, false);
	/* A new peer: a name and an address for dnsd, a route for privd
	 * (privd's is one 100.64.0.0/10 route only past 1000 peers). */
	len = (size_t)sprintf(one, "{\"PeersChanged\":[");
	node_json(one + len, 1000, 1000, "");
	strcat(one, "]}");
	step(&cd, &nm, &p, one, true, true, true);
	step(&cd, &nm, &p, "{\"PeersRemoved\":[70]}", true, true, true);
	len = (size_t)sprintf(one, "{\"PeersChanged\":[");
	node_json(one + len, 80, 80, ",\"Expired\":true");
	strcat(one, "]}");
	step(&cd, &nm, &p, one, true, true, true);
	/* Presence only: nothing any sibling takes. */
	step(&cd, &nm, &p, "{\"OnlineChange\":{\"90\":false}}", false,
	    false, false);
	/* More peers than the per-peer path takes: the whole-map pass. */
	len = (size_t)sprintf(one, "{\"PeersChangedPatch\":[");
	for (int id = 100; id < 180; id++)
		len += (size_t)sprintf(one + len, "%s{\"NodeID\":%d,"
		    "\"Endpoints\":[\"203.0.113.%d:1\"]}", id > 100 ? "," : "",
		    id, id - 99);
	strcat(one, "]}");
	step(&cd, &nm, &p, one, true, false, false);
	/* Prefs: subnet routes now taken, by netd and privd. */
	p.accept_routes = true;
	step(&cd, &nm, &p, NULL, true, true, false);
	step(&cd, &nm, &p, NULL, false, false, false);
	/* The self node's addresses: netd, privd and dnsd. */
	len = (size_t)sprintf(one, "{\"Node\":");
	node_json(one + len, 1, 1, "");
	strcpy(strstr(one, "100.64.0.1/32"), "100.64.9.1/32\"],"
	    "\"AllowedIPs\":[\"100.64.9.1/32\"]}}");
	step(&cd, &nm, &p, one, true, true, true);
	step(&cd, &nm, &p, "{\"DNSConfig\":{\"Domains\":[\"other.test\"]}}",
	    false, false, true);
	/* netd restarted: the next transaction is a full one. */
	fanout_sibling_restarted(PM__PROC__PROC_NETD);
	nsim = 0;
	step(&cd, &nm, &p, NULL, true, false, false);
	step(&cd, &nm, &p, "{\"PeersRemoved\":[2,3,4]}", true, true, true);
	prefs_free(&p);
	netmap_free(&nm);
}

#define SELF(home) "{\"Node\":{\"ID\":1,\"Key\":\"nodekey:" \
	"00000000000000000000000000000000000000000000000000000000000000aa\"," \
	"\"Name\":\"self.tailnet.test.\",\"Addresses\":[\"100.64.0.1/32\"]," \
	"\"HomeDERP\":" #home "}"

/* The DERPMap reaches netd whole (in parts when large), sorted, with the
 * home region; unchanged maps are not sent again; bad regions and nodes
 * are left out. */
static void
test_derpmap_to_netd(void **state)
{
	static struct ctrld cd;
	static char big[200000];
	struct netmap nm;
	struct prefs p;
	size_t len;
	unsigned commits;
	int sv[2];

	(void)state;
	cd.c.self = PM__PROC__PROC_CTRLD;
	cd.c.loop = uv_default_loop();
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
	assert_true(ipc_chan_open(&cd.c.chans[PM__PROC__PROC_NETD], cd.c.loop,
	    sv[0], PM__PROC__PROC_CTRLD, PM__PROC__PROC_NETD, no_dispatch,
	    NULL, &cd) >= 0);
	sink[0] = sv[1];
	sink[1] = sink[2] = -1;
	fanout_sibling_restarted(PM__PROC__PROC_NETD);
	memset(&dm, 0, sizeof(dm));
	netmap_init(&nm);
	prefs_default(&p);
	apply(&nm, SELF(2) ",\"DERPMap\":{\"Regions\":{"
	    "\"900\":{\"RegionID\":900,\"RegionCode\":\"test\",\"Nodes\":["
	    "{\"Name\":\"900a\",\"RegionID\":900,\"HostName\":\"derp.test\","
	    "\"IPv4\":\"192.0.2.1\",\"DERPPort\":8443,"
	    "\"InsecureForTests\":true},{\"Name\":\"nohost\"},"
	    "{\"HostName\":\"p.test\",\"DERPPort\":70000}]},"
	    "\"2\":{\"RegionID\":2,\"RegionCode\":\"two\",\"Nodes\":["
	    "{\"HostName\":\"two.test\"}]},"
	    "\"1\":{\"RegionID\":1,\"RegionCode\":\"one\",\"Nodes\":[]},"
	    "\"5\":{\"RegionID\":6,\"RegionCode\":\"mismatch\"}}}}");
	fanout_apply(&cd, &nm, &p);
	drain(&cd);
	assert_int_equal(dm.commits, 1);
	assert_string_equal(dm.ids, "1:one:0 2:two:1 900:test:1 ");
	assert_int_equal(dm.home, 2);
	/* Nothing changed: nothing sent. */
	fanout_apply(&cd, &nm, &p);
	drain(&cd);
	assert_int_equal(got[0], 0);
	/* The self node's home moves: sent again. */
	apply(&nm, SELF(900) "}");
	fanout_apply(&cd, &nm, &p);
	drain(&cd);
	assert_int_equal(dm.commits, 2);
	assert_int_equal(dm.home, 900);
	/* The self node's home is not in the map: the lowest region with
	 * nodes that may be a home. */
	apply(&nm, SELF(77) "}");
	fanout_apply(&cd, &nm, &p);
	drain(&cd);
	assert_int_equal(dm.commits, 3);
	assert_int_equal(dm.home, 2);
	/* A map larger than one datagram: several parts, one commit. */
	len = (size_t)sprintf(big, "{\"DERPMap\":{\"Regions\":{");
	for (int r = 1; r <= 120; r++) {
		len += (size_t)sprintf(big + len, "%s\"%d\":{\"RegionID\":%d,"
		    "\"RegionCode\":\"r%d\",\"Nodes\":[", r > 1 ? "," : "", r,
		    r, r);
		for (int n = 0; n < 3; n++)
			len += (size_t)sprintf(big + len, "%s{\"Name\":\"%d%c\","
			    "\"HostName\":\"derp%d-%d.long-host-name.example."
			    "test\",\"IPv4\":\"198.51.100.%d\",\"IPv6\":"
			    "\"2001:db8::%d:%d\"}", n ? "," : "", r, 'a' + n, r,
			    n, r, r, n);
		len += (size_t)sprintf(big + len, "]}");
	}
	sprintf(big + len, "}}}");
	commits = dm.commits;
	dm.parts = 0;
	apply(&nm, big);
	fanout_apply(&cd, &nm, &p);
	drain(&cd);
	assert_int_equal(dm.commits, commits + 1);
	assert_true(dm.parts > 1);
	assert_non_null(strstr(dm.ids, "1:r1:3 2:r2:3 3:r3:3 "));
	assert_non_null(strstr(dm.ids, " 120:r120:3 "));
	/* (the self node's HomeDERP 77 is in this map) */
	assert_int_equal(dm.home, 77);
	/* netd restarted: the map is sent again. */
	fanout_sibling_restarted(PM__PROC__PROC_NETD);
	fanout_apply(&cd, &nm, &p);
	drain(&cd);
	assert_int_equal(dm.commits, commits + 2);
	prefs_free(&p);
	netmap_free(&nm);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_accepted_prefixes),
		cmocka_unit_test(test_delta_matches_map),
		cmocka_unit_test(test_derpmap_to_netd),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
