#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>

#include "ctrlmsg.h"
#include "keys.h"
#include "pm_config.h"

static const uint8_t zero_key[32];

/* NetInfo.PreferredDERP: the home region fan-out chose (fanout_derp.c),
 * until netd's netcheck chose one. */
static int preferred_derp;

/* Hostinfo.NetInfo as netd's netcheck last reported it. */
static struct {
	bool		 have;
	uint32_t	 preferred;
	uint32_t	 varies;	/* opt.Bool: 0 unset, 1 false, 2 true */
	bool		 udp, v6, os_v6;
	json_t		*latency;	/* DERPLatency, or NULL */
} ni;

static int
effective_derp(void)
{
	return ni.have && ni.preferred != 0 ? (int)ni.preferred :
	    preferred_derp;
}

bool
ctrlmsg_set_preferred_derp(int region)
{
	int before = effective_derp();

	preferred_derp = region;
	return effective_derp() != before;
}

/* DERPLatency: "<region>-v4" / "-v6" -> seconds, as magicsock fills it. */
static json_t *
latency_json(const struct ctrl_net_info *n)
{
	json_t *o = json_object();
	char k[24];

	for (size_t i = 0; o != NULL && i < n->nlat; i++) {
		const struct ctrl_derp_latency *l = &n->lat[i];

		if (l->v4_us != 0) {
			snprintf(k, sizeof(k), "%u-v4", l->region);
			json_object_set_new(o, k, json_real((double)l->v4_us /
			    1e6));
		}
		if (l->v6_us != 0) {
			snprintf(k, sizeof(k), "%u-v6", l->region);
			json_object_set_new(o, k, json_real((double)l->v6_us /
			    1e6));
		}
	}
	return o;
}

bool
ctrlmsg_set_net_info(const struct ctrl_net_info *n)
{
	int before = effective_derp();
	bool same;

	if (n == NULL) {
		same = !ni.have;
		json_decref(ni.latency);
		memset(&ni, 0, sizeof(ni));
		return !same || effective_derp() != before;
	}
	same = ni.have && ni.varies == n->varies &&
	    ni.udp == n->udp && ni.v6 == n->v6 && ni.os_v6 == n->os_v6;
	if (same && ni.preferred == n->preferred)
		return false;
	json_decref(ni.latency);
	ni.have = true;
	ni.preferred = n->preferred;
	ni.varies = n->varies;
	ni.udp = n->udp;
	ni.v6 = n->v6;
	ni.os_v6 = n->os_v6;
	ni.latency = latency_json(n);
	return !same || effective_derp() != before;
}

/* tailcfg.NetInfo, its fields in Go's order, zero values left out
 * (omitzero / omitempty). */
static json_t *
net_info_json(void)
{
	json_t *o = json_object();
	int derp = effective_derp();

	if (o == NULL)
		return NULL;
	if (ni.have) {
		if (ni.varies != 0)
			json_object_set_new(o, "MappingVariesByDestIP",
			    json_boolean(ni.varies == 2));
		json_object_set_new(o, "WorkingIPv6", json_boolean(ni.v6));
		json_object_set_new(o, "OSHasIPv6", json_boolean(ni.os_v6));
		json_object_set_new(o, "WorkingUDP", json_boolean(ni.udp));
		/* Set from report.ICMPv4; netd sends no ICMP probes. */
		json_object_set_new(o, "WorkingICMPv4", json_false());
	}
	if (derp != 0)
		json_object_set_new(o, "PreferredDERP", json_integer(derp));
	if (ni.have && json_object_size(ni.latency) > 0)
		json_object_set(o, "DERPLatency", ni.latency);
	return o;
}

json_t *
ctrlmsg_hostinfo(const struct prefs *p)
{
	struct utsname u;
	json_t *hi, *routes;
	size_t i;
	json_t *v;

	if (uname(&u) != 0)
		memset(&u, 0, sizeof(u));
	routes = json_array();
	json_array_foreach(p->advertise_routes, i, v)
		json_array_append(routes, v);
	if (p->advertise_exit_node) {
		json_array_append_new(routes, json_string("0.0.0.0/0"));
		json_array_append_new(routes, json_string("::/0"));
	}
	hi = json_pack("{s:s,s:s,s:s,s:s,s:s,s:o,s:o}",
	    "IPNVersion", "privmesh-" PM_VERSION,
	    "OS", "linux",
	    "OSVersion", u.release,
	    "Hostname", p->hostname[0] ? p->hostname : u.nodename,
	    "Machine", u.machine,
	    "RoutableIPs", routes,
	    "NetInfo", net_info_json());
	if (hi != NULL && json_array_size(p->advertise_tags) > 0)
		json_object_set(hi, "RequestTags", p->advertise_tags);
	return hi;
}

char *
ctrlmsg_register(const struct prefs *p, const struct reg_args *a)
{
	char nk[KEY_TEXT_MAX], ok[KEY_TEXT_MAX], nl[KEY_TEXT_MAX], *s;
	json_t *o;

	o = json_pack("{s:i,s:s,s:s,s:s,s:s,s:s,s:o,s:b}",
	    "Version", CTRL_CAPVER,
	    "NodeKey", key_format(nk, "nodekey:", a->node_pub),
	    "OldNodeKey", key_format(ok, "nodekey:", a->old_node_pub != NULL ?
	    a->old_node_pub : zero_key),
	    "NLKey", key_format(nl, "nlpub:", zero_key),
	    /* Unix 123, as the Go client sends for logout. */
	    "Expiry", a->logout ? "1970-01-01T00:02:03Z" :
	    "0001-01-01T00:00:00Z",
	    "Followup", a->followup != NULL ? a->followup : "",
	    "Hostinfo", ctrlmsg_hostinfo(p),
	    "Ephemeral", 0);
	if (o == NULL)
		return NULL;
	if (a->auth_key != NULL)
		json_object_set_new(o, "Auth", json_pack("{s:s}", "AuthKey",
		    a->auth_key));
	s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return s;
}

char *
ctrlmsg_map(const struct prefs *p, const uint8_t node_pub[32],
    const uint8_t disco_pub[32], json_t *endpoints, json_t *types,
    bool stream)
{
	char nk[KEY_TEXT_MAX], dk[KEY_TEXT_MAX], *s;
	json_t *o;

	o = json_pack("{s:i,s:s,s:b,s:s,s:s,s:b,s:b,s:o,s:o}",
	    "Version", CTRL_CAPVER,
	    "Compress", "zstd",
	    "KeepAlive", stream,
	    "NodeKey", key_format(nk, "nodekey:", node_pub),
	    "DiscoKey", key_format(dk, "discokey:", disco_pub),
	    "Stream", stream,
	    "OmitPeers", !stream,
	    "Hostinfo", ctrlmsg_hostinfo(p),
	    "Endpoints", endpoints != NULL ? endpoints : json_array());
	if (o == NULL) {
		json_decref(types);
		return NULL;
	}
	if (json_array_size(types) > 0)
		json_object_set(o, "EndpointTypes", types);
	json_decref(types);
	s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return s;
}

static int
copy(char *dst, size_t cap, json_t *v, const char *what, char *err,
    size_t errlen)
{
	const char *s;

	dst[0] = '\0';
	if (v == NULL || json_is_null(v))
		return 0;
	if ((s = json_string_value(v)) == NULL || strlen(s) >= cap) {
		snprintf(err, errlen, "register: bad %s in response", what);
		return -1;
	}
	for (const char *c = s; *c; c++)
		if ((unsigned char)*c < 0x20) {
			snprintf(err, errlen, "register: bad %s in response",
			    what);
			return -1;
		}
	strcpy(dst, s);
	return 0;
}

int
ctrlmsg_parse_register(const char *body, size_t len, struct reg_resp *r,
    char *err, size_t errlen)
{
	json_error_t jerr;
	json_t *o, *login;
	int rc = -1;

	memset(r, 0, sizeof(*r));
	if ((o = json_loadb(body, len, 0, &jerr)) == NULL ||
	    !json_is_object(o)) {
		snprintf(err, errlen, "register: response is not a JSON object");
		json_decref(o);
		return -1;
	}
	login = json_object_get(o, "Login");
	if (copy(r->auth_url, sizeof(r->auth_url), json_object_get(o,
	    "AuthURL"), "AuthURL", err, errlen) < 0 ||
	    copy(r->error, sizeof(r->error), json_object_get(o, "Error"),
	    "Error", err, errlen) < 0 ||
	    (json_is_object(login) && copy(r->login, sizeof(r->login),
	    json_object_get(login, "LoginName"), "LoginName", err,
	    errlen) < 0))
		goto out;
	r->machine_authorized = json_is_true(json_object_get(o,
	    "MachineAuthorized"));
	r->node_key_expired = json_is_true(json_object_get(o,
	    "NodeKeyExpired"));
	rc = 0;
out:
	json_decref(o);
	return rc;
}
