/*
 * tailcfg.Node and tailcfg.PeerChange from JSON: keys, prefixes, ip:port
 * endpoints and RFC 3339 times checked, lists bounded (netmap.h).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "keys.h"
#include "nm_parse.h"

int
nm_fail(char *err, size_t errlen, const char *fmt, const char *what)
{
	snprintf(err, errlen, fmt, what);
	return -1;
}

void
nm_strv_free(char **v, size_t n)
{
	if (v == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

void
nm_node_free(struct nm_node *n)
{
	nm_strv_free(n->addrs, n->naddrs);
	nm_strv_free(n->allowed, n->nallowed);
	nm_strv_free(n->endpoints, n->nendpoints);
	memset(n, 0, sizeof(*n));
}

void
nm_nodes_free(struct nm_node *v, size_t n)
{
	if (v == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		nm_node_free(&v[i]);
	free(v);
}

/* "a.b.c.d/n" or "v6/n", address and length checked: the netmap's
 * prefixes and the prefs' advertised routes alike. */
bool
nm_valid_prefix(const char *s)
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
		return nm_fail(err, errlen, "map: %s is not an array", field);
	if ((n = json_array_size(arr)) > max)
		return nm_fail(err, errlen, "map: too many %s", field);
	if (n == 0)
		return 0;
	if ((*out = calloc(n, sizeof(char *))) == NULL)
		return nm_fail(err, errlen, "map: %s: out of memory", field);
	json_array_foreach(arr, i, v) {
		const char *s = json_string_value(v);

		if (s == NULL || !ok(s) || ((*out)[i] = strdup(s)) == NULL) {
			nm_strv_free(*out, i);
			*out = NULL;
			*nout = 0;
			return nm_fail(err, errlen, "map: bad entry in %s", field);
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
			nm_strv_free(*out, i);
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
		return nm_fail(err, errlen, "map: bad time in %s", k);
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
		return nm_fail(err, errlen, "map: bad key in %s", k);
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
		return nm_fail(err, errlen, "map: bad string in %s", field);
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

int
nm_node_parse(json_t *o, struct nm_node *n, char *err, size_t errlen)
{
	json_t *id = json_object_get(o, "ID"), *hi, *v;
	bool has_key;

	memset(n, 0, sizeof(*n));
	n->online = -1;
	if (!json_is_object(o))
		return nm_fail(err, errlen, "map: %s is not an object", "Node");
	if (!json_is_integer(id) || json_integer_value(id) <= 0)
		return nm_fail(err, errlen, "map: Node without a valid %s", "ID");
	n->id = json_integer_value(id);
	if (key_field(o, "Key", "nodekey:", n->key, &has_key, err, errlen) < 0)
		goto bad;
	if (!has_key) {
		nm_fail(err, errlen, "map: Node without a %s", "Key");
		goto bad;
	}
	if (key_field(o, "DiscoKey", "discokey:", n->disco, &n->has_disco,
	    err, errlen) < 0 ||
	    copy_str(n->name, sizeof(n->name), json_object_get(o, "Name"),
	    "Name", err, errlen) < 0)
		goto bad;
	if ((hi = json_object_get(o, "Hostinfo")) != NULL && !json_is_null(hi)) {
		if (!json_is_object(hi)) {
			nm_fail(err, errlen, "map: %s is not an object", "Hostinfo");
			goto bad;
		}
		if (copy_str(n->hostname, sizeof(n->hostname),
		    json_object_get(hi, "Hostname"), "Hostname", err,
		    errlen) < 0 || copy_str(n->os, sizeof(n->os),
		    json_object_get(hi, "OS"), "OS", err, errlen) < 0)
			goto bad;
	}
	if (strv_parse(json_object_get(o, "Addresses"), NM_MAX_ADDRS,
	    nm_valid_prefix, &n->addrs, &n->naddrs, "Addresses", err, errlen) < 0)
		goto bad;
	v = json_object_get(o, "AllowedIPs");
	if (v == NULL || json_is_null(v)) {
		/* capver 112: nil AllowedIPs means the node's Addresses. */
		if (strv_copy(n->addrs, n->naddrs, &n->allowed,
		    &n->nallowed) < 0) {
			nm_fail(err, errlen, "map: %s: out of memory", "AllowedIPs");
			goto bad;
		}
	} else if (strv_parse(v, NM_MAX_ALLOWED, nm_valid_prefix, &n->allowed,
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
	nm_node_free(n);
	return -1;
}

static int
cmp_node(const void *a, const void *b)
{
	const struct nm_node *x = a, *y = b;
	return x->id < y->id ? -1 : x->id > y->id;
}

int
nm_nodes_parse(json_t *arr, struct nm_node **out, size_t *nout, bool sort,
    const char *field, char *err, size_t errlen)
{
	size_t i, n;
	json_t *v;

	*out = NULL;
	*nout = 0;
	if (!json_is_array(arr))
		return nm_fail(err, errlen, "map: %s is not an array", field);
	if ((n = json_array_size(arr)) > NM_MAX_PEERS)
		return nm_fail(err, errlen, "map: too many peers in %s", field);
	if (n == 0)
		return 0;
	if ((*out = calloc(n, sizeof(**out))) == NULL)
		return nm_fail(err, errlen, "map: %s: out of memory", field);
	json_array_foreach(arr, i, v) {
		if (nm_node_parse(v, &(*out)[i], err, errlen) < 0) {
			nm_nodes_free(*out, i);
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
				nm_nodes_free(*out, n);
				*out = NULL;
				*nout = 0;
				return nm_fail(err, errlen, "map: duplicate node "
				    "ID in %s", field);
			}
	}
	return 0;
}

int
nm_patch_parse(json_t *o, struct patch *p, char *err, size_t errlen)
{
	json_t *v;

	memset(p, 0, sizeof(*p));
	p->online = -1;
	if (!json_is_object(o) || !json_is_integer(v = json_object_get(o,
	    "NodeID")))
		return nm_fail(err, errlen, "map: bad %s", "PeersChangedPatch");
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
		nm_strv_free(p->endpoints, p->nendpoints);
		p->endpoints = NULL;
		return -1;
	}
	if (json_is_boolean(v = json_object_get(o, "Online")))
		p->online = json_is_true(v);
	return 0;
}

/* {"<decimal id>": bool}. */
int
nm_idbool_check(json_t *o, const char *field, char *err, size_t errlen)
{
	const char *k;
	json_t *v;

	if (o == NULL || json_is_null(o))
		return 0;
	if (!json_is_object(o) || json_object_size(o) > NM_MAX_PEERS)
		return nm_fail(err, errlen, "map: bad %s", field);
	json_object_foreach(o, k, v) {
		char *end;
		errno = 0;
		(void)strtoll(k, &end, 10);
		if (errno != 0 || *end != '\0' || end == k ||
		    !json_is_boolean(v))
			return nm_fail(err, errlen, "map: bad entry in %s", field);
	}
	return 0;
}
