/*
 * MapResponse -> struct netmap (tailcfg.MapResponse, tailcfg.Node,
 * tailcfg.PeerChange; delta rules as in control/controlclient/map.go):
 *
 *   Node                 self; null/absent: unchanged
 *   Peers                the whole peer list (then Peers* are ignored)
 *   PeersChanged         whole Nodes, upserted by ID
 *   PeersRemoved         NodeIDs
 *   PeersChangedPatch    PeerChange, applied after the above
 *   OnlineChange         {"id": bool}
 *   PeerSeenChange       {"id": bool}: true = seen now, false = unknown
 *   DERPMap, DNSConfig   null/absent: unchanged
 *   PacketFilter         null: unchanged; [] = deny all (the "base" list)
 *   PacketFilters        {"name": rules|null}; "*": null clears all first
 *   UserProfiles         upserted by ID
 *   Domain               "": unchanged
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "netmap.h"
#include "nm_parse.h"

struct parsed {
	bool		 keepalive;
	struct nm_node	*self;
	struct nm_node	*full;		/* Peers, sorted; NULL: absent */
	size_t		 nfull;
	struct nm_node	*changed;	/* PeersChanged */
	size_t		 nchanged;
	int64_t		*removed;
	size_t		 nremoved;
	struct patch	*patches;
	size_t		 npatches;
	json_t		*online, *seen;
	json_t		*derpmap, *dns, *filter, *filters, *profiles;
	const char	*domain;
};

static void
parsed_free(struct parsed *p)
{
	if (p->self != NULL) {
		nm_node_free(p->self);
		free(p->self);
	}
	nm_nodes_free(p->full, p->nfull);
	nm_nodes_free(p->changed, p->nchanged);
	free(p->removed);
	for (size_t i = 0; i < p->npatches; i++)
		nm_strv_free(p->patches[i].endpoints, p->patches[i].nendpoints);
	free(p->patches);
}

static int
parse_removed(json_t *arr, struct parsed *p, char *err, size_t errlen)
{
	size_t i;
	json_t *v;

	if (!json_is_array(arr) || json_array_size(arr) > NM_MAX_PEERS)
		return nm_fail(err, errlen, "map: bad %s", "PeersRemoved");
	if (json_array_size(arr) == 0)
		return 0;
	if ((p->removed = calloc(json_array_size(arr), sizeof(int64_t))) == NULL)
		return nm_fail(err, errlen, "map: %s: out of memory", "PeersRemoved");
	json_array_foreach(arr, i, v) {
		if (!json_is_integer(v))
			return nm_fail(err, errlen, "map: bad %s", "PeersRemoved");
		p->removed[p->nremoved++] = json_integer_value(v);
	}
	return 0;
}

static int
parse_patches(json_t *arr, struct parsed *p, char *err, size_t errlen)
{
	size_t i;
	json_t *v;

	if (!json_is_array(arr) || json_array_size(arr) > NM_MAX_PEERS)
		return nm_fail(err, errlen, "map: bad %s", "PeersChangedPatch");
	if (json_array_size(arr) == 0)
		return 0;
	if ((p->patches = calloc(json_array_size(arr), sizeof(*p->patches))) ==
	    NULL)
		return nm_fail(err, errlen, "map: %s: out of memory",
		    "PeersChangedPatch");
	json_array_foreach(arr, i, v) {
		if (nm_patch_parse(v, &p->patches[i], err, errlen) < 0)
			return -1;
		p->npatches = i + 1;
	}
	return 0;
}

/* Optional object-or-null field; returns the object or NULL. */
static int
opt_object(json_t *root, const char *k, json_t **out, bool array,
    char *err, size_t errlen)
{
	json_t *v = json_object_get(root, k);

	*out = NULL;
	if (v == NULL || json_is_null(v))
		return 0;
	if (array ? !json_is_array(v) : !json_is_object(v))
		return nm_fail(err, errlen, "map: bad %s", k);
	*out = v;
	return 0;
}

static int
parse_all(json_t *root, struct parsed *p, char *err, size_t errlen)
{
	json_t *v;

	p->keepalive = json_is_true(json_object_get(root, "KeepAlive"));
	if ((v = json_object_get(root, "Node")) != NULL && !json_is_null(v)) {
		if ((p->self = calloc(1, sizeof(*p->self))) == NULL ||
		    nm_node_parse(v, p->self, err, errlen) < 0) {
			free(p->self);
			p->self = NULL;
			return -1;
		}
	}
	if ((v = json_object_get(root, "Peers")) != NULL && !json_is_null(v)) {
		if (nm_nodes_parse(v, &p->full, &p->nfull, true, "Peers", err,
		    errlen) < 0)
			return -1;
		if (p->full == NULL)	/* present and empty: no peers */
			p->full = calloc(1, sizeof(*p->full));
		if (p->full == NULL)
			return nm_fail(err, errlen, "map: %s: out of memory",
			    "Peers");
	} else {
		if ((v = json_object_get(root, "PeersChanged")) != NULL &&
		    !json_is_null(v) && nm_nodes_parse(v, &p->changed,
		    &p->nchanged, false, "PeersChanged", err, errlen) < 0)
			return -1;
		if ((v = json_object_get(root, "PeersRemoved")) != NULL &&
		    !json_is_null(v) && parse_removed(v, p, err, errlen) < 0)
			return -1;
	}
	if ((v = json_object_get(root, "PeersChangedPatch")) != NULL &&
	    !json_is_null(v) && parse_patches(v, p, err, errlen) < 0)
		return -1;
	p->online = json_object_get(root, "OnlineChange");
	p->seen = json_object_get(root, "PeerSeenChange");
	if (nm_idbool_check(p->online, "OnlineChange", err, errlen) < 0 ||
	    nm_idbool_check(p->seen, "PeerSeenChange", err, errlen) < 0 ||
	    opt_object(root, "DERPMap", &p->derpmap, false, err, errlen) < 0 ||
	    opt_object(root, "DNSConfig", &p->dns, false, err, errlen) < 0 ||
	    opt_object(root, "PacketFilter", &p->filter, true, err,
	    errlen) < 0 ||
	    opt_object(root, "PacketFilters", &p->filters, false, err,
	    errlen) < 0 ||
	    opt_object(root, "UserProfiles", &p->profiles, true, err,
	    errlen) < 0)
		return -1;
	if ((v = json_object_get(root, "Domain")) != NULL && !json_is_null(v)) {
		if (!json_is_string(v) || strlen(json_string_value(v)) >=
		    NM_NAME_MAX)
			return nm_fail(err, errlen, "map: bad %s", "Domain");
		p->domain = json_string_value(v);
	}
	return 0;
}

void
netmap_init(struct netmap *nm)
{
	memset(nm, 0, sizeof(*nm));
	nm->filters = json_object();
	nm->profiles = json_object();
}

void
netmap_free(struct netmap *nm)
{
	if (nm->have_self)
		nm_node_free(&nm->self);
	nm_nodes_free(nm->peers, nm->npeers);
	json_decref(nm->derpmap);
	json_decref(nm->dns);
	json_decref(nm->filters);
	json_decref(nm->profiles);
	memset(nm, 0, sizeof(*nm));
}

static size_t
peer_index(const struct netmap *nm, int64_t id, bool *found)
{
	size_t lo = 0, hi = nm->npeers;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (nm->peers[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = lo < nm->npeers && nm->peers[lo].id == id;
	return lo;
}

struct nm_node *
netmap_peer(struct netmap *nm, int64_t id)
{
	bool found;
	size_t i = peer_index(nm, id, &found);

	return found ? &nm->peers[i] : NULL;
}

/* Takes ownership of *n's contents. */
static void
upsert(struct netmap *nm, struct nm_node *n)
{
	bool found;
	size_t i = peer_index(nm, n->id, &found);

	if (found) {
		nm_node_free(&nm->peers[i]);
		nm->peers[i] = *n;
	} else {
		memmove(&nm->peers[i + 1], &nm->peers[i],
		    (nm->npeers - i) * sizeof(*n));
		nm->peers[i] = *n;
		nm->npeers++;
	}
	memset(n, 0, sizeof(*n));
}

static void
remove_peer(struct netmap *nm, int64_t id)
{
	bool found;
	size_t i = peer_index(nm, id, &found);

	if (!found)
		return;
	nm_node_free(&nm->peers[i]);
	memmove(&nm->peers[i], &nm->peers[i + 1],
	    (nm->npeers - i - 1) * sizeof(nm->peers[0]));
	nm->npeers--;
}

static void
apply_patch(struct netmap *nm, struct patch *p, uint64_t stamp)
{
	struct nm_node *n = netmap_peer(nm, p->id);

	if (n == NULL)
		return;		/* unknown NodeID: ignored, as map.go does */
	n->mod = stamp;
	if (p->derp != 0)
		n->home_derp = p->derp;
	if (p->has_endpoints) {
		nm_strv_free(n->endpoints, n->nendpoints);
		n->endpoints = p->endpoints;
		n->nendpoints = p->nendpoints;
		p->endpoints = NULL;
		p->nendpoints = 0;
	}
	if (p->has_key)
		memcpy(n->key, p->key, 32);
	if (p->has_disco) {
		memcpy(n->disco, p->disco, 32);
		n->has_disco = true;
	}
	if (p->online >= 0)
		n->online = p->online;
	if (p->last_seen != 0)
		n->last_seen = p->last_seen;
	if (p->key_expiry != 0)
		n->key_expiry = p->key_expiry;
}

static void
apply_idbools(struct netmap *nm, json_t *online, json_t *seen,
    uint64_t stamp)
{
	const char *k;
	json_t *v;

	json_object_foreach(online, k, v) {
		struct nm_node *n = netmap_peer(nm, strtoll(k, NULL, 10));
		if (n != NULL) {
			n->online = json_is_true(v);
			n->mod = stamp;
		}
	}
	json_object_foreach(seen, k, v) {
		struct nm_node *n = netmap_peer(nm, strtoll(k, NULL, 10));
		if (n != NULL) {
			n->last_seen = json_is_true(v) ? (int64_t)time(NULL) : 0;
			n->mod = stamp;
		}
	}
}

static void
apply_filters(struct netmap *nm, json_t *filter, json_t *filters)
{
	const char *k;
	json_t *v;

	if (filters != NULL) {
		if (json_is_null(json_object_get(filters, "*")) &&
		    json_object_get(filters, "*") != NULL)
			json_object_clear(nm->filters);
		json_object_foreach(filters, k, v) {
			if (strcmp(k, "*") == 0)
				continue;
			if (json_is_null(v))
				json_object_del(nm->filters, k);
			else
				json_object_set(nm->filters, k, v);
		}
	}
	if (filter != NULL)
		json_object_set(nm->filters, "base", filter);
}

static void
apply_profiles(struct netmap *nm, json_t *profiles)
{
	size_t i;
	json_t *v;

	json_array_foreach(profiles, i, v) {
		json_t *id = json_object_get(v, "ID");
		char key[24];

		if (!json_is_integer(id) ||
		    json_object_size(nm->profiles) >= NM_MAX_PEERS)
			continue;
		snprintf(key, sizeof(key), "%lld",
		    (long long)json_integer_value(id));
		json_object_set(nm->profiles, key, v);
	}
}

/* Zero-valued DERPMap fields keep the previous values (capver 65; as
 * control/controlclient/map.go merges them); null regions are dropped. */
static void
merge_derpmap(struct netmap *nm, json_t *in)
{
	json_t *dm = json_deep_copy(in), *old = nm->derpmap, *regions, *hp, *ohp;
	const char *k;
	json_t *v;
	void *tmp;

	if (dm == NULL)
		return;
	if (json_is_object(regions = json_object_get(dm, "Regions")))
		json_object_foreach_safe(regions, tmp, k, v)
			if (!json_is_object(v))
				json_object_del(regions, k);
	if (old != NULL) {
		if (!json_is_object(json_object_get(dm, "Regions"))) {
			json_object_set(dm, "Regions", json_object_get(old,
			    "Regions"));
			if (json_object_get(old, "omitDefaultRegions") != NULL)
				json_object_set(dm, "omitDefaultRegions",
				    json_object_get(old, "omitDefaultRegions"));
		}
		hp = json_object_get(dm, "HomeParams");
		ohp = json_object_get(old, "HomeParams");
		if (!json_is_object(hp) && json_is_object(ohp))
			json_object_set(dm, "HomeParams", ohp);
		else if (json_is_object(hp) && json_is_object(ohp) &&
		    !json_is_object(json_object_get(hp, "RegionScore")) &&
		    json_object_get(ohp, "RegionScore") != NULL)
			json_object_set(hp, "RegionScore", json_object_get(ohp,
			    "RegionScore"));
	}
	json_decref(nm->derpmap);
	nm->derpmap = dm;
}

/* The clock behind every stamp (see netmap.h). */
static uint64_t nm_clock;

static int
commit(struct netmap *nm, struct parsed *p, char *err, size_t errlen)
{
	uint64_t stamp;
	size_t want = p->full != NULL ? p->nfull : nm->npeers + p->nchanged;

	if (want > NM_MAX_PEERS)
		return nm_fail(err, errlen, "map: more than %s peers", "20000");
	if (p->full == NULL && want > nm->cap) {
		struct nm_node *n = realloc(nm->peers, want * sizeof(*n));
		if (n == NULL)
			return nm_fail(err, errlen, "map: %s: out of memory",
			    "peers");
		nm->peers = n;
		nm->cap = want;
	}
	stamp = ++nm_clock;
	if (p->self != NULL) {
		p->self->mod = stamp;
		nm->self_mod = stamp;
		if (nm->have_self)
			nm_node_free(&nm->self);
		nm->self = *p->self;
		memset(p->self, 0, sizeof(*p->self));
		nm->have_self = true;
	}
	if (p->full != NULL) {
		for (size_t i = 0; i < p->nfull; i++)
			p->full[i].mod = stamp;
		nm_nodes_free(nm->peers, nm->npeers);
		nm->peers = p->full;
		nm->npeers = nm->cap = p->nfull;
		p->full = NULL;
		p->nfull = 0;
		if (nm->cap == 0) {	/* the placeholder for an empty list */
			free(nm->peers);
			nm->peers = NULL;
		}
	}
	for (size_t i = 0; i < p->nchanged; i++) {
		p->changed[i].mod = stamp;
		upsert(nm, &p->changed[i]);
	}
	for (size_t i = 0; i < p->nremoved; i++)
		remove_peer(nm, p->removed[i]);
	for (size_t i = 0; i < p->npatches; i++)
		apply_patch(nm, &p->patches[i], stamp);
	apply_idbools(nm, p->online, p->seen, stamp);
	if (p->derpmap != NULL)
		merge_derpmap(nm, p->derpmap);
	if (p->dns != NULL) {
		nm->dns_mod = stamp;
		json_decref(nm->dns);
		nm->dns = json_incref(p->dns);
	}
	if (p->filter != NULL || p->filters != NULL)
		nm->filter_mod = stamp;
	apply_filters(nm, p->filter, p->filters);
	apply_profiles(nm, p->profiles);
	if (p->domain != NULL && p->domain[0] != '\0')
		snprintf(nm->domain, sizeof(nm->domain), "%s", p->domain);
	nm->seq++;
	return 0;
}

enum nm_result
netmap_apply(struct netmap *nm, const char *json, size_t len, bool need_self,
    char *err, size_t errlen)
{
	struct parsed p = { 0 };
	json_error_t jerr;
	json_t *root;
	enum nm_result r = NM_ERROR;

	/* Duplicate keys: the last wins, as with Go's encoding/json (and
	 * checking for them costs 60 % more on a large map). */
	root = json_loadb(json, len, 0, &jerr);
	if (root == NULL) {
		snprintf(err, errlen, "map: response is not valid JSON: %s",
		    jerr.text);
		return NM_ERROR;
	}
	if (!json_is_object(root)) {
		nm_fail(err, errlen, "map: response is not a %s", "JSON object");
		goto out;
	}
	if (parse_all(root, &p, err, errlen) < 0)
		goto out;
	if (p.keepalive) {
		nm->keepalives++;
		r = NM_KEEPALIVE;
		goto out;
	}
	if (need_self && p.self == NULL) {
		nm_fail(err, errlen, "map: first response has no %s", "Node");
		goto out;
	}
	if (commit(nm, &p, err, errlen) == 0)
		r = NM_APPLIED;
out:
	parsed_free(&p);
	json_decref(root);
	return r;
}
