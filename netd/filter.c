/*
 * The inbound packet filter (filter.h): rules from ctrld's FilterUpdate
 * transactions, parsed as each part arrives and swapped in whole when the
 * last part commits; the per-packet check reads only the IP and transport
 * headers.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "filter.h"
#include "log.h"
#include "ctrld_to_netd.pb-c.h"

#define IPPROTO_ICMP_	1
#define IPPROTO_TCP_	6
#define IPPROTO_UDP_	17
#define IPPROTO_FRAG6_	44
#define IPPROTO_ICMP6_	58
#define IPPROTO_SCTP_	132

static void
rules_free(struct frule *r, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(r[i].src);
		free(r[i].dst);
		free(r[i].proto);
	}
	free(r);
}

static int
add_rule(struct filter *f, const Pm__FilterRule *in)
{
	struct frule *r, *nv;

	if (f->npend == f->cappend) {
		size_t cap = f->cappend ? f->cappend * 2 : 16;

		if ((nv = reallocarray(f->pend, cap, sizeof(*nv))) == NULL)
			return -ENOMEM;
		f->pend = nv;
		f->cappend = cap;
	}
	r = &f->pend[f->npend];
	memset(r, 0, sizeof(*r));
	f->npend++;	/* counted now: freed with the rest on failure */
	if ((r->src = calloc(in->n_src + 1, sizeof(*r->src))) == NULL ||
	    (r->dst = calloc(in->n_dst + 1, sizeof(*r->dst))) == NULL ||
	    (r->proto = calloc(in->n_proto + 1, 1)) == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < in->n_src; i++) {
		if (nprefix_parse(in->src[i], &r->src[r->nsrc]) == 0)
			r->nsrc++;
		else
			f->bad_strings++;
	}
	for (size_t i = 0; i < in->n_dst; i++) {
		struct fdst *d = &r->dst[r->ndst];

		if (nprefix_parse(in->dst[i]->prefix, &d->p) < 0) {
			f->bad_strings++;
			continue;
		}
		d->first = (uint16_t)in->dst[i]->first;
		d->last = (uint16_t)in->dst[i]->last;
		r->ndst++;
	}
	for (size_t i = 0; i < in->n_proto; i++)
		r->proto[r->nproto++] = (uint8_t)in->proto[i];
	return 0;
}

static void
pend_drop(struct filter *f)
{
	rules_free(f->pend, f->npend);
	f->pend = NULL;
	f->npend = f->cappend = 0;
	f->open = false;
}

int
filter_update(struct filter *f, const Pm__FilterUpdate *u)
{
	uint64_t bad = f->bad_strings;
	int r = 0;

	if (f->open && u->generation != f->gen) {
		log_warnx("filter: generation %llu left unfinished; dropped",
		    (unsigned long long)f->gen);
		pend_drop(f);
	}
	if (!f->open) {
		f->open = true;
		f->gen = u->generation;
	}
	for (size_t i = 0; i < u->n_rules && r == 0; i++)
		r = add_rule(f, u->rules[i]);
	if (r < 0) {
		log_warnx("filter: generation %llu: %s; the current rules stay",
		    (unsigned long long)f->gen, strerror(-r));
		pend_drop(f);
		return r;
	}
	if (u->more)
		return 0;
	rules_free(f->rules, f->nrules);
	f->rules = f->pend;
	f->nrules = f->npend;
	f->pend = NULL;
	f->npend = f->cappend = 0;
	f->open = false;
	f->on = true;
	if (f->bad_strings > bad)
		log_warnx("filter: %llu prefixes did not parse (skipped)",
		    (unsigned long long)(f->bad_strings - bad));
	log_info("filter: generation %llu in force: %zu rules",
	    (unsigned long long)f->gen, f->nrules);
	return 0;
}

void
filter_free(struct filter *f)
{
	pend_drop(f);
	rules_free(f->rules, f->nrules);
	f->rules = NULL;
	f->nrules = 0;
	f->on = false;
}

static bool
prefix_has(const struct nprefix *p, int family, const uint8_t *a)
{
	unsigned full = p->cidr / 8, rest = p->cidr % 8;

	if (p->family != family || memcmp(p->addr, a, full) != 0)
		return false;
	return rest == 0 || ((p->addr[full] ^ a[full]) &
	    (uint8_t)(0xff00 >> rest)) == 0;
}

/* What the checks need of a packet. */
struct pkt {
	int		 family;
	const uint8_t	*src, *dst;
	uint8_t		 proto;
	bool		 fragment;	/* not the first */
	bool		 has_ports;
	uint16_t	 sport, dport;
	const uint8_t	*l4;
	size_t		 l4len;
};

static bool
parse(const uint8_t *p, size_t len, struct pkt *k)
{
	size_t hl;

	memset(k, 0, sizeof(*k));
	if (len < 1)
		return false;
	if ((p[0] >> 4) == 4) {
		if (len < 20 || (hl = (size_t)(p[0] & 15) * 4) < 20 || hl > len)
			return false;
		k->family = AF_INET;
		k->src = p + 12;
		k->dst = p + 16;
		k->proto = p[9];
		k->fragment = ((p[6] << 8 | p[7]) & 0x1fff) != 0;
	} else if ((p[0] >> 4) == 6) {
		if (len < 40)
			return false;
		hl = 40;
		k->family = AF_INET6;
		k->src = p + 8;
		k->dst = p + 24;
		k->proto = p[6];
		k->fragment = k->proto == IPPROTO_FRAG6_;
	} else
		return false;
	k->l4 = p + hl;
	k->l4len = len - hl;
	if ((k->proto == IPPROTO_TCP_ || k->proto == IPPROTO_UDP_ ||
	    k->proto == IPPROTO_SCTP_) && !k->fragment) {
		if (k->l4len < 4)
			return false;
		k->has_ports = true;
		k->sport = (uint16_t)(k->l4[0] << 8 | k->l4[1]);
		k->dport = (uint16_t)(k->l4[2] << 8 | k->l4[3]);
	}
	return true;
}

static bool
proto_ok(const struct frule *r, uint8_t proto)
{
	if (r->nproto == 0)
		return proto == IPPROTO_TCP_ || proto == IPPROTO_UDP_ ||
		    proto == IPPROTO_ICMP_ || proto == IPPROTO_ICMP6_;
	for (size_t i = 0; i < r->nproto; i++)
		if (r->proto[i] == proto)
			return true;
	return false;
}

static bool
rules_allow(const struct filter *f, const struct pkt *k)
{
	for (size_t i = 0; i < f->nrules; i++) {
		const struct frule *r = &f->rules[i];
		bool src = false;

		if (!proto_ok(r, k->proto))
			continue;
		for (size_t j = 0; j < r->nsrc && !src; j++)
			src = prefix_has(&r->src[j], k->family, k->src);
		if (!src)
			continue;
		for (size_t j = 0; j < r->ndst; j++)
			if (prefix_has(&r->dst[j].p, k->family, k->dst) &&
			    (!k->has_ports || (k->dport >= r->dst[j].first &&
			    k->dport <= r->dst[j].last)))
				return true;
	}
	return false;
}

/* remote address, local address, remote port, local port */
static size_t
flow_key(const struct pkt *k, bool inbound, uint8_t key[36])
{
	size_t al = k->family == AF_INET ? 4 : 16;
	const uint8_t *remote = inbound ? k->src : k->dst;
	const uint8_t *local = inbound ? k->dst : k->src;
	uint16_t rp = inbound ? k->sport : k->dport;
	uint16_t lp = inbound ? k->dport : k->sport;

	memset(key, 0, 36);
	memcpy(key, remote, al);
	memcpy(key + 16, local, al);
	key[32] = (uint8_t)(rp >> 8);
	key[33] = (uint8_t)rp;
	key[34] = (uint8_t)(lp >> 8);
	key[35] = (uint8_t)lp;
	return al;
}

static size_t
flow_slot(const uint8_t key[36])
{
	uint32_t h = 2166136261u;	/* FNV-1a: spread, not secrecy */

	for (size_t i = 0; i < 36; i++)
		h = (h ^ key[i]) * 16777619u;
	return h % FILTER_FLOWS;
}

static bool
icmp_response(const struct pkt *k)
{
	uint8_t t;

	if (k->l4len < 1)
		return false;
	t = k->l4[0];
	if (k->proto == IPPROTO_ICMP_)
		return t == 0 || t == 3 || t == 11 || t == 12;
	if (k->proto == IPPROTO_ICMP6_)
		return t == 129 || (t >= 1 && t <= 4);
	return false;
}

bool
filter_in(struct filter *f, const uint8_t *p, size_t len)
{
	struct pkt k;
	uint8_t key[36];
	const struct fflow *fl;

	if (!f->on)
		return true;
	if (!parse(p, len, &k))
		goto drop;
	if (k.fragment)
		return true;
	switch (k.proto) {
	case IPPROTO_TCP_:
		/* flags byte 13: SYN 0x02, ACK 0x10 */
		if (k.l4len < 14)
			goto drop;
		if ((k.l4[13] & 0x12) != 0x02)
			return true;
		break;
	case IPPROTO_ICMP_:
	case IPPROTO_ICMP6_:
		if (icmp_response(&k))
			return true;
		break;
	case IPPROTO_UDP_:
		flow_key(&k, true, key);
		fl = &f->flows[flow_slot(key)];
		if (fl->used && memcmp(fl->key, key, 36) == 0)
			return true;
		break;
	}
	if (rules_allow(f, &k))
		return true;
drop:
	f->dropped++;
	return false;
}

void
filter_out(struct filter *f, const uint8_t *p, size_t len)
{
	struct pkt k;
	uint8_t key[36];
	struct fflow *fl;

	if (!f->on || !parse(p, len, &k) || k.proto != IPPROTO_UDP_ ||
	    !k.has_ports)
		return;
	flow_key(&k, false, key);
	fl = &f->flows[flow_slot(key)];
	memcpy(fl->key, key, 36);
	fl->used = true;
}
