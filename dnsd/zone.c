/*
 * The DNS model and its indexes.  Names are stored lower case, so lookups
 * hash and compare case-insensitively (RFC 4343) without copying.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "zone.h"

void
zone_init(struct zone *z)
{
	memset(z, 0, sizeof(*z));
}

void
zone_free(struct zone *z)
{
	free(z->hosts);
	free(z->routes);
	free(z->nodes);
	free(z->node_idx);
	free(z->ptrs);
	free(z->ptr_idx);
	zone_init(z);
}

static int
grow(void **arr, size_t *cap, size_t need, size_t elem, size_t max)
{
	size_t ncap;
	void *p;

	if (need <= *cap)
		return 0;
	if (need > max)
		return -E2BIG;
	ncap = *cap ? *cap * 2 : 16;
	while (ncap < need)
		ncap *= 2;
	if ((p = realloc(*arr, ncap * elem)) == NULL)
		return -ENOMEM;
	*arr = p;
	*cap = ncap;
	return 0;
}

static int
name_lower(const char *text, struct dns_name *nm)
{
	if (dns_name_from_text(text, nm) < 0)
		return -EINVAL;
	dns_name_lower(nm);
	return 0;
}

static struct zone_host *
find_host_linear(struct zone *z, const struct dns_name *nm)
{
	for (size_t i = 0; i < z->nhosts; i++)
		if (dns_name_eq(&z->hosts[i].name, nm))
			return &z->hosts[i];
	return NULL;
}

int
zone_add_host(struct zone *z, const char *name, const char *addr)
{
	struct dns_name nm;
	struct zone_host *h;
	uint8_t a[16];
	int fam, r;

	if (name_lower(name, &nm) < 0 || nm.nlabels == 0)
		return -EINVAL;
	if (inet_pton(AF_INET, addr, a) == 1)
		fam = AF_INET;
	else if (inet_pton(AF_INET6, addr, a) == 1)
		fam = AF_INET6;
	else
		return -EAFNOSUPPORT;
	/* Names repeat only for a handful of addresses; the file and netmap
	 * parsers add a name's addresses together, so check the last first. */
	h = z->nhosts && dns_name_eq(&z->hosts[z->nhosts - 1].name, &nm) ?
	    &z->hosts[z->nhosts - 1] : z->nhosts < 4096 ?
	    find_host_linear(z, &nm) : NULL;
	if (h == NULL) {
		if ((r = grow((void **)&z->hosts, &z->caphosts, z->nhosts + 1,
		    sizeof(*h), ZONE_HOSTS_MAX)) < 0)
			return r;
		h = &z->hosts[z->nhosts++];
		memset(h, 0, sizeof(*h));
		h->name = nm;
	}
	if (fam == AF_INET) {
		if (h->n4 == ZONE_HOST_ADDRS)
			return -E2BIG;
		memcpy(h->a4[h->n4++], a, 4);
	} else {
		if (h->n6 == ZONE_HOST_ADDRS)
			return -E2BIG;
		memcpy(h->a6[h->n6++], a, 16);
	}
	return 0;
}

int
zone_add_search(struct zone *z, const char *domain)
{
	struct dns_name nm;

	if (z->nsearch == ZONE_SEARCH_MAX)
		return -E2BIG;
	if (name_lower(domain, &nm) < 0 || nm.nlabels == 0)
		return -EINVAL;
	z->search[z->nsearch++] = nm;
	return 0;
}

int
upstream_parse(const char *s, struct upstream *out)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)&out->sa;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&out->sa;
	char host[64];
	const char *colon;
	unsigned long port = 53;
	char *end;

	memset(out, 0, sizeof(*out));
	if (strncmp(s, "https://", 8) == 0 || strncmp(s, "http://", 7) == 0 ||
	    strncmp(s, "tls://", 6) == 0)
		return -EPROTONOSUPPORT;
	if (s[0] == '[') {
		const char *rb = strchr(s, ']');
		if (rb == NULL || (size_t)(rb - s - 1) >= sizeof(host) ||
		    rb[1] != ':')
			return -EINVAL;
		memcpy(host, s + 1, (size_t)(rb - s - 1));
		host[rb - s - 1] = '\0';
		colon = rb + 1;
	} else if ((colon = strchr(s, ':')) != NULL && strchr(colon + 1, ':')
	    == NULL) {
		if ((size_t)(colon - s) >= sizeof(host))
			return -EINVAL;
		memcpy(host, s, (size_t)(colon - s));
		host[colon - s] = '\0';
	} else {
		if (strlen(s) >= sizeof(host))
			return -EINVAL;
		strcpy(host, s);
		colon = NULL;
	}
	if (colon != NULL) {
		errno = 0;
		port = strtoul(colon + 1, &end, 10);
		if (errno || *end || colon[1] == '\0' || port == 0 ||
		    port > 65535)
			return -EINVAL;
	}
	if (inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		out->salen = sizeof(*sin);
	} else if (inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		out->salen = sizeof(*sin6);
	} else
		return -EINVAL;
	return 0;
}

bool
upstream_is_self(const struct upstream *u)
{
	static const uint8_t q6[16] = { 0xfd, 0x7a, 0x11, 0x5c, 0xa1, 0xe0,
	    [15] = 0x53 };
	const struct sockaddr_in *sin = (const struct sockaddr_in *)&u->sa;
	const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&u->sa;

	if (u->sa.ss_family == AF_INET)
		return sin->sin_addr.s_addr == htonl(0x64646464);
	return memcmp(&sin6->sin6_addr, q6, 16) == 0;
}

static int
add_upstream(struct upstream *arr, unsigned *n, const char *s)
{
	struct upstream u;
	int r;

	if ((r = upstream_parse(s, &u)) < 0)
		return r;
	if (upstream_is_self(&u))
		return -ELOOP;
	if (*n == ZONE_ROUTE_UPS)
		return -E2BIG;
	arr[(*n)++] = u;
	return 0;
}

int
zone_add_route(struct zone *z, const char *suffix, const char *resolver)
{
	struct dns_name nm;
	struct zone_route *rt = NULL;
	int r;

	if (name_lower(suffix, &nm) < 0)
		return -EINVAL;
	for (size_t i = 0; i < z->nroutes; i++)
		if (dns_name_eq(&z->routes[i].suffix, &nm))
			rt = &z->routes[i];
	if (rt == NULL) {
		if ((r = grow((void **)&z->routes, &z->caproutes,
		    z->nroutes + 1, sizeof(*rt), ZONE_ROUTES_MAX)) < 0)
			return r;
		rt = &z->routes[z->nroutes++];
		memset(rt, 0, sizeof(*rt));
		rt->suffix = nm;
	}
	return resolver == NULL ? 0 : add_upstream(rt->up, &rt->nup, resolver);
}

int
zone_add_default(struct zone *z, const char *resolver)
{
	return add_upstream(z->defaults, &z->ndefaults, resolver);
}

int
zone_add_fallback(struct zone *z, const char *resolver)
{
	return add_upstream(z->fallback, &z->nfallback, resolver);
}

/* Index building. */

static size_t
pow2_at_least(size_t n)
{
	size_t c = 16;

	while (c < n * 2)
		c *= 2;
	return c;
}

static uint32_t *
node_slot(const struct zone *z, const struct dns_name *nm, bool *found)
{
	size_t mask = z->capnodes - 1;

	for (size_t i = dns_name_hash(nm) & mask;; i = (i + 1) & mask) {
		uint32_t v = z->node_idx[i];
		if (v == 0 || dns_name_eq(&z->nodes[v - 1].name, nm)) {
			*found = v != 0;
			return &z->node_idx[i];
		}
	}
}

static int
add_node(struct zone *z, const struct dns_name *nm, int32_t host)
{
	bool found;
	uint32_t *slot = node_slot(z, nm, &found);

	if (found) {
		if (host >= 0 && z->nodes[*slot - 1].host < 0)
			z->nodes[*slot - 1].host = host;
		return 0;
	}
	if (z->nnodes + 1 > z->capnodes / 2)
		return -E2BIG;		/* sized in zone_finish; cannot happen */
	z->nodes[z->nnodes].name = *nm;
	z->nodes[z->nnodes].host = host;
	*slot = (uint32_t)++z->nnodes;
	return 0;
}

/* The route a name falls under, if that route is answered here. */
static const struct zone_route *
local_route(const struct zone *z, const struct dns_name *nm)
{
	const struct zone_route *rt = zone_route(z, nm);

	return rt != NULL && rt->nup == 0 ? rt : NULL;
}

/* Every host, and each of its ancestors down to its local zone apex. */
static int
index_names(struct zone *z)
{
	size_t total = 0;
	int r;

	for (size_t i = 0; i < z->nhosts; i++)
		total += z->hosts[i].name.nlabels;
	z->capnodes = pow2_at_least(total + 1);
	z->nodes = calloc(total + 1, sizeof(*z->nodes));
	z->node_idx = calloc(z->capnodes, sizeof(*z->node_idx));
	if (z->nodes == NULL || z->node_idx == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < z->nhosts; i++) {
		const struct dns_name *hn = &z->hosts[i].name;
		const struct zone_route *rt = local_route(z, hn);
		unsigned stop = rt ? (unsigned)(hn->nlabels -
		    rt->suffix.nlabels) : 0;

		if ((r = add_node(z, hn, (int32_t)i)) < 0)
			return r;
		for (unsigned up = 1; up <= stop; up++) {
			struct dns_name anc;
			dns_name_parent(hn, up, &anc);
			if ((r = add_node(z, &anc, -1)) < 0)
				return r;
		}
	}
	return 0;
}

static size_t
ptr_hash(int family, const uint8_t *a)
{
	size_t n = family == AF_INET ? 4 : 16;
	uint32_t h = 2166136261u ^ (uint32_t)family;

	for (size_t i = 0; i < n; i++) {
		h ^= a[i];
		h *= 16777619u;
	}
	return h;
}

static uint32_t *
ptr_slot(const struct zone *z, int family, const uint8_t *a, bool *found)
{
	size_t mask = z->capptr - 1, n = family == AF_INET ? 4 : 16;

	for (size_t i = ptr_hash(family, a) & mask;; i = (i + 1) & mask) {
		uint32_t v = z->ptr_idx[i];
		if (v == 0 || (z->ptrs[v - 1].family == family &&
		    memcmp(z->ptrs[v - 1].addr, a, n) == 0)) {
			*found = v != 0;
			return &z->ptr_idx[i];
		}
	}
}

static void
add_ptr(struct zone *z, int family, const uint8_t *a, uint32_t host)
{
	bool found;
	uint32_t *slot = ptr_slot(z, family, a, &found);

	if (found)		/* first name listed for an address wins */
		return;
	z->ptrs[z->nptrs].family = (uint8_t)family;
	memcpy(z->ptrs[z->nptrs].addr, a, family == AF_INET ? 4 : 16);
	z->ptrs[z->nptrs].host = host;
	*slot = (uint32_t)++z->nptrs;
}

static int
index_ptrs(struct zone *z)
{
	size_t total = 0;

	for (size_t i = 0; i < z->nhosts; i++)
		total += z->hosts[i].n4 + z->hosts[i].n6;
	z->capptr = pow2_at_least(total + 1);
	z->ptrs = calloc(total + 1, sizeof(*z->ptrs));
	z->ptr_idx = calloc(z->capptr, sizeof(*z->ptr_idx));
	if (z->ptrs == NULL || z->ptr_idx == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < z->nhosts; i++) {
		for (unsigned j = 0; j < z->hosts[i].n4; j++)
			add_ptr(z, AF_INET, z->hosts[i].a4[j], (uint32_t)i);
		for (unsigned j = 0; j < z->hosts[i].n6; j++)
			add_ptr(z, AF_INET6, z->hosts[i].a6[j], (uint32_t)i);
	}
	return 0;
}

/*
 * As tailscale does for ExtraRecords: a name no route covers gets an empty
 * route of its own, so it is answered here rather than forwarded.
 */
static int
cover_hosts(struct zone *z)
{
	char text[1024];
	int r;

	for (size_t i = 0; i < z->nhosts; i++) {
		const struct zone_route *rt = zone_route(z, &z->hosts[i].name);
		if (rt != NULL && rt->nup == 0)
			continue;
		dns_name_to_text(&z->hosts[i].name, text, sizeof(text));
		if ((r = zone_add_route(z, text, NULL)) < 0)
			return r;
	}
	return 0;
}

int
zone_finish(struct zone *z)
{
	int r;

	if ((r = cover_hosts(z)) < 0 || (r = index_names(z)) < 0 ||
	    (r = index_ptrs(z)) < 0)
		return r;
	return 0;
}

const struct zone_host *
zone_host(const struct zone *z, const struct dns_name *nm)
{
	bool found;
	uint32_t *slot;

	if (z->capnodes == 0)
		return NULL;
	slot = node_slot(z, nm, &found);
	if (!found || z->nodes[*slot - 1].host < 0)
		return NULL;
	return &z->hosts[z->nodes[*slot - 1].host];
}

bool
zone_name_exists(const struct zone *z, const struct dns_name *nm)
{
	bool found = false;

	if (z->capnodes != 0)
		(void)node_slot(z, nm, &found);
	return found;
}

const struct zone_host *
zone_ptr(const struct zone *z, int family, const uint8_t *addr)
{
	bool found;
	uint32_t *slot;

	if (z->capptr == 0)
		return NULL;
	slot = ptr_slot(z, family, addr, &found);
	return found ? &z->hosts[z->ptrs[*slot - 1].host] : NULL;
}

const struct zone_route *
zone_route(const struct zone *z, const struct dns_name *nm)
{
	const struct zone_route *best = NULL;

	for (size_t i = 0; i < z->nroutes; i++) {
		const struct zone_route *rt = &z->routes[i];
		if ((best == NULL || rt->suffix.nlabels > best->suffix.nlabels) &&
		    dns_name_under(nm, &rt->suffix))
			best = rt;
	}
	return best;
}
