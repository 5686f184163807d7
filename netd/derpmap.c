/* netd's DERPMap from ctrld (see derpmap.h). */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "derpmap.h"
#include "log.h"
#include "ctrld_to_netd.pb-c.h"

static void
regions_free(struct derp_region *r, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(r[i].nodes);
	free(r);
}

/* "" : no fixed address; "none": never over this family (tailscale's
 * DERPNode.IPv4/IPv6); anything else must parse. */
static bool
addr_field(const char *s, int af, void *out, bool *has, bool *none)
{
	*has = *none = false;
	if (s == NULL || *s == '\0')
		return true;
	if (strcmp(s, "none") == 0) {
		*none = true;
		return true;
	}
	return (*has = inet_pton(af, s, out) == 1);
}

static bool
node_copy(struct derp_node *d, const Pm__DerpNode *n)
{
	memset(d, 0, sizeof(*d));
	if (!addr_field(n->ipv4, AF_INET, &d->v4, &d->has_v4, &d->no_v4) ||
	    !addr_field(n->ipv6, AF_INET6, &d->v6, &d->has_v6, &d->no_v6))
		return false;
	snprintf(d->name, sizeof(d->name), "%s", n->name);
	snprintf(d->host, sizeof(d->host), "%s", n->host_name);
	snprintf(d->cert_name, sizeof(d->cert_name), "%s", n->cert_name);
	d->derp_port = n->derp_port != 0 ? (uint16_t)n->derp_port : 443;
	d->stun_port = n->stun_port == 0 ? 3478 : n->stun_port;
	d->stun_only = n->stun_only;
	d->insecure = n->insecure_for_tests;
	d->can_port80 = n->can_port80;
	return true;
}

static int
region_add(struct derpmap *m, const Pm__DerpRegion *r)
{
	struct derp_region *d;

	if (m->npend == m->cap) {
		size_t cap = m->cap ? m->cap * 2 : 16;
		struct derp_region *p = realloc(m->pend, cap * sizeof(*p));

		if (p == NULL)
			return -1;
		m->pend = p;
		m->cap = cap;
	}
	d = &m->pend[m->npend];
	memset(d, 0, sizeof(*d));
	d->id = r->region_id;
	snprintf(d->code, sizeof(d->code), "%s", r->region_code);
	snprintf(d->name, sizeof(d->name), "%s", r->region_name);
	d->avoid = r->avoid;
	d->no_measure_no_home = r->no_measure_no_home;
	d->score = r->score;
	if (r->n_nodes > 0 &&
	    (d->nodes = calloc(r->n_nodes, sizeof(*d->nodes))) == NULL)
		return -1;
	for (size_t i = 0; i < r->n_nodes; i++) {
		if (node_copy(&d->nodes[d->nnodes], r->nodes[i]))
			d->nnodes++;
		else {
			m->bad_nodes++;
			log_warnx("DERP map: region %u node \"%s\": bad "
			    "address; skipped", r->region_id,
			    r->nodes[i]->host_name);
		}
	}
	m->npend++;
	return 0;
}

static int
region_cmp(const void *a, const void *b)
{
	const struct derp_region *x = a, *y = b;

	return (x->id > y->id) - (x->id < y->id);
}

static void
pend_clear(struct derpmap *m)
{
	regions_free(m->pend, m->npend);
	m->pend = NULL;
	m->npend = m->cap = 0;
	m->open = false;
}

int
derpmap_update(struct derpmap *m, const Pm__DerpMapUpdate *u)
{
	if (m->open && u->generation != m->open_gen) {
		m->dropped_parts++;
		log_warnx("DERP map: generation %llu left unfinished; dropped",
		    (unsigned long long)m->open_gen);
		pend_clear(m);
	}
	if (!m->open) {
		m->open = true;
		m->open_gen = u->generation;
		m->open_home = u->home_region;
	}
	if (m->npend + u->n_regions > DERPMAP_MAX_REGIONS) {
		m->dropped_parts++;
		log_warnx("DERP map: generation %llu has more than %d regions; "
		    "dropped, the map stays", (unsigned long long)m->open_gen,
		    DERPMAP_MAX_REGIONS);
		pend_clear(m);
		return -1;
	}
	for (size_t i = 0; i < u->n_regions; i++)
		if (region_add(m, u->regions[i]) < 0) {
			log_warnx("DERP map: out of memory; the map stays");
			pend_clear(m);
			return -1;
		}
	if (u->more)
		return 0;
	if (m->npend > 1)
		qsort(m->pend, m->npend, sizeof(*m->pend), region_cmp);
	/* A region ID twice: the last one counts (as a Go map would). */
	for (size_t i = 0; i + 1 < m->npend; )
		if (m->pend[i].id == m->pend[i + 1].id) {
			free(m->pend[i].nodes);
			memmove(&m->pend[i], &m->pend[i + 1],
			    (m->npend - i - 1) * sizeof(*m->pend));
			m->npend--;
		} else
			i++;
	regions_free(m->regions, m->nregions);
	m->regions = m->pend;
	m->nregions = m->npend;
	m->home = m->open_home;
	m->gen = m->open_gen;
	m->pend = NULL;
	m->npend = m->cap = 0;
	m->open = false;
	m->commits++;
	if (m->home != 0 && derpmap_region(m, m->home) == NULL)
		log_warnx("DERP map: home region %u is not in the map", m->home);
	log_info("DERP map: generation %llu in force: %zu regions, home %u",
	    (unsigned long long)m->gen, m->nregions, m->home);
	return 1;
}

const struct derp_region *
derpmap_region(const struct derpmap *m, uint32_t id)
{
	struct derp_region key = { .id = id };

	if (m->nregions == 0)
		return NULL;
	return bsearch(&key, m->regions, m->nregions, sizeof(key), region_cmp);
}

void
derpmap_free(struct derpmap *m)
{
	pend_clear(m);
	regions_free(m->regions, m->nregions);
	memset(m, 0, sizeof(*m));
}
