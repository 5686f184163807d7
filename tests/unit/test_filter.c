/*
 * netd's tailnet packet filter (netd/filter.c) on hand-built packets: what
 * a rule opens, and the replies that pass without one (TCP non-SYN, ICMP
 * echo replies, UDP replies to flows this node sent).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "filter.h"
#include "ctrld_to_netd.pb-c.h"

static const uint8_t A[4] = { 100, 64, 0, 1 }, B[4] = { 100, 64, 0, 2 };

/* IPv4 header + transport bytes. */
static size_t
ip4(uint8_t *p, uint8_t proto, const uint8_t src[4], const uint8_t dst[4],
    const uint8_t *l4, size_t l4len)
{
	memset(p, 0, 20);
	p[0] = 0x45;
	p[2] = (uint8_t)((20 + l4len) >> 8);
	p[3] = (uint8_t)(20 + l4len);
	p[8] = 64;
	p[9] = proto;
	memcpy(p + 12, src, 4);
	memcpy(p + 16, dst, 4);
	memcpy(p + 20, l4, l4len);
	return 20 + l4len;
}

static size_t
tcp(uint8_t *p, const uint8_t *src, const uint8_t *dst, uint16_t dport,
    uint8_t flags)
{
	uint8_t h[20] = { 0x9c, 0x40, (uint8_t)(dport >> 8), (uint8_t)dport };

	h[12] = 0x50;
	h[13] = flags;
	return ip4(p, 6, src, dst, h, sizeof(h));
}

static size_t
udp(uint8_t *p, const uint8_t *src, const uint8_t *dst, uint16_t sport,
    uint16_t dport)
{
	uint8_t h[8] = { (uint8_t)(sport >> 8), (uint8_t)sport,
	    (uint8_t)(dport >> 8), (uint8_t)dport, 0, 8 };

	return ip4(p, 17, src, dst, h, sizeof(h));
}

static size_t
icmp(uint8_t *p, const uint8_t *src, const uint8_t *dst, uint8_t type)
{
	uint8_t h[8] = { type };

	return ip4(p, 1, src, dst, h, sizeof(h));
}

/* One rule: from A to B's port 22, TCP only (IPProto 6). */
static void
load_ssh_rule(struct filter *f)
{
	Pm__FilterDst d = PM__FILTER_DST__INIT, *dp = &d;
	Pm__FilterRule r = PM__FILTER_RULE__INIT, *rp = &r;
	Pm__FilterUpdate u = PM__FILTER_UPDATE__INIT;
	char *src[] = { "100.64.0.1/32" };
	uint32_t proto[] = { 6 };

	d.prefix = "100.64.0.2/32";
	d.first = d.last = 22;
	r.src = src;
	r.n_src = 1;
	r.dst = &dp;
	r.n_dst = 1;
	r.proto = proto;
	r.n_proto = 1;
	u.generation = 1;
	u.rules = &rp;
	u.n_rules = 1;
	assert_int_equal(filter_update(f, &u), 0);
}

static void
test_filter(void **state)
{
	static struct filter f;
	uint8_t p[64];
	size_t n;

	(void)state;
	/* Off until the first rule set: everything passes. */
	n = tcp(p, B, A, 22, 0x02);
	assert_true(filter_in(&f, p, n));
	load_ssh_rule(&f);
	/* A -> B:22 SYN is what the rule opens; :23 and B -> A are not. */
	n = tcp(p, A, B, 22, 0x02);
	assert_true(filter_in(&f, p, n));
	n = tcp(p, A, B, 23, 0x02);
	assert_false(filter_in(&f, p, n));
	n = tcp(p, B, A, 22, 0x02);
	assert_false(filter_in(&f, p, n));
	/* Without a bare SYN: a reply to our own connection. */
	n = tcp(p, B, A, 40000, 0x12);
	assert_true(filter_in(&f, p, n));
	n = tcp(p, B, A, 40000, 0x10);
	assert_true(filter_in(&f, p, n));
	/* ICMP: the rule is TCP only; echo replies and errors pass. */
	n = icmp(p, B, A, 8);
	assert_false(filter_in(&f, p, n));
	n = icmp(p, B, A, 0);
	assert_true(filter_in(&f, p, n));
	n = icmp(p, B, A, 3);
	assert_true(filter_in(&f, p, n));
	/* UDP: refused until this node sent the flow; then its replies. */
	n = udp(p, B, A, 53, 5353);
	assert_false(filter_in(&f, p, n));
	n = udp(p, A, B, 5353, 53);
	filter_out(&f, p, n);
	n = udp(p, B, A, 53, 5353);
	assert_true(filter_in(&f, p, n));
	n = udp(p, B, A, 54, 5353);
	assert_false(filter_in(&f, p, n));
	/* Truncated and non-IP packets are dropped once a filter is on. */
	assert_false(filter_in(&f, p, 10));
	p[0] = 0x20;
	assert_false(filter_in(&f, p, 40));
	assert_int_equal(f.dropped, 7);
	filter_free(&f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_filter),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
