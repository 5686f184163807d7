#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "dnsconf.h"

static int
fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static const char *
why(int r)
{
	switch (r) {
	case -EPROTONOSUPPORT:
		return "DNS-over-HTTPS/TLS resolvers are not supported";
	case -ELOOP:
		return "quad-100 cannot be its own upstream";
	case -E2BIG:
		return "too many entries";
	case -EAFNOSUPPORT:
		return "not an IPv4 or IPv6 address";
	case -ENOMEM:
		return "out of memory";
	default:
		return "not an IP address, ip:port or [ipv6]:port";
	}
}

typedef int (*add_fn)(struct zone *, const char *);

/* [{"Addr": "..."}, ...] (dnstype.Resolver); other Resolver keys are
 * accepted when they do not change where queries go. */
static int
resolvers(struct zone *z, json_t *arr, const char *path, add_fn add,
    const char *suffix, char *err, size_t errlen)
{
	size_t i;
	json_t *v;
	int r;

	if (!json_is_array(arr))
		return fail(err, errlen, "%s: must be a list of resolvers", path);
	json_array_foreach(arr, i, v) {
		json_t *a = json_object_get(v, "Addr");
		const char *k;
		json_t *x;

		if (!json_is_object(v) || !json_is_string(a))
			return fail(err, errlen, "%s[%zu]: must be an object "
			    "with a string \"Addr\"", path, i);
		json_object_foreach(v, k, x)
			if (strcmp(k, "Addr") != 0 &&
			    strcmp(k, "BootstrapResolution") != 0 &&
			    strcmp(k, "UseWithExitNode") != 0)
				return fail(err, errlen, "%s[%zu]: unknown "
				    "field \"%s\"", path, i, k);
		r = suffix ? zone_add_route(z, suffix, json_string_value(a)) :
		    add(z, json_string_value(a));
		if (r < 0)
			return fail(err, errlen, "%s[%zu].Addr: \"%s\": %s", path,
			    i, json_string_value(a), why(r));
	}
	return 0;
}

static int
routes(struct zone *z, json_t *obj, char *err, size_t errlen)
{
	const char *suffix;
	json_t *v;
	char path[600];

	if (!json_is_object(obj))
		return fail(err, errlen, "Routes: must be an object of "
		    "suffix -> list of resolvers");
	json_object_foreach(obj, suffix, v) {
		int r;
		snprintf(path, sizeof(path), "Routes[\"%.500s\"]", suffix);
		if ((r = zone_add_route(z, suffix, NULL)) < 0)
			return fail(err, errlen, "%s: not a valid domain name",
			    path);
		if (json_is_null(v))
			continue;
		if ((r = resolvers(z, v, path, NULL, suffix, err, errlen)) < 0)
			return r;
	}
	return 0;
}

static int
domains(struct zone *z, json_t *arr, char *err, size_t errlen)
{
	size_t i;
	json_t *v;

	if (!json_is_array(arr))
		return fail(err, errlen, "Domains: must be a list of names");
	json_array_foreach(arr, i, v) {
		int r;
		if (!json_is_string(v))
			return fail(err, errlen, "Domains[%zu]: must be a string",
			    i);
		if ((r = zone_add_search(z, json_string_value(v))) < 0)
			return fail(err, errlen, "Domains[%zu]: \"%s\": %s", i,
			    json_string_value(v), r == -E2BIG ?
			    "too many search domains" : "not a domain name");
	}
	return 0;
}

static int
add_host(struct zone *z, const char *path, const char *name,
    const char *addr, char *err, size_t errlen)
{
	int r = zone_add_host(z, name, addr);

	if (r == -EINVAL)
		return fail(err, errlen, "%s: \"%s\": not a domain name", path,
		    name);
	if (r < 0)
		return fail(err, errlen, "%s: \"%s\": %s", path, addr, why(r));
	return 0;
}

/* tailcfg.DNSRecord: Type "" picks the family from the value. */
static int
extra_records(struct zone *z, json_t *arr, char *err, size_t errlen)
{
	size_t i;
	json_t *v;
	char path[64];

	if (!json_is_array(arr))
		return fail(err, errlen, "ExtraRecords: must be a list");
	json_array_foreach(arr, i, v) {
		json_t *n = json_object_get(v, "Name");
		json_t *t = json_object_get(v, "Type");
		json_t *val = json_object_get(v, "Value");
		const char *ty = json_is_string(t) ? json_string_value(t) : "";
		bool colon;

		snprintf(path, sizeof(path), "ExtraRecords[%zu]", i);
		if (!json_is_object(v) || !json_is_string(n) ||
		    !json_is_string(val) || (t != NULL && !json_is_string(t)))
			return fail(err, errlen, "%s: needs string \"Name\" and "
			    "\"Value\" (and \"Type\" if present)", path);
		colon = strchr(json_string_value(val), ':') != NULL;
		if (strcmp(ty, "") != 0 && strcmp(ty, "A") != 0 &&
		    strcmp(ty, "AAAA") != 0)
			return fail(err, errlen, "%s.Type: \"%s\": only \"A\", "
			    "\"AAAA\" or \"\" are supported", path, ty);
		if ((strcmp(ty, "A") == 0 && colon) ||
		    (strcmp(ty, "AAAA") == 0 && !colon))
			return fail(err, errlen, "%s.Value: \"%s\" is not an "
			    "address of type %s", path,
			    json_string_value(val), ty);
		strcat(path, ".Value");
		if (add_host(z, path, json_string_value(n),
		    json_string_value(val), err, errlen) < 0)
			return -EINVAL;
	}
	return 0;
}

static int
hosts(struct zone *z, json_t *obj, char *err, size_t errlen)
{
	const char *name;
	json_t *v, *a;
	char path[600];
	size_t i;

	if (!json_is_object(obj))
		return fail(err, errlen, "Hosts: must be an object of "
		    "name -> list of addresses");
	json_object_foreach(obj, name, v) {
		if (!json_is_array(v) || json_array_size(v) == 0)
			return fail(err, errlen, "Hosts[\"%.500s\"]: must be a "
			    "non-empty list of addresses", name);
		json_array_foreach(v, i, a) {
			snprintf(path, sizeof(path), "Hosts[\"%.500s\"][%zu]",
			    name, i);
			if (!json_is_string(a))
				return fail(err, errlen, "%s: must be a string",
				    path);
			if (add_host(z, path, name, json_string_value(a), err,
			    errlen) < 0)
				return -EINVAL;
		}
	}
	return 0;
}

static int
field(struct zone *z, const char *k, json_t *v, char *err, size_t errlen)
{
	if (strcmp(k, "Resolvers") == 0)
		return resolvers(z, v, k, zone_add_default, NULL, err, errlen);
	if (strcmp(k, "FallbackResolvers") == 0)
		return resolvers(z, v, k, zone_add_fallback, NULL, err, errlen);
	if (strcmp(k, "Routes") == 0)
		return routes(z, v, err, errlen);
	if (strcmp(k, "Domains") == 0)
		return domains(z, v, err, errlen);
	if (strcmp(k, "ExtraRecords") == 0)
		return extra_records(z, v, err, errlen);
	if (strcmp(k, "Hosts") == 0)
		return hosts(z, v, err, errlen);
	if (strcmp(k, "Proxied") == 0) {
		if (!json_is_boolean(v))
			return fail(err, errlen, "Proxied: must be true or false");
		z->proxied = json_is_true(v);
		return 0;
	}
	if (strcmp(k, "Nameservers") == 0 || strcmp(k, "CertDomains") == 0 ||
	    strcmp(k, "ExitNodeFilteredSet") == 0)
		return 0;
	return fail(err, errlen, "unknown field \"%s\"", k);
}

int
dnsconf_parse(const char *text, size_t len, struct zone *z, char *err,
    size_t errlen)
{
	json_error_t je;
	json_t *root, *v;
	const char *k;
	int r = 0;

	if (len > DNSCONF_MAX)
		return fail(err, errlen, "larger than %d bytes", DNSCONF_MAX);
	root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
	if (root == NULL)
		return fail(err, errlen, "line %d, column %d: %s", je.line,
		    je.column, je.text);
	if (!json_is_object(root)) {
		json_decref(root);
		return fail(err, errlen, "line 1: the file must hold one JSON "
		    "object");
	}
	json_object_foreach(root, k, v)
		if ((r = field(z, k, v, err, errlen)) < 0)
			break;
	json_decref(root);
	if (r == 0 && (r = zone_finish(z)) < 0)
		return fail(err, errlen, "cannot index the records: %s",
		    strerror(-r));
	return r;
}
