#include <arpa/inet.h>
#include <string.h>

#include "answer.h"

/* Reverse zones MagicDNS answers (tailscale net/dns): 100.64.0.0/10 and
 * fd7a:115c:a1e0::/48. */
static const uint8_t ts6_prefix[6] = { 0xfd, 0x7a, 0x11, 0x5c, 0xa1, 0xe0 };

size_t
answer_limit(const struct dns_query *q, bool tcp)
{
	size_t lim;

	if (tcp)
		return DNS_TCP_MAX;
	lim = q->edns ? q->udp_size : DNS_UDP_MIN;
	return lim > DNS_EDNS_SIZE ? DNS_EDNS_SIZE : lim;
}

static void
begin(struct dns_builder *b, const struct dns_query *q, uint8_t *out,
    size_t cap, bool aa)
{
	/* Room for our OPT is kept back so it always fits (RFC 6891 7). */
	size_t room = q->edns && cap >= 11 ? cap - 11 : cap;

	dns_b_init(b, out, room, q->id, (uint16_t)(dns_reply_flags(q) |
	    DNS_F_RA | (aa ? DNS_F_AA : 0)));
	dns_b_question(b, &q->qname, q->qtype, q->qclass);
}

static size_t
end(struct dns_builder *b, const struct dns_query *q, size_t cap,
    unsigned rcode)
{
	if (q->edns) {
		b->cap = cap;
		dns_b_opt(b, DNS_EDNS_SIZE, (uint8_t)(rcode >> 4), q->do_bit);
	}
	return dns_b_finish(b, rcode & 0xf);
}

size_t
answer_error(const struct dns_query *q, bool has_question, unsigned rcode,
    uint8_t *out, size_t cap)
{
	struct dns_builder b;

	dns_b_init(&b, out, q->edns && cap >= 11 ? cap - 11 : cap, q->id,
	    (uint16_t)(dns_reply_flags(q) | DNS_F_RA));
	if (has_question)
		dns_b_question(&b, &q->qname, q->qtype, q->qclass);
	return end(&b, q, cap, rcode);
}

static void
host_records(struct dns_builder *b, const struct dns_query *q,
    const struct zone_host *h, unsigned *n)
{
	bool any = q->qtype == DNS_T_ANY;

	if (q->qtype == DNS_T_A || any)
		for (unsigned i = 0; i < h->n4; i++, (*n)++)
			dns_b_rr(b, DNS_S_AN, &q->qname, DNS_T_A, ZONE_TTL,
			    h->a4[i], 4);
	if (q->qtype == DNS_T_AAAA || any)
		for (unsigned i = 0; i < h->n6; i++, (*n)++)
			dns_b_rr(b, DNS_S_AN, &q->qname, DNS_T_AAAA, ZONE_TTL,
			    h->a6[i], 16);
}

/* Positive answer or NODATA for a host; the zone gives the SOA. */
static size_t
answer_host(const struct dns_query *q, const struct zone_host *h,
    const struct dns_name *zone, uint8_t *out, size_t cap)
{
	struct dns_builder b;
	unsigned n = 0;

	begin(&b, q, out, cap, true);
	host_records(&b, q, h, &n);
	if (n == 0)
		dns_b_rr_soa(&b, DNS_S_NS, zone, ZONE_NEG_TTL, ZONE_NEG_TTL);
	return end(&b, q, cap, DNS_RCODE_NOERROR);
}

static size_t
answer_negative(const struct dns_query *q, const struct dns_name *zone,
    unsigned rcode, uint8_t *out, size_t cap)
{
	struct dns_builder b;

	begin(&b, q, out, cap, true);
	/* The apex has the SOA we give in negative answers: serve it. */
	if (rcode == DNS_RCODE_NOERROR && dns_name_eq(&q->qname, zone) &&
	    (q->qtype == DNS_T_SOA || q->qtype == DNS_T_ANY)) {
		dns_b_rr_soa(&b, DNS_S_AN, zone, ZONE_NEG_TTL, ZONE_NEG_TTL);
		return end(&b, q, cap, rcode);
	}
	dns_b_rr_soa(&b, DNS_S_NS, zone, ZONE_NEG_TTL, ZONE_NEG_TTL);
	return end(&b, q, cap, rcode);
}

static int
hexval(uint8_t c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (uint8_t)(c | 0x20);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* "d.c.b.a.in-addr.arpa." -> a.b.c.d; 0 or -1. */
static int
parse_rev4(const struct dns_name *nm, uint8_t a[4])
{
	size_t p = 0;

	for (int i = 3; i >= 0; i--) {
		uint8_t l = nm->wire[p];
		unsigned v = 0;
		if (l == 0 || l > 3)
			return -1;
		for (uint8_t j = 1; j <= l; j++) {
			uint8_t c = nm->wire[p + j];
			if (c < '0' || c > '9' || (j == 1 && c == '0' && l > 1))
				return -1;
			v = v * 10 + (unsigned)(c - '0');
		}
		if (v > 255)
			return -1;
		a[i] = (uint8_t)v;
		p += 1 + l;
	}
	return 0;
}

static int
parse_rev6(const struct dns_name *nm, uint8_t a[16])
{
	for (int i = 0; i < 32; i++) {
		int v;
		if (nm->wire[2 * i] != 1 || (v = hexval(nm->wire[2 * i + 1])) < 0)
			return -1;
		int nib = 31 - i;
		if (nib & 1)
			a[nib / 2] = (uint8_t)((a[nib / 2] & 0xf0) | v);
		else
			a[nib / 2] = (uint8_t)((a[nib / 2] & 0x0f) | v << 4);
	}
	return 0;
}

static const struct dns_name rev4_zone_parent = {
	14, 2, "\007in-addr\004arpa" };
static const struct dns_name rev6_zone_parent = {
	10, 2, "\003ip6\004arpa" };

/* The MagicDNS reverse zone containing nm, if any: "<n>.100.in-addr.arpa."
 * for n in 64..127, or the fd7a:115c:a1e0::/48 nibble zone. */
static bool
magic_rev_zone(const struct dns_name *nm, struct dns_name *zone)
{
	if (dns_name_under(nm, &rev4_zone_parent) && nm->nlabels >= 4) {
		struct dns_name z;
		unsigned v = 0;

		dns_name_parent(nm, (unsigned)(nm->nlabels - 4), &z);
		/* z = "<n>.100.in-addr.arpa." */
		if (z.wire[0] > 3 || z.wire[1 + z.wire[0]] != 3 ||
		    memcmp(z.wire + 2 + z.wire[0], "100", 3) != 0)
			return false;
		for (uint8_t j = 1; j <= z.wire[0]; j++) {
			if (z.wire[j] < '0' || z.wire[j] > '9')
				return false;
			v = v * 10 + (unsigned)(z.wire[j] - '0');
		}
		if (v < 64 || v > 127)
			return false;
		*zone = z;
		return true;
	}
	if (dns_name_under(nm, &rev6_zone_parent) && nm->nlabels >= 14) {
		static const struct dns_name z6 = { 34, 14,
		    "\0010\001e\0011\001a\001c\0015\0011\0011\001a\0017\001d"
		    "\001f\003ip6\004arpa" };
		if (!dns_name_under(nm, &z6))
			return false;
		*zone = z6;
		return true;
	}
	return false;
}

static size_t
answer_ptr(const struct zone *z, const struct dns_query *q,
    const struct dns_name *zone, uint8_t *out, size_t cap)
{
	const struct zone_host *h = NULL;
	struct dns_builder b;
	uint8_t a[16] = { 0 };
	bool full4 = q->qname.nlabels == 6, full6 = q->qname.nlabels == 34;

	if (full4 && parse_rev4(&q->qname, a) == 0)
		h = zone_ptr(z, AF_INET, a);
	else if (full6 && parse_rev6(&q->qname, a) == 0 &&
	    memcmp(a, ts6_prefix, 6) == 0)
		h = zone_ptr(z, AF_INET6, a);
	else if (full4 || full6)
		return answer_negative(q, zone, DNS_RCODE_NXDOMAIN, out, cap);
	else	/* an ancestor inside the zone: exists, has no records */
		return answer_negative(q, zone, DNS_RCODE_NOERROR, out, cap);
	if (h == NULL)
		return answer_negative(q, zone, DNS_RCODE_NXDOMAIN, out, cap);
	if (q->qtype != DNS_T_PTR && q->qtype != DNS_T_ANY)
		return answer_negative(q, zone, DNS_RCODE_NOERROR, out, cap);
	begin(&b, q, out, cap, true);
	dns_b_rr_name(&b, DNS_S_AN, &q->qname, DNS_T_PTR, ZONE_TTL, &h->name);
	return end(&b, q, cap, DNS_RCODE_NOERROR);
}

/* A single-label name through the search domains. */
static const struct zone_host *
search_host(const struct zone *z, const struct dns_name *nm,
    struct dns_name *zone_out)
{
	for (unsigned i = 0; i < z->nsearch; i++) {
		struct dns_name full;
		const struct zone_host *h;
		if (dns_name_concat(nm, &z->search[i], &full) < 0)
			continue;
		if ((h = zone_host(z, &full)) != NULL) {
			const struct zone_route *rt = zone_route(z, &full);
			*zone_out = rt ? rt->suffix : z->search[i];
			return h;
		}
	}
	return NULL;
}

enum answer_kind
answer_local(const struct zone *z, const struct dns_query *q, uint8_t *out,
    size_t cap, size_t *outlen, const struct zone_route **route)
{
	const struct zone_host *h;
	const struct zone_route *rt;
	struct dns_name zone;
	bool in_class = q->qclass == DNS_CLASS_IN || q->qclass == DNS_CLASS_ANY;

	*route = NULL;
	if (in_class && (h = zone_host(z, &q->qname)) != NULL) {
		rt = zone_route(z, &q->qname);
		*outlen = answer_host(q, h, rt ? &rt->suffix : &h->name, out,
		    cap);
		return ANSWER_DONE;
	}
	if (q->qtype == DNS_T_AXFR || q->qtype == 251 /* IXFR */) {
		*outlen = answer_error(q, true, DNS_RCODE_REFUSED, out, cap);
		return ANSWER_DONE;
	}
	if (in_class && z->proxied && magic_rev_zone(&q->qname, &zone)) {
		*outlen = answer_ptr(z, q, &zone, out, cap);
		return ANSWER_DONE;
	}
	if (in_class && q->qname.nlabels == 1 &&
	    (h = search_host(z, &q->qname, &zone)) != NULL) {
		*outlen = answer_host(q, h, &zone, out, cap);
		return ANSWER_DONE;
	}
	rt = zone_route(z, &q->qname);
	if (rt != NULL && rt->nup == 0) {
		if (!in_class)
			*outlen = answer_error(q, true, DNS_RCODE_REFUSED, out,
			    cap);
		else
			*outlen = answer_negative(q, &rt->suffix,
			    zone_name_exists(z, &q->qname) ||
			    dns_name_eq(&q->qname, &rt->suffix) ?
			    DNS_RCODE_NOERROR : DNS_RCODE_NXDOMAIN, out, cap);
		return ANSWER_DONE;
	}
	*route = rt;
	return ANSWER_FORWARD;
}
