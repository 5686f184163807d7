#include <stdlib.h>
#include <string.h>

#include "cache.h"

void
cache_init(struct cache *c)
{
	memset(c, 0, sizeof(*c));
}

static uint32_t
key_hash(const struct dns_name *nm, uint16_t type, uint16_t class, bool d)
{
	return dns_name_hash(nm) ^ ((uint32_t)type * 2654435761u) ^
	    ((uint32_t)class << 16) ^ (d ? 0x5bd1e995u : 0);
}

static void
lru_unlink(struct cache *c, struct cache_entry *e)
{
	if (e->lprev)
		e->lprev->lnext = e->lnext;
	else
		c->lru_head = e->lnext;
	if (e->lnext)
		e->lnext->lprev = e->lprev;
	else
		c->lru_tail = e->lprev;
	e->lprev = e->lnext = NULL;
}

static void
lru_push(struct cache *c, struct cache_entry *e)
{
	e->lprev = NULL;
	e->lnext = c->lru_head;
	if (c->lru_head)
		c->lru_head->lprev = e;
	c->lru_head = e;
	if (c->lru_tail == NULL)
		c->lru_tail = e;
}

static void
remove_entry(struct cache *c, struct cache_entry *e)
{
	struct cache_entry **pp = &c->buckets[e->hash & (CACHE_BUCKETS - 1)];

	while (*pp != e)
		pp = &(*pp)->hnext;
	*pp = e->hnext;
	lru_unlink(c, e);
	c->n--;
	free(e);
}

void
cache_clear(struct cache *c)
{
	while (c->lru_head)
		remove_entry(c, c->lru_head);
}

static struct cache_entry *
find(struct cache *c, const struct dns_name *nm, uint16_t type,
    uint16_t class, bool d, uint32_t h)
{
	for (struct cache_entry *e = c->buckets[h & (CACHE_BUCKETS - 1)]; e;
	    e = e->hnext)
		if (e->hash == h && e->qtype == type && e->qclass == class &&
		    e->do_bit == d && dns_name_eq(&e->qname, nm))
			return e;
	return NULL;
}

/* Seconds this answer may be kept, 0 if never (RFC 2308 5, RFC 1035). */
static uint32_t
cache_ttl(const uint8_t *msg, const struct dns_resp *r)
{
	unsigned rcode = r->flags & DNS_F_RCODE;
	uint32_t ttl;

	if (r->flags & DNS_F_TC)
		return 0;
	if (rcode == DNS_RCODE_NXDOMAIN ||
	    (rcode == DNS_RCODE_NOERROR && r->ancount == 0)) {
		if (r->soa < 0)
			return 0;
		const struct dns_rr_info *s = &r->rr[r->soa];
		/* MINIMUM is the SOA rdata's last 32 bits. */
		uint32_t min = s->rdlen >= 20 ?
		    dns_get32(msg + s->rdata_off + s->rdlen - 4) : 0;
		ttl = s->ttl < min ? s->ttl : min;
	} else if (rcode == DNS_RCODE_NOERROR)
		ttl = r->min_ttl;
	else
		return 0;
	return ttl > CACHE_TTL_MAX ? CACHE_TTL_MAX : ttl;
}

void
cache_put(struct cache *c, const struct dns_query *q, const uint8_t *msg,
    size_t len, const struct dns_resp *r, uint64_t now_ms)
{
	struct dns_name nm = q->qname;
	struct cache_entry *e;
	uint32_t ttl, h;

	if (len > CACHE_MSG_MAX || (ttl = cache_ttl(msg, r)) == 0 ||
	    !dns_question_plain(msg, len, &q->qname))
		return;
	dns_name_lower(&nm);
	h = key_hash(&nm, q->qtype, q->qclass, q->do_bit);
	if ((e = find(c, &nm, q->qtype, q->qclass, q->do_bit, h)) != NULL)
		remove_entry(c, e);
	if (c->n >= CACHE_ENTRIES_MAX) {
		remove_entry(c, c->lru_tail);
		c->evictions++;
	}
	if ((e = malloc(sizeof(*e) + len)) == NULL)
		return;
	memset(e, 0, sizeof(*e));
	e->hash = h;
	e->qname = nm;
	e->qtype = q->qtype;
	e->qclass = q->qclass;
	e->do_bit = q->do_bit;
	e->stored_ms = now_ms;
	e->expires_ms = now_ms + (uint64_t)ttl * 1000;
	e->len = (uint16_t)len;
	e->opt_off = r->opt >= 0 ? (int32_t)r->rr[r->opt].rr_off : -1;
	for (size_t i = 0; i < r->nrr && e->nttl < CACHE_TTLS_MAX; i++)
		if ((int)i != r->opt) {
			e->ttl_off[e->nttl] = (uint16_t)r->rr[i].ttl_off;
			e->ttl[e->nttl++] = r->rr[i].ttl;
		}
	memcpy(e->msg, msg, len);
	e->hnext = c->buckets[h & (CACHE_BUCKETS - 1)];
	c->buckets[h & (CACHE_BUCKETS - 1)] = e;
	lru_push(c, e);
	c->n++;
	c->inserts++;
}

size_t
dns_strip_last_opt(uint8_t *msg, size_t len, int32_t opt_off)
{
	/* An OPT without options is 11 bytes; only the last record can be cut
	 * without moving anything a compression pointer may refer to. */
	if (opt_off < 0 || (size_t)opt_off + 11 > len ||
	    (size_t)opt_off + 11 + dns_get16(msg + opt_off + 9) != len)
		return len;
	dns_put16(msg + 10, (uint16_t)(dns_get16(msg + 10) - 1));
	return (size_t)opt_off;
}

size_t
cache_get(struct cache *c, const struct dns_query *q, uint8_t *out,
    size_t cap, uint64_t now_ms)
{
	struct dns_name nm = q->qname;
	struct cache_entry *e;
	uint32_t h, age;
	size_t len;

	dns_name_lower(&nm);
	h = key_hash(&nm, q->qtype, q->qclass, q->do_bit);
	if ((e = find(c, &nm, q->qtype, q->qclass, q->do_bit, h)) == NULL) {
		c->misses++;
		return 0;
	}
	if (now_ms >= e->expires_ms) {
		remove_entry(c, e);
		c->misses++;
		return 0;
	}
	if (e->len > cap)
		return 0;
	memcpy(out, e->msg, e->len);
	len = e->len;
	dns_put16(out, q->id);
	age = (uint32_t)((now_ms - e->stored_ms) / 1000);
	for (unsigned i = 0; i < e->nttl; i++)
		dns_put32(out + e->ttl_off[i], e->ttl[i] > age ? e->ttl[i] - age :
		    0);
	/* Keep the question as the client spelled it (0x20 case). */
	memcpy(out + DNS_HDR_LEN, q->qname.wire, q->qname.len);
	if (!q->edns)
		len = dns_strip_last_opt(out, len, e->opt_off);
	lru_unlink(c, e);
	lru_push(c, e);
	c->hits++;
	return len;
}
