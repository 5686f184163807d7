/*
 * dnsd's handling of untrusted DNS bytes: a query as a client sends it
 * (parsed, then answered from a small tailnet model, or an error built),
 * and the same bytes as an upstream response (parsed, cached, served from
 * the cache).  Every reply built must itself parse as a response.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "answer.h"
#include "cache.h"
#include "msg.h"
#include "zone.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct zone z;
static struct cache c;
static struct dns_resp resp;

static void
setup(void)
{
	static int done;

	if (done++)
		return;
	zone_init(&z);
	zone_add_host(&z, "alpha.tail.example.", "100.64.0.2");
	zone_add_host(&z, "alpha.tail.example.", "fd7a:115c:a1e0::2");
	zone_add_host(&z, "db.svc.tail.example", "100.64.0.9");
	zone_add_search(&z, "tail.example");
	zone_add_route(&z, "tail.example.", NULL);
	zone_add_route(&z, "home.arpa", "192.0.2.53");
	z.proxied = true;
	if (zone_finish(&z) < 0)
		__builtin_trap();
	cache_init(&c);
}

static void
check_reply(const uint8_t *out, size_t n, size_t cap)
{
	if (n > cap)
		__builtin_trap();
	if (n > 0 && dns_parse_response(out, n, &resp) < 0 &&
	    dns_get16(out + 4) != 0)
		__builtin_trap();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t out[DNS_TCP_MAX];
	const struct zone_route *rt;
	struct dns_query q;
	size_t n = 0, cap;
	int r;

	setup();
	r = dns_parse_query(data, size, &q);
	if (r == 0) {
		for (int tcp = 0; tcp < 2; tcp++) {
			cap = answer_limit(&q, tcp);
			if (answer_local(&z, &q, out, cap, &n, &rt) == ANSWER_DONE)
				check_reply(out, n, cap);
		}
	} else if (r != DNS_PARSE_DROP) {
		n = answer_error(&q, false, (unsigned)-r, out, DNS_UDP_MIN);
		check_reply(out, n, DNS_UDP_MIN);
	}
	/* The same bytes as an upstream answer. */
	if (dns_parse_response(data, size, &resp) == 0) {
		struct dns_query rq;
		memset(&rq, 0, sizeof(rq));
		rq.qname = resp.qname;
		rq.qtype = resp.qtype;
		rq.qclass = resp.qclass;
		rq.edns = size & 1;
		cache_clear(&c);	/* the check below is about this input */
		cache_put(&c, &rq, data, size, &resp, 1000);
		n = cache_get(&c, &rq, out, sizeof(out), 2000);
		if (n > size)
			__builtin_trap();
	}
	return 0;
}
