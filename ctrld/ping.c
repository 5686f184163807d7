/*
 * The local API's `ping` (privmesh ping): one disco ping round to a peer,
 * as tailscale's LocalAPI ping with the default disco type.
 *
 *   -> {"op":"ping","node":"NAME or IP","timeout_ms":5000}
 *   <- {"node":"name","ip":"100.64.0.2","endpoint":"192.0.2.12:41641",
 *       "latency_ms":3.1}                                (direct)
 *   <- {..., "derp_region":1,"derp_code":"test","latency_ms":12.0}
 *   <- {..., "timeout":true}       or   {"error":"..."}
 *
 * ctrld resolves the node in its netmap and asks netd (PingRequest),
 * which holds the disco keys and answers with the first pong.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctrld.h"
#include "log.h"
#include "ctrld_to_netd.pb-c.h"

#define PING_SLACK_MS	2000	/* netd answers timeouts itself */

struct ping_req {
	struct ping_req	*next;
	struct ctrld	*cd;
	uint64_t	 id;
	struct api_conn	*conn;
	char		 name[NM_NAME_MAX];
	char		 ip[64];
	uv_timer_t	 timer;
};

static struct ping_req *reqs;

static void
unlink_req(struct ping_req *r)
{
	for (struct ping_req **pp = &reqs; *pp != NULL; pp = &(*pp)->next)
		if (*pp == r) {
			*pp = r->next;
			return;
		}
}

static void
on_closed(uv_handle_t *h)
{
	free(h->data);
}

static void
finish(struct ping_req *r, json_t *reply)
{
	unlink_req(r);
	if (r->conn != NULL)
		api_reply(r->conn, reply);
	else
		json_decref(reply);
	uv_timer_stop(&r->timer);
	uv_close((uv_handle_t *)&r->timer, on_closed);
}

static void
on_timeout(uv_timer_t *t)
{
	finish(t->data, json_pack("{s:s}", "error", "netd did not answer"));
}

/* "host.tailnet.ts.net." matches "host", "host.tailnet.ts.net" and the
 * full name; addresses match without their prefix length. */
static bool
matches(const struct nm_node *n, const char *q)
{
	size_t ql = strlen(q), nl = strlen(n->name), l;

	if (nl > 0 && n->name[nl - 1] == '.')
		nl--;
	l = strcspn(n->name, ".");
	if ((ql == nl || ql == l) && ql > 0 && strncmp(n->name, q, ql) == 0)
		return true;
	if (strcmp(n->hostname, q) == 0)
		return true;
	for (size_t i = 0; i < n->naddrs; i++) {
		const char *a = n->addrs[i];
		size_t al = strcspn(a, "/");

		if (al == ql && strncmp(a, q, al) == 0)
			return true;
	}
	return false;
}

static const struct nm_node *
find_node(const struct netmap *nm, const char *q)
{
	for (size_t i = 0; i < nm->npeers; i++)
		if (matches(&nm->peers[i], q))
			return &nm->peers[i];
	return NULL;
}

/* The short name tailscale ping prints, and the node's first address. */
static void
describe(struct ping_req *r, const struct nm_node *n)
{
	size_t l = strcspn(n->name, ".");

	if (l == 0)
		snprintf(r->name, sizeof(r->name), "%s", n->hostname);
	else
		snprintf(r->name, sizeof(r->name), "%.*s", (int)l, n->name);
	r->ip[0] = '\0';
	if (n->naddrs > 0)
		snprintf(r->ip, sizeof(r->ip), "%.*s",
		    (int)strcspn(n->addrs[0], "/"), n->addrs[0]);
}

void
ping_start(struct ctrld *cd, struct api_conn *conn, const char *buf,
    size_t len)
{
	Pm__CtrldToNetd env = PM__CTRLD_TO_NETD__INIT;
	Pm__PingRequest pr = PM__PING_REQUEST__INIT;
	struct ipc_chan *ch = child_chan(&cd->c, PM__PROC__PROC_NETD);
	const struct nm_node *n;
	struct ping_req *r;
	char q[NM_NAME_MAX], err[128];
	long ms;

	if (api_parse_ping(buf, len, q, sizeof(q), &ms, err, sizeof(err)) < 0) {
		api_reply(conn, json_pack("{s:s}", "error", err));
		return;
	}
	if ((n = find_node(&cd->ctl.nm, q)) == NULL) {
		api_reply(conn, json_pack("{s:s+}", "error", "no such peer: ",
		    q));
		return;
	}
	if (ch == NULL || (r = calloc(1, sizeof(*r))) == NULL) {
		api_reply(conn, json_pack("{s:s}", "error", "netd unavailable"));
		return;
	}
	r->cd = cd;
	r->conn = conn;
	r->id = ++cd->next_id;
	describe(r, n);
	pr.id = r->id;
	pr.node_key.data = (uint8_t *)n->key;
	pr.node_key.len = 32;
	pr.timeout_ms = (uint32_t)ms;
	env.msg_case = PM__CTRLD_TO_NETD__MSG_PING_REQUEST;
	env.ping_request = &pr;
	uv_timer_init(cd->c.loop, &r->timer);
	r->timer.data = r;
	r->next = reqs;
	reqs = r;
	if (ipc_send(ch, &env.base, -1) < 0) {
		finish(r, json_pack("{s:s}", "error", "cannot ask netd"));
		return;
	}
	uv_timer_start(&r->timer, on_timeout, (uint64_t)ms + PING_SLACK_MS, 0);
}

static const char *
region_code(const json_t *derpmap, uint32_t region)
{
	char id[16];
	json_t *r;

	snprintf(id, sizeof(id), "%u", region);
	r = json_object_get(json_object_get(derpmap, "Regions"), id);
	return json_string_value(json_object_get(r, "RegionCode"));
}

void
ping_netd_reply(struct ctrld *cd, const Pm__PingReply *rep)
{
	struct ping_req *r;
	json_t *o;

	for (r = reqs; r != NULL && r->id != rep->id; r = r->next)
		;
	if (r == NULL)
		return;
	if (strcmp(rep->error, "timeout") == 0) {
		finish(r, json_pack("{s:s,s:s,s:b}", "node", r->name, "ip",
		    r->ip, "timeout", 1));
		return;
	}
	if (rep->error[0] != '\0') {
		finish(r, json_pack("{s:s}", "error", rep->error));
		return;
	}
	o = json_pack("{s:s,s:s,s:f}", "node", r->name, "ip", r->ip,
	    "latency_ms", (double)rep->latency_us / 1000.0);
	if (rep->derp_region != 0) {
		const char *code = region_code(cd->ctl.nm.derpmap,
		    rep->derp_region);
		char id[16];

		snprintf(id, sizeof(id), "%u", rep->derp_region);
		json_object_set_new(o, "derp_region",
		    json_integer(rep->derp_region));
		json_object_set_new(o, "derp_code", json_string(
		    code != NULL && *code != '\0' ? code : id));
	} else
		json_object_set_new(o, "endpoint", json_string(rep->endpoint));
	finish(r, o);
}

void
ping_conn_gone(struct api_conn *conn)
{
	for (struct ping_req *r = reqs; r != NULL; r = r->next)
		if (r->conn == conn)
			r->conn = NULL;
}
