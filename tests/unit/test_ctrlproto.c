/*
 * The parsers of control-server bytes and the requests ctrld builds:
 * HTTP/1.1 heads, /key, URLs, the map stream framing (zstd), netmap
 * full maps and every delta kind, RegisterRequest/MapRequest fields.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <jansson.h>
#include <zstd.h>

#include "ctrlmsg.h"
#include "http1.h"
#include "keys.h"
#include "mapstream.h"
#include "netmap.h"
#include "url.h"

#define K32 "0000000000000000000000000000000000000000000000000000000000000001"
#define NK(x) "nodekey:" x

static void
test_http1_heads(void **state)
{
	struct http1_resp r;
	char err[128];
	const char *ok = "HTTP/1.1 101 Switching Protocols\r\n"
	    "upgrade: Tailscale-Control-Protocol\r\n"
	    "Connection: keep-alive, Upgrade\r\n\r\nNOISE";
	const char *key = "HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n";

	(void)state;
	assert_int_equal(http1_parse_head(ok, strlen(ok), &r, err, sizeof(err)),
	    strlen(ok) - 5);
	assert_int_equal(r.status, 101);
	assert_true(r.upgrade_ts2021 && r.connection_upgrade);
	/* Incomplete: 0 for every prefix. */
	for (size_t i = 0; i < strlen(key); i++)
		assert_int_equal(http1_parse_head(key, i, &r, err, sizeof(err)),
		    0);
	assert_int_equal(http1_parse_head(key, strlen(key), &r, err,
	    sizeof(err)), strlen(key));
	assert_int_equal(r.status, 200);
	assert_int_equal(r.content_length, 12);
	assert_false(r.upgrade_ts2021);
	static const char *bad[] = {
		"HTTP/2 200 OK\r\n\r\n",
		"HTTP/1.1 20 OK\r\n\r\n",
		"HTTP/1.1 200 OK\r\nno colon\r\n\r\n",
		"HTTP/1.1 200 OK\nX: y\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 99999999999999\r\n\r\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(http1_parse_head(bad[i], strlen(bad[i]), &r,
		    err, sizeof(err)), -1);
	/* A head that never ends is refused at the limit. */
	char *big = malloc(HTTP1_HEAD_MAX + 10);
	memset(big, 'a', HTTP1_HEAD_MAX + 10);
	assert_int_equal(http1_parse_head(big, HTTP1_HEAD_MAX + 10, &r, err,
	    sizeof(err)), -1);
	free(big);
}

static void
test_requests_and_key(void **state)
{
	char buf[1024], err[128];
	uint8_t init[101] = { 0 }, pub[32];
	const char *body = "{\"legacyPublicKey\":\"mkey:" "0000000000000000"
	    "000000000000000000000000000000000000000000000000\","
	    "\"publicKey\":\"mkey:" K32 "\"}";

	(void)state;
	assert_true(http1_upgrade_request(buf, sizeof(buf), "[::1]:8080", init,
	    sizeof(init)) > 0);
	assert_non_null(strstr(buf, "POST /ts2021 HTTP/1.1\r\n"));
	assert_non_null(strstr(buf, "Upgrade: tailscale-control-protocol\r\n"));
	assert_non_null(strstr(buf, "Connection: upgrade\r\n"));
	/* 101 bytes: 136 base64 characters ending in one '='. */
	char *h = strstr(buf, "X-Tailscale-Handshake: ");
	assert_non_null(h);
	h += strlen("X-Tailscale-Handshake: ");
	assert_int_equal(strcspn(h, "\r"), 136);
	assert_int_equal(h[135], '=');
	assert_true(http1_key_request(buf, sizeof(buf), "h", 113) > 0);
	assert_non_null(strstr(buf, "GET /key?v=113 HTTP/1.1\r\n"));
	assert_int_equal(http1_parse_key(body, strlen(body), pub, err,
	    sizeof(err)), 0);
	assert_int_equal(pub[31], 1);
	assert_int_equal(http1_parse_key("{}", 2, pub, err, sizeof(err)), -1);
	assert_int_equal(http1_parse_key("{\"publicKey\":\"mkey:00\"}", 23,
	    pub, err, sizeof(err)), -1);
	const char *zero = "{\"publicKey\":\"mkey:0000000000000000000000000000"
	    "000000000000000000000000000000000000\"}";
	assert_int_equal(http1_parse_key(zero, strlen(zero), pub, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "too old"));
}

static void
test_urls(void **state)
{
	struct ctrl_url u;
	char err[128];

	(void)state;
	assert_int_equal(url_parse("https://hs.example.com", &u, err,
	    sizeof(err)), 0);
	assert_true(u.tls);
	assert_int_equal(u.port, 443);
	assert_string_equal(u.authority, "hs.example.com");
	assert_int_equal(url_parse("http://127.0.0.1:8080/", &u, err,
	    sizeof(err)), 0);
	assert_false(u.tls);
	assert_int_equal(u.port, 8080);
	assert_string_equal(u.authority, "127.0.0.1:8080");
	assert_int_equal(url_parse("https://[fd00::1]:8443", &u, err,
	    sizeof(err)), 0);
	assert_string_equal(u.host, "fd00::1");
	assert_string_equal(u.authority, "[fd00::1]:8443");
	static const char *bad[] = { "ftp://x", "http://", "http://x:0",
	    "http://x:65536", "http://x/path", "http://a b", "http://x:8a",
	    "https://[::1" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(url_parse(bad[i], &u, err, sizeof(err)), -1);
}

struct collect {
	char	*msgs[8];
	size_t	 n;
};

static int
collect_cb(void *arg, const char *json, size_t len)
{
	struct collect *c = arg;

	c->msgs[c->n++] = strndup(json, len);
	return 0;
}

/* [LE32 len][zstd(json)] */
static size_t
frame(uint8_t *out, const char *json)
{
	size_t n = ZSTD_compress(out + 4, 4096, json, strlen(json), 3);

	assert_false(ZSTD_isError(n));
	out[0] = (uint8_t)n;
	out[1] = (uint8_t)(n >> 8);
	out[2] = (uint8_t)(n >> 16);
	out[3] = (uint8_t)(n >> 24);
	return n + 4;
}

static void
test_mapstream(void **state)
{
	struct mapstream ms;
	struct collect c = { 0 };
	uint8_t buf[8192];
	char err[128];
	size_t n;

	(void)state;
	assert_int_equal(mapstream_init(&ms, true), 0);
	n = frame(buf, "{\"KeepAlive\":true}");
	n += frame(buf + n, "{\"Domain\":\"x\"}");
	/* Split at every byte. */
	for (size_t i = 0; i < n; i++)
		assert_int_equal(mapstream_feed(&ms, buf + i, 1, collect_cb, &c,
		    err, sizeof(err)), 0);
	assert_int_equal(c.n, 2);
	assert_string_equal(c.msgs[0], "{\"KeepAlive\":true}");
	assert_string_equal(c.msgs[1], "{\"Domain\":\"x\"}");
	/* Oversized length prefix, bad zstd, zero length. */
	static const uint8_t huge[] = { 0xf0, 0xff, 0xff, 0x0f };
	assert_int_equal(mapstream_feed(&ms, huge, 4, collect_cb, &c, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "larger"));
	mapstream_free(&ms);
	assert_int_equal(mapstream_init(&ms, true), 0);
	static const uint8_t junk[] = { 6, 0, 0, 0, 0x28, 0xb5, 0x2f, 0xfd, 1,
	    2 };
	assert_int_equal(mapstream_feed(&ms, junk, sizeof(junk), collect_cb,
	    &c, err, sizeof(err)), -1);
	mapstream_free(&ms);
	assert_int_equal(mapstream_init(&ms, false), 0);
	static const uint8_t empty[] = { 0, 0, 0, 0 };
	assert_int_equal(mapstream_feed(&ms, empty, 4, collect_cb, &c, err,
	    sizeof(err)), -1);
	mapstream_free(&ms);
	for (size_t i = 0; i < c.n; i++)
		free(c.msgs[i]);
}

static enum nm_result
apply(struct netmap *nm, const char *json, bool first, char *err)
{
	return netmap_apply(nm, json, strlen(json), first, err, 256);
}

#define NODE(id, key, name) "{\"ID\":" #id ",\"Key\":\"nodekey:" key "\"," \
	"\"Name\":\"" name ".tailnet.test.\",\"Addresses\":[\"100.64.0." #id \
	"/32\",\"fd7a:115c:a1e0::" #id "/128\"],\"Hostinfo\":{\"Hostname\":\"" \
	name "\",\"OS\":\"linux\"},\"Online\":true,\"HomeDERP\":999}"
#define KA "00000000000000000000000000000000000000000000000000000000000000aa"
#define KB "00000000000000000000000000000000000000000000000000000000000000bb"
#define KC "00000000000000000000000000000000000000000000000000000000000000cc"

static void
test_netmap_full_and_deltas(void **state)
{
	struct netmap nm;
	char err[256];
	struct nm_node *p;

	(void)state;
	netmap_init(&nm);
	assert_int_equal(apply(&nm, "{\"Domain\":\"x\"}", true, err), NM_ERROR);
	assert_non_null(strstr(err, "no Node"));
	assert_int_equal(apply(&nm, "{\"Node\":" NODE(1, KA, "self") ","
	    "\"Peers\":[" NODE(3, KC, "c") "," NODE(2, KB, "b") "],"
	    "\"Domain\":\"tailnet.test\",\"DERPMap\":{\"Regions\":{}},"
	    "\"DNSConfig\":{\"Domains\":[\"tailnet.test\"]},"
	    "\"PacketFilters\":{\"base\":[]},"
	    "\"UserProfiles\":[{\"ID\":7,\"LoginName\":\"alice\"}]}", true, err),
	    NM_APPLIED);
	assert_true(nm.have_self);
	assert_int_equal(nm.self.id, 1);
	assert_int_equal(nm.npeers, 2);
	assert_int_equal(nm.peers[0].id, 2);	/* sorted by ID */
	assert_string_equal(nm.peers[0].hostname, "b");
	assert_int_equal(nm.peers[0].naddrs, 2);
	/* nil AllowedIPs means Addresses (capver 112). */
	assert_int_equal(nm.peers[0].nallowed, 2);
	assert_string_equal(nm.peers[0].allowed[1], "fd7a:115c:a1e0::2/128");
	assert_int_equal(nm.peers[0].home_derp, 999);
	assert_string_equal(nm.domain, "tailnet.test");
	assert_non_null(json_object_get(nm.filters, "base"));
	assert_non_null(json_object_get(nm.profiles, "7"));
	/* Keep-alive changes nothing. */
	uint64_t seq = nm.seq;
	assert_int_equal(apply(&nm, "{\"KeepAlive\":true}", false, err),
	    NM_KEEPALIVE);
	assert_int_equal(nm.seq, seq);
	/* PeersChanged upserts, PeersRemoved deletes. */
	assert_int_equal(apply(&nm, "{\"PeersChanged\":[" NODE(4, KA, "d") ","
	    NODE(2, KB, "b2") "],\"PeersRemoved\":[3,99]}", false, err),
	    NM_APPLIED);
	assert_int_equal(nm.npeers, 2);
	assert_string_equal(nm.peers[0].hostname, "b2");
	assert_int_equal(nm.peers[1].id, 4);
	/* Patches, online and seen changes; unknown IDs ignored. */
	assert_int_equal(apply(&nm, "{\"PeersChangedPatch\":[{\"NodeID\":4,"
	    "\"DERPRegion\":7,\"Endpoints\":[\"192.0.2.1:41641\","
	    "\"[2001:db8::1]:41641\"],\"Online\":false,"
	    "\"LastSeen\":\"2026-01-02T03:04:05.123456789Z\"},{\"NodeID\":77}],"
	    "\"OnlineChange\":{\"2\":false},\"PeerSeenChange\":{\"2\":false}}",
	    false, err), NM_APPLIED);
	p = netmap_peer(&nm, 4);
	assert_non_null(p);
	assert_int_equal(p->home_derp, 7);
	assert_int_equal(p->nendpoints, 2);
	assert_int_equal(p->online, 0);
	assert_int_equal(p->last_seen, 1767323045);
	assert_int_equal(netmap_peer(&nm, 2)->online, 0);
	/* PacketFilters: "*": null clears, a named null deletes. */
	assert_int_equal(apply(&nm, "{\"PacketFilters\":{\"*\":null,"
	    "\"extra\":[{\"SrcIPs\":[\"*\"]}]}}", false, err), NM_APPLIED);
	assert_null(json_object_get(nm.filters, "base"));
	assert_non_null(json_object_get(nm.filters, "extra"));
	/* DERPMap: absent Regions keep the old ones, HomeParams merge. */
	assert_int_equal(apply(&nm, "{\"DERPMap\":{\"HomeParams\":"
	    "{\"RegionScore\":{\"999\":0.5}}}}", false, err), NM_APPLIED);
	assert_true(json_is_object(json_object_get(nm.derpmap, "Regions")));
	assert_non_null(json_object_get(nm.derpmap, "HomeParams"));
	assert_int_equal(apply(&nm, "{\"DERPMap\":{\"Regions\":{\"1\":"
	    "{\"RegionID\":1},\"2\":null}}}", false, err), NM_APPLIED);
	assert_non_null(json_object_get(json_object_get(nm.derpmap, "Regions"),
	    "1"));
	assert_null(json_object_get(json_object_get(nm.derpmap, "Regions"),
	    "2"));
	assert_non_null(json_object_get(json_object_get(nm.derpmap,
	    "HomeParams"), "RegionScore"));
	/* A full Peers list (even empty) replaces everything. */
	assert_int_equal(apply(&nm, "{\"Peers\":[]}", false, err), NM_APPLIED);
	assert_int_equal(nm.npeers, 0);
	netmap_free(&nm);
}

static void
test_netmap_rejects_keep_old(void **state)
{
	struct netmap nm;
	char err[256];
	static const char *bad[] = {
		"[]",
		"{\"Node\":{\"ID\":1}}",
		"{\"Node\":{\"ID\":0,\"Key\":\"nodekey:" KA "\"}}",
		"{\"Node\":{\"ID\":1,\"Key\":\"mkey:" KA "\"}}",
		"{\"PeersChanged\":[{\"ID\":5,\"Key\":\"nodekey:" KA "\","
		    "\"Addresses\":[\"300.1.1.1/32\"]}]}",
		"{\"PeersChanged\":[{\"ID\":5,\"Key\":\"nodekey:" KA "\","
		    "\"Endpoints\":[\"1.2.3.4\"]}]}",
		"{\"Peers\":[" NODE(2, KB, "b") "," NODE(2, KB, "b") "]}",
		"{\"PeersRemoved\":[\"x\"]}",
		"{\"OnlineChange\":{\"abc\":true}}",
		"{\"DERPMap\":[]}",
		"{\"PeersChangedPatch\":[{\"NodeID\":2,\"LastSeen\":\"yesterday\"}]}",
		"{\"Node\":" NODE(1, KA, "self") ",\"Node\":1}",	/* last wins */
	};

	(void)state;
	netmap_init(&nm);
	assert_int_equal(apply(&nm, "{\"Node\":" NODE(1, KA, "self") ","
	    "\"Peers\":[" NODE(2, KB, "b") "]}", true, err), NM_APPLIED);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint64_t seq = nm.seq;
		assert_int_equal(apply(&nm, bad[i], false, err), NM_ERROR);
		assert_int_equal(nm.seq, seq);
		assert_int_equal(nm.npeers, 1);
		assert_int_equal(nm.self.id, 1);
		assert_string_equal(nm.peers[0].hostname, "b");
	}
	netmap_free(&nm);
}

static void
test_netmap_peer_bound(void **state)
{
	struct netmap nm;
	char err[256];
	size_t cap = (NM_MAX_PEERS + 1) * 128 + 1024, len;
	char *s = malloc(cap);

	(void)state;
	netmap_init(&nm);
	len = (size_t)sprintf(s, "{\"Node\":" NODE(1, KA, "self") ",\"Peers\":[");
	for (int i = 0; i <= NM_MAX_PEERS; i++)
		len += (size_t)sprintf(s + len, "%s{\"ID\":%d,\"Key\":\"nodekey:"
		    KB "\"}", i ? "," : "", i + 10);
	strcpy(s + len, "]}");
	assert_int_equal(apply(&nm, s, true, err), NM_ERROR);
	assert_non_null(strstr(err, "too many"));
	assert_false(nm.have_self);
	free(s);
	netmap_free(&nm);
}

static void
test_times(void **state)
{
	int64_t t;

	(void)state;
	assert_int_equal(nm_parse_time("1970-01-01T00:02:03Z", &t), 0);
	assert_int_equal(t, 123);
	assert_int_equal(nm_parse_time("2026-01-01T01:00:00+01:00", &t), 0);
	assert_int_equal(t, 1767225600);
	assert_int_equal(nm_parse_time("2026-01-01T00:00:00", &t), -1);
	assert_int_equal(nm_parse_time("2026-13-01T00:00:00Z", &t), -1);
}

static void
test_register_and_map_requests(void **state)
{
	struct prefs p;
	uint8_t nk[32], dk[32];
	struct reg_args a = { 0 };
	json_t *o, *hi;
	char *s, err[128];
	struct reg_resp r;

	(void)state;
	memset(nk, 0xaa, 32);
	memset(dk, 0xbb, 32);
	prefs_default(&p);
	strcpy(p.hostname, "box");
	p.advertise_exit_node = true;
	json_array_append_new(p.advertise_routes, json_string("10.0.0.0/24"));
	a.node_pub = nk;
	a.auth_key = "hskey-auth-x";
	s = ctrlmsg_register(&p, &a);
	o = json_loads(s, 0, NULL);
	free(s);
	assert_int_equal(json_integer_value(json_object_get(o, "Version")),
	    CTRL_CAPVER);
	assert_string_equal(json_string_value(json_object_get(o, "NodeKey")),
	    "nodekey:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
	assert_string_equal(json_string_value(json_object_get(json_object_get(
	    o, "Auth"), "AuthKey")), "hskey-auth-x");
	assert_string_equal(json_string_value(json_object_get(o, "Expiry")),
	    "0001-01-01T00:00:00Z");
	hi = json_object_get(o, "Hostinfo");
	assert_string_equal(json_string_value(json_object_get(hi, "Hostname")),
	    "box");
	assert_string_equal(json_string_value(json_object_get(hi, "OS")),
	    "linux");
	assert_int_equal(json_array_size(json_object_get(hi, "RoutableIPs")), 3);
	json_decref(o);
	a.logout = true;
	a.auth_key = NULL;
	s = ctrlmsg_register(&p, &a);
	o = json_loads(s, 0, NULL);
	free(s);
	assert_string_equal(json_string_value(json_object_get(o, "Expiry")),
	    "1970-01-01T00:02:03Z");
	assert_null(json_object_get(o, "Auth"));
	json_decref(o);
	s = ctrlmsg_map(&p, nk, dk, NULL, NULL, true);
	o = json_loads(s, 0, NULL);
	free(s);
	assert_true(json_is_true(json_object_get(o, "Stream")));
	assert_true(json_is_true(json_object_get(o, "KeepAlive")));
	assert_string_equal(json_string_value(json_object_get(o, "Compress")),
	    "zstd");
	assert_string_equal(json_string_value(json_object_get(o, "DiscoKey")),
	    "discokey:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb");
	json_decref(o);
	prefs_free(&p);
	const char *resp = "{\"User\":{\"ID\":1},\"Login\":{\"LoginName\":"
	    "\"alice\"},\"MachineAuthorized\":true,\"AuthURL\":\"\"}";
	assert_int_equal(ctrlmsg_parse_register(resp, strlen(resp), &r, err,
	    sizeof(err)), 0);
	assert_true(r.machine_authorized);
	assert_string_equal(r.login, "alice");
	assert_int_equal(ctrlmsg_parse_register("{\"AuthURL\":3}", 13, &r, err,
	    sizeof(err)), -1);
}

static void
test_prefs(void **state)
{
	struct prefs p;
	char err[128];
	json_t *o;

	(void)state;
	prefs_default(&p);
	o = json_loads("{\"login_server\":\"http://x\",\"accept_routes\":true,"
	    "\"advertise_tags\":[\"tag:web\"]}", 0, NULL);
	assert_int_equal(prefs_from_json(&p, o, err, sizeof(err)), 0);
	assert_true(p.accept_routes);
	assert_true(p.accept_dns);	/* default kept */
	json_decref(o);
	static const char *bad[] = { "{\"nope\":1}", "{\"accept_dns\":1}",
	    "{\"hostname\":\"a b\"}", "{\"advertise_routes\":[\"10.0.0.0/33\"]}",
	    "{\"advertise_tags\":[\"web\"]}", "{\"login_server\":\"a\\nb\"}" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		o = json_loads(bad[i], 0, NULL);
		assert_int_equal(prefs_from_json(&p, o, err, sizeof(err)), -1);
		json_decref(o);
	}
	prefs_free(&p);
}

/* Hostinfo.NetInfo from netcheck: Go's field order, zero values left
 * out, DERPLatency keys "<id>-v4"; a change counts (worth a map update)
 * as NetInfo.BasicallyEqual sees it, latencies aside. */
static void
test_net_info(void **state)
{
	struct ctrl_derp_latency lat[2] = { { 900, 12000, 0 },
	    { 902, 3000, 4000 } };
	struct ctrl_net_info n = { 902, 1, true, true, true, lat, 2 };
	struct prefs p;
	json_t *hi, *ni;
	const char *k;
	json_t *v;
	const char *want[] = { "MappingVariesByDestIP", "WorkingIPv6",
	    "OSHasIPv6", "WorkingUDP", "WorkingICMPv4", "PreferredDERP",
	    "DERPLatency" };
	size_t i = 0;

	(void)state;
	prefs_default(&p);
	(void)ctrlmsg_set_preferred_derp(900);	/* fan-out's choice */
	assert_true(ctrlmsg_set_net_info(&n));
	hi = ctrlmsg_hostinfo(&p);
	ni = json_object_get(hi, "NetInfo");
	json_object_foreach(ni, k, v) {
		assert_true(i < sizeof(want) / sizeof(want[0]));
		assert_string_equal(k, want[i++]);
	}
	assert_int_equal(i, 7);
	assert_true(json_is_false(json_object_get(ni,
	    "MappingVariesByDestIP")));
	assert_int_equal(json_integer_value(json_object_get(ni,
	    "PreferredDERP")), 902);
	v = json_object_get(ni, "DERPLatency");
	assert_int_equal(json_object_size(v), 3);
	assert_true(json_real_value(json_object_get(v, "900-v4")) == 0.012);
	assert_true(json_real_value(json_object_get(v, "902-v6")) == 0.004);
	json_decref(hi);
	/* Latencies alone: no update (and the old ones stay). */
	lat[0].v4_us = 50000;
	assert_false(ctrlmsg_set_net_info(&n));
	/* Unknown mapping: left out; a change. */
	n.varies = 0;
	assert_true(ctrlmsg_set_net_info(&n));
	hi = ctrlmsg_hostinfo(&p);
	ni = json_object_get(hi, "NetInfo");
	assert_null(json_object_get(ni, "MappingVariesByDestIP"));
	assert_true(json_real_value(json_object_get(json_object_get(ni,
	    "DERPLatency"), "900-v4")) == 0.05);
	json_decref(hi);
	/* No home measured: PreferredDERP is the fan-out's. */
	n.preferred = 0;
	assert_true(ctrlmsg_set_net_info(&n));
	hi = ctrlmsg_hostinfo(&p);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(
	    hi, "NetInfo"), "PreferredDERP")), 900);
	json_decref(hi);
	assert_true(ctrlmsg_set_net_info(NULL));
	(void)ctrlmsg_set_preferred_derp(0);
	prefs_free(&p);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_http1_heads),
		cmocka_unit_test(test_requests_and_key),
		cmocka_unit_test(test_urls),
		cmocka_unit_test(test_mapstream),
		cmocka_unit_test(test_netmap_full_and_deltas),
		cmocka_unit_test(test_netmap_rejects_keep_old),
		cmocka_unit_test(test_netmap_peer_bound),
		cmocka_unit_test(test_times),
		cmocka_unit_test(test_register_and_map_requests),
		cmocka_unit_test(test_prefs),
		cmocka_unit_test(test_net_info),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
