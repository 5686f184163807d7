/*
 * Fan-out of the DERPMap to netd: tailcfg.DERPMap (as merged by netmap.c)
 * turned into DerpMapUpdate transactions, with this node's home region,
 * sent when its digest changed or netd has a new channel.
 *
 * The home region is the self node's HomeDERP when the map has it, else
 * the lowest region ID that may be a home (not NoMeasureNoHome) -- until
 * netcheck measures latencies and picks one as tailscale's does.
 *
 * Regions and nodes that cannot be represented (no HostName, fields too
 * long for netd's checks, an ID out of range) are skipped with a log line;
 * the rest of the map still goes out.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "control.h"
#include "ctrld.h"
#include "ctrlmsg.h"
#include "fanout.h"
#include "log.h"
#include "ctrld_to_netd.pb-c.h"

#define DERP_BUDGET	3072	/* of SMALL_MAX (4096) per part */
#define REGIONS_MAX	512
#define NODES_MAX	64

static struct {
	uint8_t		 digest[32];
	bool		 sent;
	uint64_t	 gen;
	/* Inputs of the last pass: netmap.c replaces the DERPMap object on
	 * every change (the new one allocated while the old one lives), so
	 * an unchanged pointer and self HomeDERP mean nothing to derive. */
	const json_t	*last_map;
	int		 last_home;
} fd;

static const char *
jstr(json_t *o, const char *k, size_t max, bool *ok)
{
	json_t *v = json_object_get(o, k);

	if (v == NULL || json_is_null(v))
		return "";
	if (!json_is_string(v) || strlen(json_string_value(v)) > max) {
		*ok = false;
		return "";
	}
	return json_string_value(v);
}

static json_int_t
jint(json_t *o, const char *k, json_int_t lo, json_int_t hi, bool *ok)
{
	json_t *v = json_object_get(o, k);

	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < lo ||
	    json_integer_value(v) > hi) {
		*ok = false;
		return 0;
	}
	return json_integer_value(v);
}

static bool
node_msg(json_t *jn, Pm__DerpNode *n)
{
	bool ok = json_is_object(jn);

	pm__derp_node__init(n);
	if (!ok)
		return false;
	n->name = (char *)jstr(jn, "Name", 64, &ok);
	n->host_name = (char *)jstr(jn, "HostName", 253, &ok);
	n->cert_name = (char *)jstr(jn, "CertName", 256, &ok);
	n->ipv4 = (char *)jstr(jn, "IPv4", 46, &ok);
	n->ipv6 = (char *)jstr(jn, "IPv6", 46, &ok);
	n->stun_port = (int32_t)jint(jn, "STUNPort", -1, 65535, &ok);
	n->derp_port = (uint32_t)jint(jn, "DERPPort", 0, 65535, &ok);
	n->stun_only = json_is_true(json_object_get(jn, "STUNOnly"));
	n->insecure_for_tests = json_is_true(json_object_get(jn,
	    "InsecureForTests"));
	n->can_port80 = json_is_true(json_object_get(jn, "CanPort80"));
	return ok && n->host_name[0] != '\0';
}

static int
region_cmp(const void *a, const void *b)
{
	const Pm__DerpRegion *x = *(Pm__DerpRegion *const *)a;
	const Pm__DerpRegion *y = *(Pm__DerpRegion *const *)b;

	return (x->region_id > y->region_id) - (x->region_id < y->region_id);
}

/* One region; false (logged) when it cannot be sent.  Nodes past what
 * one part holds are left out. */
/* DERPMap.HomeParams.RegionScore["<id>"] (a number > 0), else 0. */
static double
region_score(json_t *scores, const char *key)
{
	double v = json_number_value(json_object_get(scores, key));

	return v > 0 && v <= 1e6 ? v : 0;
}

static bool
region_msg(const char *key, json_t *jr, Pm__DerpRegion *r,
    Pm__DerpNode *nodes, Pm__DerpNode **np, json_t *scores)
{
	json_t *jnodes = json_object_get(jr, "Nodes"), *jn;
	bool ok = true;
	char *end;
	long kid = strtol(key, &end, 10);
	json_int_t id;
	size_t i;

	pm__derp_region__init(r);
	id = jint(jr, "RegionID", 1, INT32_MAX, &ok);
	if (!ok || id == 0 || *end != '\0' || kid != id) {
		log_warnx("DERPMap: region \"%s\": bad RegionID, skipped", key);
		return false;
	}
	r->region_id = (uint32_t)id;
	r->region_code = (char *)jstr(jr, "RegionCode", 64, &ok);
	r->region_name = (char *)jstr(jr, "RegionName", 128, &ok);
	r->avoid = json_is_true(json_object_get(jr, "Avoid"));
	r->no_measure_no_home = json_is_true(json_object_get(jr,
	    "NoMeasureNoHome"));
	r->score = region_score(scores, key);
	if (!ok) {
		log_warnx("DERPMap: region %s: bad code or name, skipped", key);
		return false;
	}
	r->nodes = np;
	json_array_foreach(jnodes, i, jn) {
		if (r->n_nodes == NODES_MAX)
			break;
		if (!node_msg(jn, &nodes[r->n_nodes])) {
			log_warnx("DERPMap: region %s node %zu: bad, skipped",
			    key, i);
			continue;
		}
		np[r->n_nodes] = &nodes[r->n_nodes];
		r->n_nodes++;
		if (pm__derp_region__get_packed_size(r) > DERP_BUDGET) {
			r->n_nodes--;
			log_warnx("DERPMap: region %s: nodes past %zu left out",
			    key, r->n_nodes);
			break;
		}
	}
	return true;
}

static uint32_t
home_region(const struct netmap *nm, Pm__DerpRegion **rp, size_t n)
{
	for (size_t i = 0; nm->have_self && i < n; i++)
		if (rp[i]->region_id == (uint32_t)nm->self.home_derp)
			return rp[i]->region_id;
	for (size_t i = 0; i < n; i++)
		if (!rp[i]->no_measure_no_home && !rp[i]->avoid &&
		    rp[i]->n_nodes > 0)
			return rp[i]->region_id;
	return 0;
}

static int
send_parts(struct ipc_chan *ch, Pm__DerpMapUpdate *u)
{
	Pm__CtrldToNetd env = PM__CTRLD_TO_NETD__INIT;
	Pm__DerpMapUpdate part;
	size_t k = 0, size;
	int r;

	env.msg_case = PM__CTRLD_TO_NETD__MSG_DERP_MAP_UPDATE;
	env.derp_map_update = &part;
	do {
		part = *u;
		part.regions = u->regions + k;
		part.n_regions = 0;
		size = 0;
		while (k < u->n_regions && (part.n_regions == 0 || size +
		    pm__derp_region__get_packed_size(u->regions[k]) <
		    DERP_BUDGET)) {
			size += pm__derp_region__get_packed_size(
			    u->regions[k]) + 4;
			part.n_regions++;
			k++;
		}
		part.more = k < u->n_regions;
		if (ch == NULL || (r = ipc_send(ch, &env.base, -1)) < 0)
			return -1;
	} while (part.more);
	return 0;
}

void
fanout_derp_build_free(struct derp_build *b)
{
	free(b->reg);
	free(b->rp);
	free(b->nodes);
	free(b->np);
	memset(b, 0, sizeof(*b));
}

int
fanout_derp_build(const struct netmap *nm, struct derp_build *b)
{
	json_t *regions = json_object_get(nm->derpmap, "Regions"), *jr;
	json_t *scores = json_object_get(json_object_get(nm->derpmap,
	    "HomeParams"), "RegionScore");
	size_t n = 0, cap = json_object_size(regions);
	const char *key;

	memset(b, 0, sizeof(*b));
	pm__derp_map_update__init(&b->u);
	if (cap > REGIONS_MAX)
		cap = REGIONS_MAX;
	b->reg = calloc(cap + 1, sizeof(*b->reg));
	b->rp = calloc(cap + 1, sizeof(*b->rp));
	b->nodes = calloc((cap + 1) * NODES_MAX, sizeof(*b->nodes));
	b->np = calloc((cap + 1) * NODES_MAX, sizeof(*b->np));
	if (b->reg == NULL || b->rp == NULL || b->nodes == NULL ||
	    b->np == NULL) {
		fanout_derp_build_free(b);
		return -1;
	}
	json_object_foreach(regions, key, jr) {
		if (n == cap)
			break;
		if (region_msg(key, jr, &b->reg[n], b->nodes + n * NODES_MAX,
		    b->np + n * NODES_MAX, scores)) {
			b->rp[n] = &b->reg[n];
			n++;
		}
	}
	qsort(b->rp, n, sizeof(*b->rp), region_cmp);
	b->u.regions = b->rp;
	b->u.n_regions = n;
	b->u.home_region = home_region(nm, b->rp, n);
	return 0;
}

void
fanout_derp(struct ctrld *cd, const struct netmap *nm)
{
	struct ipc_chan *ch = child_chan(&cd->c, PM__PROC__PROC_NETD);
	struct derp_build b;
	uint8_t d[32];
	int home = nm->have_self ? nm->self.home_derp : 0;

	if (fd.sent && fd.last_map == nm->derpmap && fd.last_home == home)
		return;
	fd.last_map = nm->derpmap;
	fd.last_home = home;
	if (fanout_derp_build(nm, &b) < 0)
		goto fail;
	fanout_digest(&b.u.base, d);
	if (fd.sent && memcmp(d, fd.digest, 32) == 0)
		goto out;
	/* Control learns the home region as NetInfo.PreferredDERP; peers
	 * then reach us through it. */
	if (ctrlmsg_set_preferred_derp((int)b.u.home_region))
		control_send_update(&cd->ctl);
	b.u.generation = ++fd.gen;
	if (send_parts(ch, &b.u) < 0)
		goto fail;
	memcpy(fd.digest, d, 32);
	fd.sent = true;
	log_info("DERP map %llu to netd: %zu regions, home %u",
	    (unsigned long long)b.u.generation, b.u.n_regions,
	    b.u.home_region);
	goto out;
fail:
	fd.sent = false;
	log_warnx("fan-out to netd: cannot send the DERP map");
out:
	fanout_derp_build_free(&b);
}

void
fanout_derp_restarted(void)
{
	fd.sent = false;
}
