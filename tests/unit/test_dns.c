/* dnsd without I/O: DNS messages, the model, local answers, the cache and
 * the JSON configuration file with its error messages. */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "answer.h"
#include "cache.h"
#include "dnsconf.h"
#include "msg.h"
#include "zone.h"

static size_t
put_name(uint8_t *p, const char *text)
{
	struct dns_name nm;

	assert_int_equal(dns_name_from_text(text, &nm), 0);
	memcpy(p, nm.wire, nm.len);
	return nm.len;
}

/* A query: header, question, optional OPT. */
static size_t
query(uint8_t *m, const char *name, uint16_t type, bool opt)
{
	size_t n = DNS_HDR_LEN;

	memset(m, 0, DNS_HDR_LEN);
	dns_put16(m, 0xbeef);
	dns_put16(m + 2, DNS_F_RD);
	dns_put16(m + 4, 1);
	dns_put16(m + 10, opt ? 1 : 0);
	n += put_name(m + n, name);
	dns_put16(m + n, type);
	dns_put16(m + n + 2, DNS_CLASS_IN);
	n += 4;
	if (opt) {
		m[n] = 0;
		dns_put16(m + n + 1, DNS_T_OPT);
		dns_put16(m + n + 3, 4096);
		dns_put32(m + n + 5, 0);
		dns_put16(m + n + 9, 0);
		n += 11;
	}
	return n;
}

static void
test_names(void **state)
{
	struct dns_name a, b;
	char text[1024];

	(void)state;
	assert_int_equal(dns_name_from_text("Alpha.Tail.Example.", &a), 0);
	assert_int_equal(dns_name_from_text("alpha.tail.example", &b), 0);
	assert_true(dns_name_eq(&a, &b));
	assert_int_equal(a.nlabels, 3);
	assert_string_equal(dns_name_to_text(&a, text, sizeof(text)),
	    "Alpha.Tail.Example.");
	assert_int_equal(dns_name_from_text("a..b", &a), -EINVAL);
	memset(text, 'x', 64);
	text[64] = '\0';
	assert_int_equal(dns_name_from_text(text, &a), -EINVAL);
	assert_int_equal(dns_name_from_text("tail.example", &b), 0);
	assert_int_equal(dns_name_from_text("x.TAIL.example", &a), 0);
	assert_true(dns_name_under(&a, &b));
	assert_false(dns_name_under(&b, &a));
}

static void
test_parse_query_strict(void **state)
{
	uint8_t m[512];
	struct dns_query q;
	size_t n;

	(void)state;
	n = query(m, "alpha.tail.example", DNS_T_A, true);
	assert_int_equal(dns_parse_query(m, n, &q), 0);
	assert_true(q.edns);
	assert_int_equal(q.udp_size, 4096);
	assert_int_equal(q.id, 0xbeef);
	/* trailing garbage, truncation, two questions, an answer record */
	assert_int_equal(dns_parse_query(m, n + 1, &q), -DNS_RCODE_FORMERR);
	assert_int_equal(dns_parse_query(m, n - 3, &q), -DNS_RCODE_FORMERR);
	dns_put16(m + 4, 2);
	assert_int_equal(dns_parse_query(m, n, &q), -DNS_RCODE_FORMERR);
	dns_put16(m + 4, 1);
	dns_put16(m + 6, 1);
	assert_int_equal(dns_parse_query(m, n, &q), -DNS_RCODE_FORMERR);
	dns_put16(m + 6, 0);
	/* a response is never answered; a short header is dropped */
	dns_put16(m + 2, DNS_F_QR);
	assert_int_equal(dns_parse_query(m, n, &q), DNS_PARSE_DROP);
	assert_int_equal(dns_parse_query(m, 5, &q), DNS_PARSE_DROP);
	/* opcode STATUS */
	dns_put16(m + 2, 2 << 11);
	assert_int_equal(dns_parse_query(m, n, &q), -DNS_RCODE_NOTIMP);
}

static void
test_compression_loops_rejected(void **state)
{
	uint8_t m[64] = { 0 };
	struct dns_name nm;
	size_t off;

	(void)state;
	/* pointer to itself */
	m[12] = 0xc0;
	m[13] = 12;
	off = 12;
	assert_int_equal(dns_name_read(m, 14, &off, &nm), -EBADMSG);
	/* forward pointer */
	m[13] = 20;
	off = 12;
	assert_int_equal(dns_name_read(m, 30, &off, &nm), -EBADMSG);
	/* a backward pointer to a valid name works */
	m[2] = 1;
	m[3] = 'a';
	m[4] = 0;
	m[12] = 0xc0;
	m[13] = 2;
	off = 12;
	assert_int_equal(dns_name_read(m, 14, &off, &nm), 0);
	assert_int_equal(off, 14);
	assert_int_equal(nm.len, 3);
	/* two names pointing at each other (a -> b -> a) */
	m[2] = 0xc0;
	m[3] = 12;
	off = 12;
	assert_int_equal(dns_name_read(m, 14, &off, &nm), -EBADMSG);
}

static void
test_builder_compresses(void **state)
{
	uint8_t buf[512];
	struct dns_builder b;
	struct dns_name q, t;
	struct dns_resp r;
	size_t n;

	(void)state;
	dns_name_from_text("2.0.64.100.in-addr.arpa", &q);
	dns_name_from_text("alpha.tail.example", &t);
	dns_b_init(&b, buf, sizeof(buf), 7, DNS_F_QR);
	dns_b_question(&b, &q, DNS_T_PTR, DNS_CLASS_IN);
	dns_b_rr_name(&b, DNS_S_AN, &q, DNS_T_PTR, 600, &t);
	dns_b_rr_soa(&b, DNS_S_NS, &t, 60, 60);
	n = dns_b_finish(&b, 0);
	/* the answer's owner is one pointer back to the question */
	assert_int_equal(dns_parse_response(buf, n, &r), 0);
	assert_int_equal(r.ancount, 1);
	assert_int_equal(r.nscount, 1);
	assert_int_equal(buf[r.rr[0].rr_off], 0xc0);
	assert_int_equal(buf[r.rr[0].rr_off + 1], 12);
	/* a builder too small sets TC and keeps whole records only */
	dns_b_init(&b, buf, 60, 7, DNS_F_QR);
	dns_b_question(&b, &q, DNS_T_PTR, DNS_CLASS_IN);
	dns_b_rr_name(&b, DNS_S_AN, &q, DNS_T_PTR, 600, &t);
	n = dns_b_finish(&b, 0);
	assert_true(dns_get16(buf + 2) & DNS_F_TC);
	assert_int_equal(dns_parse_response(buf, n, &r), 0);
	assert_int_equal(r.ancount, 0);
}

static void
make_zone(struct zone *z)
{
	zone_init(z);
	assert_int_equal(zone_add_host(z, "alpha.tail.example.", "100.64.0.2"), 0);
	assert_int_equal(zone_add_host(z, "alpha.tail.example.",
	    "fd7a:115c:a1e0::2"), 0);
	assert_int_equal(zone_add_host(z, "db.svc.tail.example", "100.64.0.9"), 0);
	assert_int_equal(zone_add_search(z, "tail.example"), 0);
	assert_int_equal(zone_add_route(z, "tail.example.", NULL), 0);
	assert_int_equal(zone_add_route(z, "home.arpa", "192.0.2.53"), 0);
	assert_int_equal(zone_add_route(z, "x.home.arpa", "192.0.2.54:5353"), 0);
	z->proxied = true;
	assert_int_equal(zone_finish(z), 0);
}

static unsigned
ask(const struct zone *z, const char *name, uint16_t type, struct dns_resp *r,
    enum answer_kind *kind)
{
	static uint8_t m[512], out[4096];
	const struct zone_route *rt;
	struct dns_query q;
	size_t n = query(m, name, type, true), len = 0;

	assert_int_equal(dns_parse_query(m, n, &q), 0);
	*kind = answer_local(z, &q, out, sizeof(out), &len, &rt);
	if (*kind != ANSWER_DONE)
		return 0;
	assert_int_equal(dns_parse_response(out, len, r), 0);
	return r->flags & DNS_F_RCODE;
}

static void
test_answers(void **state)
{
	static struct dns_resp r;
	struct zone z;
	enum answer_kind k;

	(void)state;
	make_zone(&z);
	assert_int_equal(ask(&z, "ALPHA.tail.example", DNS_T_A, &r, &k), 0);
	assert_int_equal(r.ancount, 1);
	assert_true(r.flags & DNS_F_AA);
	assert_int_equal(ask(&z, "alpha", DNS_T_AAAA, &r, &k), 0);
	assert_int_equal(r.ancount, 1);
	assert_int_equal(r.rr[0].type, DNS_T_AAAA);
	/* NODATA: exists, no such type, SOA in authority */
	assert_int_equal(ask(&z, "alpha.tail.example", DNS_T_MX, &r, &k), 0);
	assert_int_equal(r.ancount, 0);
	assert_true(r.soa >= 0);
	/* empty non-terminal: NODATA, not NXDOMAIN */
	assert_int_equal(ask(&z, "svc.tail.example", DNS_T_A, &r, &k), 0);
	assert_int_equal(r.ancount, 0);
	assert_int_equal(ask(&z, "nope.tail.example", DNS_T_A, &r, &k),
	    DNS_RCODE_NXDOMAIN);
	assert_true(r.soa >= 0);
	assert_int_equal(ask(&z, "2.0.64.100.in-addr.arpa", DNS_T_PTR, &r, &k), 0);
	assert_int_equal(r.ancount, 1);
	assert_int_equal(ask(&z, "3.0.64.100.in-addr.arpa", DNS_T_PTR, &r, &k),
	    DNS_RCODE_NXDOMAIN);
	assert_int_equal(ask(&z, "2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.e."
	    "1.a.c.5.1.1.a.7.d.f.ip6.arpa", DNS_T_PTR, &r, &k), 0);
	assert_int_equal(r.ancount, 1);
	/* not ours: forwarded */
	ask(&z, "www.home.arpa", DNS_T_A, &r, &k);
	assert_int_equal(k, ANSWER_FORWARD);
	ask(&z, "example.com", DNS_T_A, &r, &k);
	assert_int_equal(k, ANSWER_FORWARD);
	zone_free(&z);
}

static void
test_longest_suffix(void **state)
{
	struct zone z;
	struct dns_name nm;
	const struct zone_route *rt;

	(void)state;
	make_zone(&z);
	dns_name_from_text("a.x.home.arpa", &nm);
	rt = zone_route(&z, &nm);
	assert_non_null(rt);
	assert_int_equal(rt->suffix.nlabels, 3);
	dns_name_from_text("a.y.home.arpa", &nm);
	assert_int_equal(zone_route(&z, &nm)->suffix.nlabels, 2);
	dns_name_from_text("xhome.arpa", &nm);
	assert_null(zone_route(&z, &nm));
	zone_free(&z);
}

static void
test_cache_ttl_and_negative(void **state)
{
	static struct cache c;
	static struct dns_resp r;
	uint8_t m[512], out[512];
	struct dns_builder b;
	struct dns_query q;
	struct dns_name zone;
	uint8_t a[4] = { 192, 0, 2, 7 };
	size_t n, qn;

	(void)state;
	cache_init(&c);
	qn = query(m, "www.home.arpa", DNS_T_A, false);
	assert_int_equal(dns_parse_query(m, qn, &q), 0);
	dns_b_init(&b, m, sizeof(m), 99, DNS_F_QR | DNS_F_RA);
	dns_b_question(&b, &q.qname, DNS_T_A, DNS_CLASS_IN);
	dns_b_rr(&b, DNS_S_AN, &q.qname, DNS_T_A, 300, a, 4);
	dns_b_opt(&b, 1232, 0, false);
	n = dns_b_finish(&b, 0);
	assert_int_equal(dns_parse_response(m, n, &r), 0);
	cache_put(&c, &q, m, n, &r, 1000);
	/* 100 s later: TTL 200, client's ID, OPT stripped for a non-EDNS client */
	n = cache_get(&c, &q, out, sizeof(out), 101000);
	assert_true(n > 0);
	assert_int_equal(dns_parse_response(out, n, &r), 0);
	assert_int_equal(r.id, 0xbeef);
	assert_int_equal(r.rr[0].ttl, 200);
	assert_int_equal(r.opt, -1);
	assert_int_equal(cache_get(&c, &q, out, sizeof(out), 301001), 0);
	/* NXDOMAIN: cached for min(SOA TTL, MINIMUM) */
	dns_name_from_text("home.arpa", &zone);
	dns_b_init(&b, m, sizeof(m), 99, DNS_F_QR | DNS_RCODE_NXDOMAIN);
	dns_b_question(&b, &q.qname, DNS_T_A, DNS_CLASS_IN);
	dns_b_rr_soa(&b, DNS_S_NS, &zone, 3600, 30);
	n = dns_b_finish(&b, DNS_RCODE_NXDOMAIN);
	assert_int_equal(dns_parse_response(m, n, &r), 0);
	cache_put(&c, &q, m, n, &r, 1000);
	assert_true(cache_get(&c, &q, out, sizeof(out), 30000) > 0);
	assert_int_equal(cache_get(&c, &q, out, sizeof(out), 31001), 0);
	/* no SOA: not cached */
	dns_b_init(&b, m, sizeof(m), 99, DNS_F_QR);
	dns_b_question(&b, &q.qname, DNS_T_A, DNS_CLASS_IN);
	n = dns_b_finish(&b, DNS_RCODE_NXDOMAIN);
	assert_int_equal(dns_parse_response(m, n, &r), 0);
	cache_put(&c, &q, m, n, &r, 1000);
	assert_int_equal(cache_get(&c, &q, out, sizeof(out), 1001), 0);
	cache_clear(&c);
}

static void
expect_error(const char *json, const char *msg)
{
	struct zone z;
	char err[512];

	zone_init(&z);
	assert_int_equal(dnsconf_parse(json, strlen(json), &z, err,
	    sizeof(err)), -EINVAL);
	if (strstr(err, msg) == NULL)
		fail_msg("error '%s' does not contain '%s'", err, msg);
	zone_free(&z);
}

static void
test_config_file(void **state)
{
	static const char ok[] =
	    "{\"Resolvers\": [{\"Addr\": \"192.0.2.1\"}],\n"
	    " \"Routes\": {\"home.arpa.\": [{\"Addr\": \"[2001:db8::1]:5353\"}],"
	    " \"tail.example.\": []},\n"
	    " \"Domains\": [\"tail.example\"], \"Proxied\": true,\n"
	    " \"ExtraRecords\": [{\"Name\": \"x.tail.example\", \"Type\": \"A\","
	    " \"Value\": \"100.64.0.5\"}],\n"
	    " \"Hosts\": {\"a.tail.example.\": [\"100.64.0.2\"]}}";
	struct zone z;
	char err[512];

	(void)state;
	zone_init(&z);
	assert_int_equal(dnsconf_parse(ok, sizeof(ok) - 1, &z, err,
	    sizeof(err)), 0);
	assert_int_equal(z.nhosts, 2);
	assert_int_equal(z.ndefaults, 1);
	assert_true(z.proxied);
	zone_free(&z);
	expect_error("{\"Domains\": [\"a\"],\n \"Resolvers\": [{\"Addr\": 5}]",
	    "line 2");
	expect_error("{\"Routes\": {\"home.arpa.\": [{\"Addr\": \"nope\"}]}}",
	    "Routes[\"home.arpa.\"][0].Addr: \"nope\"");
	expect_error("{\"Routes\": {\"x.\": [{\"Addr\": \"https://d/q\"}]}}",
	    "not supported");
	expect_error("{\"Resolvers\": [{\"Addr\": \"100.100.100.100\"}]}",
	    "quad-100");
	expect_error("{\"Hosts\": {\"a.b.\": [\"300.1.1.1\"]}}",
	    "Hosts[\"a.b.\"][0]");
	expect_error("{\"ExtraRecords\": [{\"Name\": \"a.\", \"Type\": \"AAAA\","
	    " \"Value\": \"1.2.3.4\"}]}", "ExtraRecords[0].Value");
	expect_error("{\"Bogus\": 1}", "unknown field \"Bogus\"");
	expect_error("[1]", "one JSON object");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_parse_query_strict),
		cmocka_unit_test(test_compression_loops_rejected),
		cmocka_unit_test(test_builder_compresses),
		cmocka_unit_test(test_answers),
		cmocka_unit_test(test_longest_suffix),
		cmocka_unit_test(test_cache_ttl_and_negative),
		cmocka_unit_test(test_config_file),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
