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
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "keys.h"
#include "netmap.h"

struct patch {
	int64_t		 id;
	int		 derp;		/* 0: unchanged */
	char		**endpoints;	/* NULL: unchanged */
	size_t		 nendpoints;
	bool		 has_endpoints, has_key, has_disco;
	uint8_t		 key[32], disco[32];
	int		 online;	/* -1: unchanged */
	int64_t		 last_seen, key_expiry;	/* 0: unchanged */
};

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

static int
fail(char *err, size_t errlen, const char *fmt, const char *what)
{
	snprintf(err, errlen, fmt, what);
	return -1;
}

static void
strv_free(char **v, size_t n)
{
	if (v == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static void
node_free(struct nm_node *n)
{
	strv_free(n->addrs, n->naddrs);
	strv_free(n->allowed, n->nallowed);
	strv_free(n->endpoints, n->nendpoints);
	memset(n, 0, sizeof(*n));
}

static void
nodes_free(struct nm_node *v, size_t n)
{
	if (v == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		node_free(&v[i]);
	free(v);
}

/* "a.b.c.d/n" or "v6/n", address and length checked. */
static bool
valid_prefix(const char *s)
{
	char buf[64], *slash, *end;
	unsigned char a[16];
	long bits;
	bool v6;

	if (strlen(s) >= sizeof(buf))
		return false;
	strcpy(buf, s);
	if ((slash = strchr(buf, '/')) == NULL)
		return false;
	*slash = '\0';
	v6 = strchr(buf, ':') != NULL;
	if (inet_pton(v6 ? AF_INET6 : AF_INET, buf, a) != 1)
		return false;
	errno = 0;
	bits = strtol(slash + 1, &end, 10);
	return errno == 0 && *end == '\0' && end != slash + 1 && bits >= 0 &&
	    bits <= (v6 ? 128 : 32);
}

/* "ip:port" or "[v6]:port". */
static bool
valid_addrport(const char *s)
{
	char buf[64], *colon, *host, *end;
	unsigned char a[16];
	long port;
	bool v6 = s[0] == '[';

	if (strlen(s) >= sizeof(buf))
		return false;
	strcpy(buf, s);
	if ((colon = strrchr(buf, ':')) == NULL)
		return false;
	*colon = '\0';
	host = buf;
	if (v6) {
		size_t hl = strlen(host);
		if (hl < 3 || host[hl - 1] != ']')
			return false;
		host[hl - 1] = '\0';
		host++;
	}
	if (inet_pton(v6 ? AF_INET6 : AF_INET, host, a) != 1)
		return false;
	errno = 0;
	port = strtol(colon + 1, &end, 10);
	return errno == 0 && *end == '\0' && end != colon + 1 && port > 0 &&
	    port <= 65535;
}

/* A JSON array of strings, each passing `ok`, at most `max`. */
static int
strv_parse(json_t *arr, size_t max, bool (*ok)(const char *), char ***out,
    size_t *nout, const char *field, char *err, size_t errlen)
{
	size_t i, n;
	json_t *v;

	*out = NULL;
	*nout = 0;
	if (arr == NULL || json_is_null(arr))
		return 0;
	if (!json_is_array(arr))
		return fail(err, errlen, "map: %s is not an array", field);
	if ((n = json_array_size(arr)) > max)
		return fail(err, errlen, "map: too many %s", field);
	if (n == 0)
		return 0;
	if ((*out = calloc(n, sizeof(char *))) == NULL)
		return fail(err, errlen, "map: %s: out of memory", field);
	json_array_foreach(arr, i, v) {
		const char *s = json_string_value(v);

		if (s == NULL || !ok(s) || ((*out)[i] = strdup(s)) == NULL) {
			strv_free(*out, i);
			*out = NULL;
			*nout = 0;
			return fail(err, errlen, "map: bad entry in %s", field);
		}
		*nout = i + 1;
	}
	return 0;
}

static int
strv_copy(char **from, size_t n, char ***out, size_t *nout)
{
	*out = NULL;
	*nout = 0;
	if (n == 0)
		return 0;
	if ((*out = calloc(n, sizeof(char *))) == NULL)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (((*out)[i] = strdup(from[i])) == NULL) {
			strv_free(*out, i);
			*out = NULL;
			return -1;
		}
	*nout = n;
	return 0;
}

int
nm_parse_time(const char *s, int64_t *out)
{
	struct tm tm = { 0 };
	int n = 0, oh, om;
	const char *p;
	time_t t;

	if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon,
	    &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &n) != 6 ||
	    n != 19)
		return -1;
	p = s + n;
	if (*p == '.') {
		p++;
		if (*p < '0' || *p > '9')
			return -1;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	if (tm.tm_mon < 0 || tm.tm_mon > 11 || tm.tm_mday < 1 ||
	    tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59 ||
	    tm.tm_sec > 60)
		return -1;
	t = timegm(&tm);
	if (strcmp(p, "Z") == 0) {
		*out = (int64_t)t;
		return 0;
	}
	if ((p[0] != '+' && p[0] != '-') || sscanf(p + 1, "%2d:%2d%n", &oh,
	    &om, &n) != 2 || n != 5 || p[6] != '\0' || oh > 23 || om > 59)
		return -1;
	*out = (int64_t)t - (p[0] == '+' ? 1 : -1) * (oh * 3600 + om * 60);
	return 0;
}

/* Optional time field: 0 when absent, null or the zero time. */
static int
time_field(json_t *o, const char *k, int64_t *out, char *err, size_t errlen)
{
	json_t *v = json_object_get(o, k);

	*out = 0;
	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_string(v) || nm_parse_time(json_string_value(v), out) < 0)
		return fail(err, errlen, "map: bad time in %s", k);
	if (*out < 0)
		*out = 0;	/* 0001-01-01: Go's zero time */
	return 0;
}

static int
key_field(json_t *o, const char *k, const char *prefix, uint8_t out[32],
    bool *present, char *err, size_t errlen)
{
	json_t *v = json_object_get(o, k);

	*present = false;
	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_string(v) || key_parse(json_string_value(v), prefix,
	    out) < 0)
		return fail(err, errlen, "map: bad key in %s", k);
	*present = true;
	return 0;
}

static int
copy_str(char *dst, size_t cap, json_t *v, const char *field, char *err,
    size_t errlen)
{
	const char *s;

	if (v == NULL || json_is_null(v))
		return 0;
	if ((s = json_string_value(v)) == NULL || strlen(s) >= cap)
		return fail(err, errlen, "map: bad string in %s", field);
	strcpy(dst, s);
	return 0;
}

/* Legacy "127.3.3.40:<region>". */
static int
legacy_derp(const char *s)
{
	int region, n = 0;

	if (sscanf(s, "127.3.3.40:%d%n", &region, &n) == 1 &&
	    s[n] == '\0' && region > 0)
		return region;
	return 0;
}

static int
node_parse(json_t *o, struct nm_node *n, char *err, size_t errlen)
{
	json_t *id = json_object_get(o, "ID"), *hi, *v;
	bool has_key;

	memset(n, 0, sizeof(*n));
	n->online = -1;
	if (!json_is_object(o))
		return fail(err, errlen, "map: %s is not an object", "Node");
	if (!json_is_integer(id) || json_integer_value(id) <= 0)
		return fail(err, errlen, "map: Node without a valid %s", "ID");
	n->id = json_integer_value(id);
	if (key_field(o, "Key", "nodekey:", n->key, &has_key, err, errlen) < 0)
		goto bad;
	if (!has_key) {
		fail(err, errlen, "map: Node without a %s", "Key");
		goto bad;
	}
	if (key_field(o, "DiscoKey", "discokey:", n->disco, &n->has_disco,
	    err, errlen) < 0 ||
	    copy_str(n->name, sizeof(n->name), json_object_get(o, "Name"),
	    "Name", err, errlen) < 0)
		goto bad;
	if ((hi = json_object_get(o, "Hostinfo")) != NULL && !json_is_null(hi)) {
		if (!json_is_object(hi)) {
			fail(err, errlen, "map: %s is not an object", "Hostinfo");
			goto bad;
		}
		if (copy_str(n->hostname, sizeof(n->hostname),
		    json_object_get(hi, "Hostname"), "Hostname", err,
		    errlen) < 0 || copy_str(n->os, sizeof(n->os),
		    json_object_get(hi, "OS"), "OS", err, errlen) < 0)
			goto bad;
	}
	if (strv_parse(json_object_get(o, "Addresses"), NM_MAX_ADDRS,
	    valid_prefix, &n->addrs, &n->naddrs, "Addresses", err, errlen) < 0)
		goto bad;
	v = json_object_get(o, "AllowedIPs");
	if (v == NULL || json_is_null(v)) {
		/* capver 112: nil AllowedIPs means the node's Addresses. */
		if (strv_copy(n->addrs, n->naddrs, &n->allowed,
		    &n->nallowed) < 0) {
			fail(err, errlen, "map: %s: out of memory", "AllowedIPs");
			goto bad;
		}
	} else if (strv_parse(v, NM_MAX_ALLOWED, valid_prefix, &n->allowed,
	    &n->nallowed, "AllowedIPs", err, errlen) < 0)
		goto bad;
	if (strv_parse(json_object_get(o, "Endpoints"), NM_MAX_ENDPOINTS,
	    valid_addrport, &n->endpoints, &n->nendpoints, "Endpoints", err,
	    errlen) < 0)
		goto bad;
	v = json_object_get(o, "HomeDERP");
	if (json_is_integer(v) && json_integer_value(v) > 0 &&
	    json_integer_value(v) < 1 << 30)
		n->home_derp = (int)json_integer_value(v);
	else if (json_is_string(json_object_get(o, "DERP")))
		n->home_derp = legacy_derp(json_string_value(
		    json_object_get(o, "DERP")));
	if (json_is_boolean(v = json_object_get(o, "Online")))
		n->online = json_is_true(v);
	if (json_is_integer(v = json_object_get(o, "User")))
		n->user = json_integer_value(v);
	n->expired = json_is_true(json_object_get(o, "Expired"));
	n->machine_authorized = json_is_true(json_object_get(o,
	    "MachineAuthorized"));
	if (time_field(o, "LastSeen", &n->last_seen, err, errlen) < 0 ||
	    time_field(o, "KeyExpiry", &n->key_expiry, err, errlen) < 0)
		goto bad;
	return 0;
bad:
	node_free(n);
	return -1;
}

static int
cmp_node(const void *a, const void *b)
{
	const struct nm_node *x = a, *y = b;
	return x->id < y->id ? -1 : x->id > y->id;
}

static int
nodes_parse(json_t *arr, struct nm_node **out, size_t *nout, bool sort,
    const char *field, char *err, size_t errlen)
{
	size_t i, n;
	json_t *v;

	*out = NULL;
	*nout = 0;
	if (!json_is_array(arr))
		return fail(err, errlen, "map: %s is not an array", field);
	if ((n = json_array_size(arr)) > NM_MAX_PEERS)
		return fail(err, errlen, "map: too many peers in %s", field);
	if (n == 0)
		return 0;
	if ((*out = calloc(n, sizeof(**out))) == NULL)
		return fail(err, errlen, "map: %s: out of memory", field);
	json_array_foreach(arr, i, v) {
		if (node_parse(v, &(*out)[i], err, errlen) < 0) {
			nodes_free(*out, i);
			*out = NULL;
			*nout = 0;
			return -1;
		}
		*nout = i + 1;
	}
	if (sort) {
		qsort(*out, n, sizeof(**out), cmp_node);
		for (i = 1; i < n; i++)
			if ((*out)[i].id == (*out)[i - 1].id) {
				nodes_free(*out, n);
				*out = NULL;
				*nout = 0;
				return fail(err, errlen, "map: duplicate node "
				    "ID in %s", field);
			}
	}
	return 0;
}

static int
patch_parse(json_t *o, struct patch *p, char *err, size_t errlen)
{
	json_t *v;

	memset(p, 0, sizeof(*p));
	p->online = -1;
	if (!json_is_object(o) || !json_is_integer(v = json_object_get(o,
	    "NodeID")))
		return fail(err, errlen, "map: bad %s", "PeersChangedPatch");
	p->id = json_integer_value(v);
	if (json_is_integer(v = json_object_get(o, "DERPRegion")) &&
	    json_integer_value(v) > 0 && json_integer_value(v) < 1 << 30)
		p->derp = (int)json_integer_value(v);
	if ((v = json_object_get(o, "Endpoints")) != NULL && !json_is_null(v)) {
		if (strv_parse(v, NM_MAX_ENDPOINTS, valid_addrport,
		    &p->endpoints, &p->nendpoints, "Endpoints", err, errlen) < 0)
			return -1;
		p->has_endpoints = true;
	}
	if (key_field(o, "Key", "nodekey:", p->key, &p->has_key, err,
	    errlen) < 0 || key_field(o, "DiscoKey", "discokey:", p->disco,
	    &p->has_disco, err, errlen) < 0 ||
	    time_field(o, "LastSeen", &p->last_seen, err, errlen) < 0 ||
	    time_field(o, "KeyExpiry", &p->key_expiry, err, errlen) < 0) {
		strv_free(p->endpoints, p->nendpoints);
		p->endpoints = NULL;
		return -1;
	}
	if (json_is_boolean(v = json_object_get(o, "Online")))
		p->online = json_is_true(v);
	return 0;
}

/* {"<decimal id>": bool}. */
static int
idbool_check(json_t *o, const char *field, char *err, size_t errlen)
{
	const char *k;
	json_t *v;

	if (o == NULL || json_is_null(o))
		return 0;
	if (!json_is_object(o) || json_object_size(o) > NM_MAX_PEERS)
		return fail(err, errlen, "map: bad %s", field);
	json_object_foreach(o, k, v) {
		char *end;
		errno = 0;
		(void)strtoll(k, &end, 10);
		if (errno != 0 || *end != '\0' || end == k ||
		    !json_is_boolean(v))
			return fail(err, errlen, "map: bad entry in %s", field);
	}
	return 0;
}

static void
parsed_free(struct parsed *p)
{
	if (p->self != NULL) {
		node_free(p->self);
		free(p->self);
	}
	nodes_free(p->full, p->nfull);
	nodes_free(p->changed, p->nchanged);
	free(p->removed);
	for (size_t i = 0; i < p->npatches; i++)
		strv_free(p->patches[i].endpoints, p->patches[i].nendpoints);
	free(p->patches);
}

static int
parse_removed(json_t *arr, struct parsed *p, char *err, size_t errlen)
{
	size_t i;
	json_t *v;

	if (!json_is_array(arr) || json_array_size(arr) > NM_MAX_PEERS)
		return fail(err, errlen, "map: bad %s", "PeersRemoved");
	if (json_array_size(arr) == 0)
		return 0;
	if ((p->removed = calloc(json_array_size(arr), sizeof(int64_t))) == NULL)
		return fail(err, errlen, "map: %s: out of memory", "PeersRemoved");
	json_array_foreach(arr, i, v) {
		if (!json_is_integer(v))
			return fail(err, errlen, "map: bad %s", "PeersRemoved");
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
		return fail(err, errlen, "map: bad %s", "PeersChangedPatch");
	if (json_array_size(arr) == 0)
		return 0;
	if ((p->patches = calloc(json_array_size(arr), sizeof(*p->patches))) ==
	    NULL)
		return fail(err, errlen, "map: %s: out of memory",
		    "PeersChangedPatch");
	json_array_foreach(arr, i, v) {
		if (patch_parse(v, &p->patches[i], err, errlen) < 0)
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
		return fail(err, errlen, "map: bad %s", k);
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
		    node_parse(v, p->self, err, errlen) < 0) {
			free(p->self);
			p->self = NULL;
			return -1;
		}
	}
	if ((v = json_object_get(root, "Peers")) != NULL && !json_is_null(v)) {
		if (nodes_parse(v, &p->full, &p->nfull, true, "Peers", err,
		    errlen) < 0)
			return -1;
		if (p->full == NULL)	/* present and empty: no peers */
			p->full = calloc(1, sizeof(*p->full));
		if (p->full == NULL)
			return fail(err, errlen, "map: %s: out of memory",
			    "Peers");
	} else {
		if ((v = json_object_get(root, "PeersChanged")) != NULL &&
		    !json_is_null(v) && nodes_parse(v, &p->changed,
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
	if (idbool_check(p->online, "OnlineChange", err, errlen) < 0 ||
	    idbool_check(p->seen, "PeerSeenChange", err, errlen) < 0 ||
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
			return fail(err, errlen, "map: bad %s", "Domain");
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
		node_free(&nm->self);
	nodes_free(nm->peers, nm->npeers);
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
		node_free(&nm->peers[i]);
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
	node_free(&nm->peers[i]);
	memmove(&nm->peers[i], &nm->peers[i + 1],
	    (nm->npeers - i - 1) * sizeof(nm->peers[0]));
	nm->npeers--;
}

static void
apply_patch(struct netmap *nm, struct patch *p)
{
	struct nm_node *n = netmap_peer(nm, p->id);

	if (n == NULL)
		return;		/* unknown NodeID: ignored, as map.go does */
	if (p->derp != 0)
		n->home_derp = p->derp;
	if (p->has_endpoints) {
		strv_free(n->endpoints, n->nendpoints);
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
apply_idbools(struct netmap *nm, json_t *online, json_t *seen)
{
	const char *k;
	json_t *v;

	json_object_foreach(online, k, v) {
		struct nm_node *n = netmap_peer(nm, strtoll(k, NULL, 10));
		if (n != NULL)
			n->online = json_is_true(v);
	}
	json_object_foreach(seen, k, v) {
		struct nm_node *n = netmap_peer(nm, strtoll(k, NULL, 10));
		if (n != NULL)
			n->last_seen = json_is_true(v) ? (int64_t)time(NULL) : 0;
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

static int
commit(struct netmap *nm, struct parsed *p, char *err, size_t errlen)
{
	size_t want = p->full != NULL ? p->nfull : nm->npeers + p->nchanged;

	if (want > NM_MAX_PEERS)
		return fail(err, errlen, "map: more than %s peers", "20000");
	if (p->full == NULL && want > nm->cap) {
		struct nm_node *n = realloc(nm->peers, want * sizeof(*n));
		if (n == NULL)
			return fail(err, errlen, "map: %s: out of memory",
			    "peers");
		nm->peers = n;
		nm->cap = want;
	}
	if (p->self != NULL) {
		if (nm->have_self)
			node_free(&nm->self);
		nm->self = *p->self;
		memset(p->self, 0, sizeof(*p->self));
		nm->have_self = true;
	}
	if (p->full != NULL) {
		nodes_free(nm->peers, nm->npeers);
		nm->peers = p->full;
		nm->npeers = nm->cap = p->nfull;
		p->full = NULL;
		p->nfull = 0;
		if (nm->cap == 0) {	/* the placeholder for an empty list */
			free(nm->peers);
			nm->peers = NULL;
		}
	}
	for (size_t i = 0; i < p->nchanged; i++)
		upsert(nm, &p->changed[i]);
	for (size_t i = 0; i < p->nremoved; i++)
		remove_peer(nm, p->removed[i]);
	for (size_t i = 0; i < p->npatches; i++)
		apply_patch(nm, &p->patches[i]);
	apply_idbools(nm, p->online, p->seen);
	if (p->derpmap != NULL)
		merge_derpmap(nm, p->derpmap);
	if (p->dns != NULL) {
		json_decref(nm->dns);
		nm->dns = json_incref(p->dns);
	}
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
		fail(err, errlen, "map: response is not a %s", "JSON object");
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
		fail(err, errlen, "map: first response has no %s", "Node");
		goto out;
	}
	if (commit(nm, &p, err, errlen) == 0)
		r = NM_APPLIED;
out:
	parsed_free(&p);
	json_decref(root);
	return r;
}
