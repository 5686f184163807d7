/*
 * DNS message parsing and building (RFC 1035 4.1, RFC 6891 6).  Every
 * length is checked against the message end before it is used; names are
 * decompressed with backward-only pointers and a hop limit, so a hostile
 * message can neither loop nor read out of bounds.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "msg.h"

static inline uint8_t
lower(uint8_t c)
{
	return c >= 'A' && c <= 'Z' ? (uint8_t)(c + 32) : c;
}

int
dns_name_read(const uint8_t *msg, size_t len, size_t *off,
    struct dns_name *out)
{
	size_t p = *off, end = 0, limit = *off;
	unsigned hops = 0, n = 0, labels = 0;
	bool jumped = false;

	for (;;) {
		if (p >= len)
			return -EBADMSG;
		uint8_t c = msg[p];
		if ((c & 0xc0) == 0xc0) {
			if (p + 1 >= len || ++hops > DNS_PTR_HOPS_MAX)
				return -EBADMSG;
			size_t to = (size_t)((c & 0x3f) << 8 | msg[p + 1]);
			/* Strictly backwards: no loops, no forward reads. */
			if (to >= limit)
				return -EBADMSG;
			if (!jumped)
				end = p + 2;
			jumped = true;
			limit = to;
			p = to;
			continue;
		}
		if (c & 0xc0)		/* 0x40, 0x80: reserved label types */
			return -EBADMSG;
		if (p + 1 + c > len || n + 1 + c > DNS_NAME_MAX)
			return -EBADMSG;
		memcpy(out->wire + n, msg + p, 1 + (size_t)c);
		n += 1 + c;
		p += 1 + c;
		if (c == 0)
			break;
		labels++;
	}
	out->len = (uint8_t)n;
	out->nlabels = (uint8_t)labels;
	*off = jumped ? end : p;
	return 0;
}

int
dns_name_from_text(const char *s, struct dns_name *out)
{
	size_t n = 0, lab = 0;
	unsigned labels = 0;

	if (strcmp(s, ".") == 0 || *s == '\0')
		goto root;
	for (const char *p = s;; p++) {
		if (*p == '.' || *p == '\0') {
			size_t l = (size_t)(p - s) - lab;
			if (l == 0) {
				if (*p == '\0' && labels > 0)
					break;	/* trailing dot */
				return -EINVAL;
			}
			if (l > DNS_LABEL_MAX || n + 1 + l + 1 > DNS_NAME_MAX)
				return -EINVAL;
			out->wire[n++] = (uint8_t)l;
			memcpy(out->wire + n, s + lab, l);
			n += l;
			labels++;
			lab = (size_t)(p - s) + 1;
			if (*p == '\0')
				break;
		}
	}
	out->wire[n++] = 0;
	out->len = (uint8_t)n;
	out->nlabels = (uint8_t)labels;
	return 0;
root:
	out->wire[0] = 0;
	out->len = 1;
	out->nlabels = 0;
	return 0;
}

char *
dns_name_to_text(const struct dns_name *nm, char *out, size_t outlen)
{
	size_t o = 0, p = 0;

	if (outlen < 2)
		return out;
	if (nm->len <= 1) {
		strcpy(out, ".");
		return out;
	}
	while (p < nm->len && nm->wire[p] != 0) {
		uint8_t l = nm->wire[p++];
		for (uint8_t i = 0; i < l && p < nm->len; i++, p++) {
			uint8_t c = nm->wire[p];
			if (o + 5 >= outlen)
				goto out;
			if (c == '.' || c == '\\')
				o += (size_t)snprintf(out + o, outlen - o, "\\%c", c);
			else if (c <= 0x20 || c >= 0x7f)
				o += (size_t)snprintf(out + o, outlen - o, "\\%03u", c);
			else
				out[o++] = (char)c;
		}
		if (o + 2 >= outlen)
			goto out;
		out[o++] = '.';
	}
out:
	out[o] = '\0';
	return out;
}

bool
dns_name_eq(const struct dns_name *a, const struct dns_name *b)
{
	if (a->len != b->len)
		return false;
	for (size_t i = 0; i < a->len; i++)
		if (lower(a->wire[i]) != lower(b->wire[i]))
			return false;
	return true;
}

void
dns_name_parent(const struct dns_name *nm, unsigned n, struct dns_name *out)
{
	size_t p = 0;

	for (unsigned i = 0; i < n && i < nm->nlabels; i++)
		p += 1 + nm->wire[p];
	out->len = (uint8_t)(nm->len - p);
	out->nlabels = (uint8_t)(nm->nlabels - (n < nm->nlabels ? n :
	    nm->nlabels));
	memmove(out->wire, nm->wire + p, out->len);
}

bool
dns_name_under(const struct dns_name *name, const struct dns_name *zone)
{
	struct dns_name tail;

	if (zone->nlabels > name->nlabels)
		return false;
	dns_name_parent(name, (unsigned)(name->nlabels - zone->nlabels), &tail);
	return dns_name_eq(&tail, zone);
}

void
dns_name_lower(struct dns_name *nm)
{
	size_t p = 0;

	/* Only label bytes: a length byte of 65..90 is not a letter. */
	while (p < nm->len && nm->wire[p] != 0) {
		uint8_t l = nm->wire[p++];
		for (uint8_t i = 0; i < l && p < nm->len; i++, p++)
			nm->wire[p] = lower(nm->wire[p]);
	}
}

int
dns_name_concat(const struct dns_name *a, const struct dns_name *b,
    struct dns_name *out)
{
	size_t n = (size_t)a->len - 1;

	if (n + b->len > DNS_NAME_MAX)
		return -EINVAL;
	memmove(out->wire, a->wire, n);
	memcpy(out->wire + n, b->wire, b->len);
	out->len = (uint8_t)(n + b->len);
	out->nlabels = (uint8_t)(a->nlabels + b->nlabels);
	return 0;
}

uint32_t
dns_name_hash(const struct dns_name *nm)
{
	uint32_t h = 2166136261u;	/* FNV-1a */

	for (size_t i = 0; i < nm->len; i++) {
		h ^= lower(nm->wire[i]);
		h *= 16777619u;
	}
	return h;
}

/* The additional section of a query: OPT only, once, owned by the root. */
static int
parse_query_additional(const uint8_t *msg, size_t len, size_t *off,
    unsigned arcount, struct dns_query *q)
{
	for (unsigned i = 0; i < arcount; i++) {
		struct dns_name nm;
		if (dns_name_read(msg, len, off, &nm) < 0 || *off + 10 > len)
			return -DNS_RCODE_FORMERR;
		uint16_t type = dns_get16(msg + *off);
		uint16_t rdlen = dns_get16(msg + *off + 8);
		if (*off + 10 + rdlen > len)
			return -DNS_RCODE_FORMERR;
		if (type != DNS_T_OPT || q->edns || nm.len != 1)
			return -DNS_RCODE_FORMERR;
		uint16_t size = dns_get16(msg + *off + 2);
		uint32_t ttl = dns_get32(msg + *off + 4);
		q->edns = true;
		q->udp_size = size < DNS_UDP_MIN ? DNS_UDP_MIN : size;
		q->edns_version = (uint8_t)(ttl >> 16);
		q->do_bit = (ttl & DNS_EDNS_DO) != 0;
		/* Options are TLVs; each must fit inside rdata. */
		for (size_t o = 0; o < rdlen;) {
			if (o + 4 > rdlen ||
			    o + 4 + dns_get16(msg + *off + 10 + o + 2) > rdlen)
				return -DNS_RCODE_FORMERR;
			o += 4 + dns_get16(msg + *off + 10 + o + 2);
		}
		*off += 10 + (size_t)rdlen;
	}
	return 0;
}

int
dns_parse_query(const uint8_t *msg, size_t len, struct dns_query *q)
{
	size_t off = DNS_HDR_LEN;
	int r;

	memset(q, 0, sizeof(*q));
	if (len < DNS_HDR_LEN)
		return DNS_PARSE_DROP;
	q->id = dns_get16(msg);
	q->flags = dns_get16(msg + 2);
	q->udp_size = DNS_UDP_MIN;
	/* A response sent to us is never answered (no reflection loops). */
	if (q->flags & DNS_F_QR)
		return DNS_PARSE_DROP;
	if ((q->flags & DNS_F_OPCODE) != 0)
		return -DNS_RCODE_NOTIMP;
	if (dns_get16(msg + 4) != 1 || dns_get16(msg + 6) != 0 ||
	    dns_get16(msg + 8) != 0)
		return -DNS_RCODE_FORMERR;
	if (dns_name_read(msg, len, &off, &q->qname) < 0 || off + 4 > len)
		return -DNS_RCODE_FORMERR;
	q->qtype = dns_get16(msg + off);
	q->qclass = dns_get16(msg + off + 2);
	off += 4;
	if ((r = parse_query_additional(msg, len, &off, dns_get16(msg + 10),
	    q)) < 0)
		return r;
	if (off != len)
		return -DNS_RCODE_FORMERR;
	if (q->qtype == DNS_T_OPT || q->qtype == 0)
		return -DNS_RCODE_FORMERR;
	return 0;
}

static int
parse_rr(const uint8_t *msg, size_t len, size_t *off, uint8_t section,
    struct dns_rr_info *ri)
{
	struct dns_name nm;

	ri->rr_off = *off;
	if (dns_name_read(msg, len, off, &nm) < 0 || *off + 10 > len)
		return -EBADMSG;
	ri->type = dns_get16(msg + *off);
	ri->class = dns_get16(msg + *off + 2);
	ri->ttl_off = *off + 4;
	ri->ttl = dns_get32(msg + *off + 4);
	ri->rdlen = dns_get16(msg + *off + 8);
	ri->rdata_off = *off + 10;
	ri->section = section;
	if (ri->rdata_off + ri->rdlen > len)
		return -EBADMSG;
	if (ri->type == DNS_T_OPT && (section != 3 || nm.len != 1))
		return -EBADMSG;
	/* Fixed-size records must have their size (RFC 1035, 3596). */
	if ((ri->type == DNS_T_A && ri->class == DNS_CLASS_IN &&
	    ri->rdlen != 4) || (ri->type == DNS_T_AAAA && ri->rdlen != 16))
		return -EBADMSG;
	*off = ri->end = ri->rdata_off + ri->rdlen;
	return 0;
}

int
dns_parse_response(const uint8_t *msg, size_t len, struct dns_resp *r)
{
	size_t off = DNS_HDR_LEN;
	uint16_t counts[3];

	if (len < DNS_HDR_LEN)
		return -EBADMSG;
	r->id = dns_get16(msg);
	r->flags = dns_get16(msg + 2);
	r->qdcount = dns_get16(msg + 4);
	r->ancount = counts[0] = dns_get16(msg + 6);
	r->nscount = counts[1] = dns_get16(msg + 8);
	r->arcount = counts[2] = dns_get16(msg + 10);
	r->nrr = 0;
	r->opt = r->soa = -1;
	r->min_ttl = UINT32_MAX;
	if (r->qdcount != 1 || (size_t)counts[0] + counts[1] + counts[2] >
	    DNS_RR_MAX)
		return -EBADMSG;
	if (dns_name_read(msg, len, &off, &r->qname) < 0 || off + 4 > len)
		return -EBADMSG;
	r->qtype = dns_get16(msg + off);
	r->qclass = dns_get16(msg + off + 2);
	off += 4;
	for (uint8_t s = 0; s < 3; s++)
		for (unsigned i = 0; i < counts[s]; i++) {
			struct dns_rr_info *ri = &r->rr[r->nrr];
			if (parse_rr(msg, len, &off, (uint8_t)(s + 1), ri) < 0)
				return -EBADMSG;
			if (ri->type == DNS_T_OPT) {
				if (r->opt >= 0)
					return -EBADMSG;
				r->opt = (int)r->nrr;
			} else if (s < 2 && ri->ttl < r->min_ttl)
				r->min_ttl = ri->ttl;
			if (s == 1 && ri->type == DNS_T_SOA && r->soa < 0)
				r->soa = (int)r->nrr;
			r->nrr++;
		}
	return off == len ? 0 : -EBADMSG;
}

bool
dns_question_plain(const uint8_t *msg, size_t len, const struct dns_name *nm)
{
	size_t p = DNS_HDR_LEN;

	while (p < len && msg[p] != 0) {
		if (msg[p] & 0xc0)
			return false;
		p += 1 + (size_t)msg[p];
	}
	return p < len && p + 1 - DNS_HDR_LEN == nm->len;
}

/* Builder. */

void
dns_b_init(struct dns_builder *b, uint8_t *buf, size_t cap, uint16_t id,
    uint16_t flags)
{
	memset(b, 0, sizeof(*b));
	b->buf = buf;
	b->cap = cap;
	if (cap < DNS_HDR_LEN) {
		b->full = true;
		return;
	}
	memset(buf, 0, DNS_HDR_LEN);
	dns_put16(buf, id);
	dns_put16(buf + 2, flags);
	b->len = DNS_HDR_LEN;
}

/* Does the name written at buf[off] (possibly compressed) equal the wire
 * suffix s[0..slen)?  Only reads what this builder wrote. */
static bool
written_eq(const struct dns_builder *b, size_t off, const uint8_t *s)
{
	unsigned hops = 0;

	for (;;) {
		if (off >= b->len)
			return false;
		uint8_t c = b->buf[off];
		if ((c & 0xc0) == 0xc0) {
			if (off + 1 >= b->len || ++hops > DNS_PTR_HOPS_MAX)
				return false;
			off = (size_t)((c & 0x3f) << 8 | b->buf[off + 1]);
			continue;
		}
		if (c != *s)
			return false;
		if (c == 0)
			return true;
		if (off + 1 + c > b->len)
			return false;
		for (uint8_t i = 1; i <= c; i++)
			if (lower(b->buf[off + i]) != lower(s[i]))
				return false;
		off += 1 + c;
		s += 1 + c;
	}
}

/* Appends nm, replacing its longest already-written suffix by a pointer. */
static int
put_name(struct dns_builder *b, const struct dns_name *nm)
{
	size_t p = 0, start = b->len;
	uint16_t at[DNS_NAME_MAX / 2];
	unsigned nat = 0;

	while (nm->wire[p] != 0) {
		for (unsigned i = 0; i < b->ncomp; i++)
			if (written_eq(b, b->comp[i], nm->wire + p)) {
				if (b->len + 2 > b->cap)
					goto full;
				dns_put16(b->buf + b->len, (uint16_t)(0xc000 |
				    b->comp[i]));
				b->len += 2;
				goto remember;
			}
		uint8_t l = nm->wire[p];
		if (b->len + 1 + l > b->cap)
			goto full;
		if (b->len < 0x4000)
			at[nat++] = (uint16_t)b->len;
		memcpy(b->buf + b->len, nm->wire + p, 1 + (size_t)l);
		b->len += 1 + l;
		p += 1 + l;
	}
	if (b->len + 1 > b->cap)
		goto full;
	b->buf[b->len++] = 0;
remember:
	for (unsigned i = 0; i < nat && b->ncomp < DNS_COMP_MAX; i++)
		b->comp[b->ncomp++] = at[i];
	return 0;
full:
	b->len = start;
	return -ENOSPC;
}

int
dns_b_question(struct dns_builder *b, const struct dns_name *nm,
    uint16_t type, uint16_t class)
{
	size_t start = b->len;
	unsigned ncomp = b->ncomp;

	if (b->full)
		return -ENOSPC;
	if (put_name(b, nm) < 0 || b->len + 4 > b->cap) {
		b->len = start;
		b->ncomp = ncomp;
		b->full = true;
		return -ENOSPC;
	}
	dns_put16(b->buf + b->len, type);
	dns_put16(b->buf + b->len + 2, class);
	b->len += 4;
	b->count[DNS_S_QD]++;
	return 0;
}

/* Owner, type, class IN, TTL and room for rdlen; returns the rdata
 * offset, or 0 when it does not fit (the builder is then rolled back). */
static size_t
rr_head(struct dns_builder *b, const struct dns_name *nm, uint16_t type,
    uint16_t class, uint32_t ttl)
{
	if (b->full || put_name(b, nm) < 0 || b->len + 10 > b->cap)
		return 0;
	dns_put16(b->buf + b->len, type);
	dns_put16(b->buf + b->len + 2, class);
	dns_put32(b->buf + b->len + 4, ttl);
	b->len += 10;
	return b->len;
}

static int
rollback(struct dns_builder *b, size_t start, unsigned ncomp)
{
	b->len = start;
	b->ncomp = ncomp;
	b->full = true;
	return -ENOSPC;
}

int
dns_b_rr(struct dns_builder *b, enum dns_section s, const struct dns_name *nm,
    uint16_t type, uint32_t ttl, const void *rdata, uint16_t rdlen)
{
	size_t start = b->len, rd;
	unsigned ncomp = b->ncomp;

	if ((rd = rr_head(b, nm, type, DNS_CLASS_IN, ttl)) == 0 ||
	    rd + rdlen > b->cap)
		return rollback(b, start, ncomp);
	dns_put16(b->buf + rd - 2, rdlen);
	memcpy(b->buf + rd, rdata, rdlen);
	b->len = rd + rdlen;
	b->count[s]++;
	return 0;
}

int
dns_b_rr_name(struct dns_builder *b, enum dns_section s,
    const struct dns_name *nm, uint16_t type, uint32_t ttl,
    const struct dns_name *target)
{
	size_t start = b->len, rd;
	unsigned ncomp = b->ncomp;

	if ((rd = rr_head(b, nm, type, DNS_CLASS_IN, ttl)) == 0 ||
	    put_name(b, target) < 0)
		return rollback(b, start, ncomp);
	dns_put16(b->buf + rd - 2, (uint16_t)(b->len - rd));
	b->count[s]++;
	return 0;
}

int
dns_b_rr_soa(struct dns_builder *b, enum dns_section s,
    const struct dns_name *zone, uint32_t ttl, uint32_t minimum)
{
	static const uint8_t host[] = "\012hostmaster";
	struct dns_name rname;
	size_t start = b->len, rd;
	unsigned ncomp = b->ncomp;
	/* serial, refresh, retry, expire, minimum (RFC 1035 3.3.13) */
	const uint32_t nums[5] = { 1, 3600, 600, 86400, minimum };

	rname.len = 0;
	if (zone->len + 11 <= DNS_NAME_MAX) {
		memcpy(rname.wire, host, 11);
		memcpy(rname.wire + 11, zone->wire, zone->len);
		rname.len = (uint8_t)(zone->len + 11);
		rname.nlabels = (uint8_t)(zone->nlabels + 1);
	} else
		rname = *zone;
	if ((rd = rr_head(b, zone, DNS_T_SOA, DNS_CLASS_IN, ttl)) == 0 ||
	    put_name(b, zone) < 0 || put_name(b, &rname) < 0 ||
	    b->len + 20 > b->cap)
		return rollback(b, start, ncomp);
	for (int i = 0; i < 5; i++)
		dns_put32(b->buf + b->len + 4 * (size_t)i, nums[i]);
	b->len += 20;
	dns_put16(b->buf + rd - 2, (uint16_t)(b->len - rd));
	b->count[s]++;
	return 0;
}

int
dns_b_opt(struct dns_builder *b, uint16_t udp_size, uint8_t ext_rcode,
    bool do_bit)
{
	/* Root owner, TYPE 41, CLASS = UDP size, TTL = ext rcode, version 0,
	 * flags; no options. */
	if (b->len + 11 > b->cap)
		return -ENOSPC;
	uint8_t *p = b->buf + b->len;
	p[0] = 0;
	dns_put16(p + 1, DNS_T_OPT);
	dns_put16(p + 3, udp_size);
	dns_put32(p + 5, (uint32_t)ext_rcode << 24 | (do_bit ? DNS_EDNS_DO : 0));
	dns_put16(p + 9, 0);
	b->len += 11;
	b->count[DNS_S_AR]++;
	return 0;
}

size_t
dns_b_finish(struct dns_builder *b, unsigned rcode)
{
	uint16_t flags;

	if (b->cap < DNS_HDR_LEN)
		return 0;
	flags = (uint16_t)((dns_get16(b->buf + 2) & ~DNS_F_RCODE) |
	    (rcode & DNS_F_RCODE));
	if (b->full)
		flags |= DNS_F_TC;
	dns_put16(b->buf + 2, flags);
	for (int i = 0; i < 4; i++)
		dns_put16(b->buf + 4 + 2 * i, b->count[i]);
	return b->len;
}

uint16_t
dns_reply_flags(const struct dns_query *q)
{
	return (uint16_t)(DNS_F_QR | (q->flags & (DNS_F_OPCODE | DNS_F_RD |
	    DNS_F_CD)));
}
