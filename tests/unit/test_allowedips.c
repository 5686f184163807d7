/* Cryptokey routing: longest-prefix match, ownership, removal. */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <cmocka.h>

#include "allowedips.h"

static int peers[64];
#define A	(&peers[0])
#define B	(&peers[1])
#define C	(&peers[2])
#define D	(&peers[3])
#define E	(&peers[4])

static void
ins(struct allowedips *t, const char *ip, uint8_t cidr, void *peer)
{
	uint8_t a[16];
	int family = strchr(ip, ':') ? AF_INET6 : AF_INET;

	assert_int_equal(inet_pton(family, ip, a), 1);
	assert_int_equal(allowedips_insert(t, family, a, cidr, peer), 0);
}

static int
rm(struct allowedips *t, const char *ip, uint8_t cidr)
{
	uint8_t a[16];
	int family = strchr(ip, ':') ? AF_INET6 : AF_INET;

	assert_int_equal(inet_pton(family, ip, a), 1);
	return allowedips_remove(t, family, a, cidr);
}

static void *
look(const struct allowedips *t, const char *ip)
{
	uint8_t a[16];
	int family = strchr(ip, ':') ? AF_INET6 : AF_INET;

	assert_int_equal(inet_pton(family, ip, a), 1);
	return allowedips_lookup(t, family, a);
}

/* Collects a peer's prefixes as "addr/cidr" lines. */
struct collect {
	char	text[4096];
	size_t	n;
	size_t	stop_after;	/* 0: never stop */
};

static int
collect_cb(int family, const uint8_t *addr, uint8_t cidr, void *arg)
{
	struct collect *c = arg;
	char ip[INET6_ADDRSTRLEN];
	size_t len = strlen(c->text);

	assert_non_null(inet_ntop(family, addr, ip, sizeof(ip)));
	snprintf(c->text + len, sizeof(c->text) - len, "%s/%u\n", ip, cidr);
	c->n++;
	return c->stop_after != 0 && c->n == c->stop_after ? 7 : 0;
}

static void
test_v4_nested(void **state)
{
	struct allowedips t = ALLOWEDIPS_INIT;

	(void)state;
	ins(&t, "10.1.2.0", 24, D);
	ins(&t, "10.0.0.0", 8, B);
	ins(&t, "10.1.2.3", 32, E);
	ins(&t, "10.1.0.0", 16, C);
	ins(&t, "0.0.0.0", 0, A);
	assert_ptr_equal(look(&t, "10.1.2.3"), E);
	assert_ptr_equal(look(&t, "10.1.2.4"), D);
	assert_ptr_equal(look(&t, "10.1.3.1"), C);
	assert_ptr_equal(look(&t, "10.2.0.0"), B);
	assert_ptr_equal(look(&t, "11.0.0.0"), A);
	assert_ptr_equal(look(&t, "255.255.255.255"), A);
	assert_int_equal(rm(&t, "10.1.2.0", 24), 0);
	assert_ptr_equal(look(&t, "10.1.2.4"), C);
	assert_ptr_equal(look(&t, "10.1.2.3"), E);
	assert_int_equal(rm(&t, "10.1.0.0", 16), 0);
	assert_ptr_equal(look(&t, "10.1.2.4"), B);
	assert_int_equal(rm(&t, "10.1.0.0", 16), -ENOENT);
	allowedips_clear(&t);
	assert_null(look(&t, "10.1.2.3"));
}

static void
test_v6_nested(void **state)
{
	struct allowedips t = ALLOWEDIPS_INIT;

	(void)state;
	ins(&t, "2001:db8::", 32, B);
	ins(&t, "2001:db8:1::1", 128, D);
	ins(&t, "2001:db8:1::", 48, C);
	ins(&t, "fd7a:115c:a1e0::", 48, E);
	assert_ptr_equal(look(&t, "2001:db8:1::1"), D);
	assert_ptr_equal(look(&t, "2001:db8:1::2"), C);
	assert_ptr_equal(look(&t, "2001:db8:2::1"), B);
	assert_ptr_equal(look(&t, "fd7a:115c:a1e0:ab12::1"), E);
	assert_null(look(&t, "2001:db9::1"));
	assert_null(look(&t, "::"));
	/* The families are separate tables. */
	assert_null(look(&t, "32.1.13.184"));
	ins(&t, "::", 0, A);
	assert_ptr_equal(look(&t, "2001:db9::1"), A);
	assert_null(look(&t, "32.1.13.184"));
	allowedips_clear(&t);
}

static void
test_default_routes(void **state)
{
	struct allowedips t;

	(void)state;
	allowedips_init(&t);
	assert_null(look(&t, "0.0.0.0"));
	ins(&t, "0.0.0.0", 0, A);
	ins(&t, "::", 0, B);
	assert_ptr_equal(look(&t, "0.0.0.0"), A);
	assert_ptr_equal(look(&t, "203.0.113.9"), A);
	assert_ptr_equal(look(&t, "ffff:ffff::"), B);
	assert_ptr_equal(look(&t, "::1"), B);
	/* A /0 with host bits set is still the default route. */
	ins(&t, "192.0.2.1", 0, C);
	assert_ptr_equal(look(&t, "1.2.3.4"), C);
	assert_int_equal(rm(&t, "8.8.8.8", 0), 0);
	assert_null(look(&t, "1.2.3.4"));
	assert_ptr_equal(look(&t, "::1"), B);
	assert_int_equal(rm(&t, "::", 0), 0);
	assert_null(look(&t, "::1"));
	assert_null(t.root4);
	assert_null(t.root6);
}

static void
test_host_bits_masked(void **state)
{
	struct allowedips t = ALLOWEDIPS_INIT;
	struct collect c = { .n = 0 };

	(void)state;
	ins(&t, "10.1.2.3", 8, A);
	ins(&t, "192.168.77.129", 25, A);
	ins(&t, "2001:db8:ffff:ffff::1", 33, A);
	ins(&t, "2001:db8::1:2:3:4", 127, A);
	assert_int_equal(allowedips_walk_by_peer(&t, A, collect_cb, &c), 0);
	/* Address order: 2001:db8:0:... sorts before 2001:db8:8000::. */
	assert_string_equal(c.text, "10.0.0.0/8\n192.168.77.128/25\n"
	    "2001:db8::1:2:3:4/127\n2001:db8:8000::/33\n");
	assert_ptr_equal(look(&t, "10.200.0.1"), A);
	assert_null(look(&t, "192.168.77.127"));
	assert_ptr_equal(look(&t, "2001:db8::1:2:3:5"), A);
	/* Removal ignores host bits the same way. */
	assert_int_equal(rm(&t, "10.9.9.9", 8), 0);
	assert_null(look(&t, "10.200.0.1"));
	allowedips_clear(&t);
}

static void
test_replace_owner(void **state)
{
	struct allowedips t = ALLOWEDIPS_INIT;
	struct collect ca = { .n = 0 }, cb = { .n = 0 };

	(void)state;
	ins(&t, "10.0.0.0", 8, A);
	ins(&t, "10.0.0.0", 8, B);
	assert_ptr_equal(look(&t, "10.1.1.1"), B);
	assert_int_equal(allowedips_walk_by_peer(&t, A, collect_cb, &ca), 0);
	assert_int_equal(allowedips_walk_by_peer(&t, B, collect_cb, &cb), 0);
	assert_int_equal(ca.n, 0);
	assert_string_equal(cb.text, "10.0.0.0/8\n");
	/* A glue node's prefix becomes a real entry when inserted. */
	ins(&t, "10.0.0.0", 24, C);
	ins(&t, "10.0.1.0", 24, D);
	assert_int_equal(rm(&t, "10.0.0.0", 23), -ENOENT);
	ins(&t, "10.0.0.0", 23, E);
	assert_ptr_equal(look(&t, "10.0.1.1"), D);
	assert_ptr_equal(look(&t, "10.0.0.1"), C);
	assert_int_equal(rm(&t, "10.0.0.0", 24), 0);
	assert_ptr_equal(look(&t, "10.0.0.1"), E);
	allowedips_clear(&t);
}

static void
test_remove_by_peer(void **state)
{
	struct allowedips t = ALLOWEDIPS_INIT;
	struct collect c = { .n = 0 };

	(void)state;
	ins(&t, "10.0.0.0", 8, A);
	ins(&t, "10.1.0.0", 16, B);
	ins(&t, "10.1.1.0", 24, A);
	ins(&t, "10.1.1.1", 32, B);
	ins(&t, "10.128.0.0", 9, A);
	ins(&t, "fd00::", 8, A);
	ins(&t, "fd00:1::", 32, B);
	assert_int_equal(allowedips_remove_by_peer(&t, A), 4);
	assert_int_equal(allowedips_remove_by_peer(&t, A), 0);
	assert_null(look(&t, "10.2.0.0"));
	assert_ptr_equal(look(&t, "10.1.1.2"), B);
	assert_ptr_equal(look(&t, "10.1.1.1"), B);
	assert_null(look(&t, "10.200.0.1"));
	assert_null(look(&t, "fd00:2::1"));
	assert_ptr_equal(look(&t, "fd00:1::1"), B);
	assert_int_equal(allowedips_walk_by_peer(&t, B, collect_cb, &c), 0);
	assert_string_equal(c.text, "10.1.0.0/16\n10.1.1.1/32\nfd00:1::/32\n");
	assert_int_equal(allowedips_remove_by_peer(&t, B), 3);
	assert_null(t.root4);
	assert_null(t.root6);
}

static void
test_walk_stops(void **state)
{
	struct allowedips t = ALLOWEDIPS_INIT;
	struct collect c = { .stop_after = 2 };

	(void)state;
	ins(&t, "10.0.0.0", 8, A);
	ins(&t, "10.0.0.0", 16, A);
	ins(&t, "192.0.2.0", 24, A);
	assert_int_equal(allowedips_walk_by_peer(&t, A, collect_cb, &c), 7);
	assert_string_equal(c.text, "10.0.0.0/8\n10.0.0.0/16\n");
	allowedips_clear(&t);
}

static void
test_bad_arguments(void **state)
{
	struct allowedips t = ALLOWEDIPS_INIT;
	uint8_t a[16] = { 10 };

	(void)state;
	assert_int_equal(allowedips_insert(&t, AF_UNIX, a, 8, A),
	    -EAFNOSUPPORT);
	assert_int_equal(allowedips_insert(&t, AF_INET, a, 33, A), -EINVAL);
	assert_int_equal(allowedips_insert(&t, AF_INET6, a, 129, A), -EINVAL);
	assert_int_equal(allowedips_insert(&t, AF_INET, a, 8, NULL), -EINVAL);
	assert_int_equal(allowedips_remove(&t, AF_INET, a, 8), -ENOENT);
	assert_int_equal(allowedips_remove(&t, AF_INET, a, 40), -EINVAL);
	assert_int_equal(allowedips_remove(&t, AF_UNIX, a, 8), -EAFNOSUPPORT);
	assert_null(allowedips_lookup(&t, AF_UNIX, a));
	assert_int_equal(allowedips_remove_by_peer(&t, NULL), 0);
	assert_int_equal(allowedips_insert(&t, AF_INET, a, 8, A), 0);
	assert_int_equal(allowedips_remove(&t, AF_INET, a, 9), -ENOENT);
	assert_int_equal(allowedips_remove(&t, AF_INET, a, 7), -ENOENT);
	allowedips_clear(&t);
}

/*
 * Randomised comparison with a linear longest-prefix match.  Prefixes grow
 * from a few shared bases so that they nest and diverge at every depth.
 */
struct ref_entry {
	int	family;
	uint8_t	addr[16];
	uint8_t	cidr;
	void	*peer;
};

#define N_PREFIXES	1000
#define N_LOOKUPS	10000

static struct ref_entry ref[2 * N_PREFIXES];
static size_t n_ref;
static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t
next_rand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static void
mask(uint8_t *a, unsigned cidr, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (cidr <= 8 * i)
			a[i] = 0;
		else if (cidr < 8 * (i + 1))
			a[i] &= (uint8_t)(0xff00u >> (cidr - 8 * i));
	}
}

static bool
ref_matches(const struct ref_entry *e, const uint8_t *a)
{
	uint8_t m[16];
	size_t len = e->family == AF_INET ? 4 : 16;

	memcpy(m, a, len);
	mask(m, e->cidr, len);
	return memcmp(m, e->addr, len) == 0;
}

static void *
ref_lookup(int family, const uint8_t *a)
{
	const struct ref_entry *best = NULL;

	for (size_t i = 0; i < n_ref; i++) {
		const struct ref_entry *e = &ref[i];

		if (e->family == family && ref_matches(e, a) &&
		    (best == NULL || e->cidr > best->cidr))
			best = e;
	}
	return best != NULL ? best->peer : NULL;
}

static void
ref_insert(int family, const uint8_t *a, uint8_t cidr, void *peer)
{
	size_t len = family == AF_INET ? 4 : 16;

	for (size_t i = 0; i < n_ref; i++) {
		if (ref[i].family == family && ref[i].cidr == cidr &&
		    memcmp(ref[i].addr, a, len) == 0) {
			ref[i].peer = peer;
			return;
		}
	}
	ref[n_ref].family = family;
	memcpy(ref[n_ref].addr, a, len);
	ref[n_ref].cidr = cidr;
	ref[n_ref++].peer = peer;
}

static void
random_addr(int family, uint8_t *a)
{
	static const uint8_t bases[4][16] = {
		{ 10, 0, 0, 0 }, { 10, 128, 0, 0 }, { 192, 168, 1, 0 },
		{ 0x20, 0x01, 0x0d, 0xb8 },
	};
	size_t len = family == AF_INET ? 4 : 16;
	uint64_t r = next_rand();

	for (size_t i = 0; i < len; i++)
		a[i] = (uint8_t)(next_rand() >> 32);
	/* Three times in four, share a base's first bits. */
	if (r % 4 != 0) {
		size_t keep = 1 + (r >> 8) % (len - 1);

		memcpy(a, bases[(r >> 16) % 4], keep);
	}
}

static void
random_prefix(struct allowedips *t, int family)
{
	unsigned bits = family == AF_INET ? 32 : 128;
	uint8_t a[16];
	uint8_t cidr = (uint8_t)(next_rand() % (bits + 1));
	void *peer = &peers[next_rand() % 64];

	random_addr(family, a);
	assert_int_equal(allowedips_insert(t, family, a, cidr, peer), 0);
	mask(a, cidr, bits / 8);
	ref_insert(family, a, cidr, peer);
}

static uint8_t
netmask_byte(unsigned cidr, size_t i)
{
	if (cidr >= 8 * (i + 1))
		return 0xff;
	return cidr <= 8 * i ? 0 : (uint8_t)(0xff00u >> (cidr - 8 * i));
}

/* Half the lookups fall inside a known prefix, the rest anywhere. */
static void
compare_lookups(const struct allowedips *t)
{
	for (int i = 0; i < N_LOOKUPS; i++) {
		int family = i % 2 ? AF_INET6 : AF_INET;
		size_t len = family == AF_INET ? 4 : 16;
		const struct ref_entry *e = NULL;
		uint8_t a[16];

		random_addr(family, a);
		if (i % 4 < 2 && n_ref > 0)
			e = &ref[next_rand() % n_ref];
		for (size_t j = 0; e != NULL && e->family == family && j < len;
		    j++) {
			uint8_t m = netmask_byte(e->cidr, j);

			a[j] = (uint8_t)((e->addr[j] & m) | (a[j] & ~m));
		}
		assert_ptr_equal(allowedips_lookup(t, family, a),
		    ref_lookup(family, a));
	}
}

static int
count_cb(int family, const uint8_t *addr, uint8_t cidr, void *arg)
{
	(void)family;
	(void)addr;
	(void)cidr;
	(*(size_t *)arg)++;
	return 0;
}

static void
compare_walks(const struct allowedips *t)
{
	for (size_t p = 0; p < 64; p++) {
		size_t want = 0, got = 0;

		for (size_t i = 0; i < n_ref; i++)
			want += ref[i].peer == &peers[p];
		assert_int_equal(allowedips_walk_by_peer(t, &peers[p],
		    count_cb, &got), 0);
		assert_int_equal(got, want);
	}
}

static void
ref_remove_at(size_t i)
{
	ref[i] = ref[--n_ref];
}

static void
remove_some(struct allowedips *t)
{
	/* Some entries by exact prefix, then two whole peers. */
	for (size_t i = 0; i < n_ref; i += 2) {
		assert_int_equal(allowedips_remove(t, ref[i].family,
		    ref[i].addr, ref[i].cidr), 0);
		ref_remove_at(i);
	}
	for (int p = 0; p < 2; p++) {
		size_t want = 0;

		for (size_t i = n_ref; i-- > 0;) {
			if (ref[i].peer == &peers[p]) {
				ref_remove_at(i);
				want++;
			}
		}
		assert_int_equal(allowedips_remove_by_peer(t, &peers[p]), want);
	}
}

static void
test_random_vs_linear(void **state)
{
	struct allowedips t = ALLOWEDIPS_INIT;

	(void)state;
	n_ref = 0;
	for (int i = 0; i < N_PREFIXES; i++) {
		random_prefix(&t, AF_INET);
		random_prefix(&t, AF_INET6);
	}
	compare_lookups(&t);
	compare_walks(&t);
	remove_some(&t);
	compare_lookups(&t);
	compare_walks(&t);
	/* Refill, then empty the table one prefix at a time. */
	for (int i = 0; i < N_PREFIXES / 2; i++)
		random_prefix(&t, i % 2 ? AF_INET6 : AF_INET);
	compare_lookups(&t);
	while (n_ref > 0) {
		assert_int_equal(allowedips_remove(&t, ref[0].family,
		    ref[0].addr, ref[0].cidr), 0);
		ref_remove_at(0);
	}
	assert_null(t.root4);
	assert_null(t.root6);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_v4_nested),
		cmocka_unit_test(test_v6_nested),
		cmocka_unit_test(test_default_routes),
		cmocka_unit_test(test_host_bits_masked),
		cmocka_unit_test(test_replace_owner),
		cmocka_unit_test(test_remove_by_peer),
		cmocka_unit_test(test_walk_stops),
		cmocka_unit_test(test_bad_arguments),
		cmocka_unit_test(test_random_vs_linear),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
