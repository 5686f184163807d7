/*
 * `status`: ask privd for its own view and the supervision table, ask netd
 * and dnsd for theirs, add ctrld's own, and answer when all replied or
 * after STATUS_TIMEOUT_MS with whatever arrived (a child being restarted
 * shows privd's view of it only).
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "ctrld.h"
#include "log.h"
#include "ctrld_to_dnsd.pb-c.h"
#include "ctrld_to_netd.pb-c.h"
#include "ctrld_to_privd.pb-c.h"
#include "dnsd_to_ctrld.pb-c.h"

static const char *const drop_keys[] = {
	"bad_unpack", "oversized", "unknown_fields", "not_allowed",
	"bad_phase", "bad_fd", "invalid",
};

static const char *
state_name(Pm__ChildState s)
{
	switch (s) {
	case PM__CHILD_STATE__CHILD_STARTING: return "starting";
	case PM__CHILD_STATE__CHILD_RUNNING: return "running";
	case PM__CHILD_STATE__CHILD_BACKOFF: return "restarting";
	case PM__CHILD_STATE__CHILD_FAILED: return "failed";
	default: return "stopped";
	}
}

static json_t *
channels_json(const Pm__ProcInfo *pi)
{
	json_t *arr = json_array();

	for (size_t i = 0; i < pi->n_channels; i++) {
		const Pm__ChannelStats *s = pi->channels[i];
		const uint64_t d[] = { s->bad_unpack, s->oversized,
		    s->unknown_fields, s->not_allowed, s->bad_phase, s->bad_fd,
		    s->invalid };
		json_t *drops = json_object();

		for (size_t j = 0; j < sizeof(d) / sizeof(d[0]); j++)
			json_object_set_new(drops, drop_keys[j],
			    json_integer((json_int_t)d[j]));
		json_array_append_new(arr, json_pack("{s:s,s:I,s:I,s:I,s:I,s:o}",
		    "peer", pm_proc_name(s->peer), "rx", (json_int_t)s->rx,
		    "tx", (json_int_t)s->tx, "dropped", (json_int_t)s->dropped,
		    "cutoffs", (json_int_t)s->cutoffs, "drops", drops));
	}
	return arr;
}

/* The fields a process reports about itself. */
static json_t *
procinfo_json(const Pm__ProcInfo *pi)
{
	return json_pack("{s:s,s:i,s:i,s:i,s:s,s:I,s:I,s:I,s:i,s:i,s:o}",
	    "name", pm_proc_name(pi->proc), "pid", (int)pi->pid,
	    "uid", (int)pi->uid, "gid", (int)pi->gid,
	    "user", pi->user ? pi->user : "",
	    "cap_eff", (json_int_t)pi->cap_eff,
	    "cap_prm", (json_int_t)pi->cap_prm,
	    "cap_bnd", (json_int_t)pi->cap_bnd,
	    "seccomp", (int)pi->seccomp, "no_new_privs", (int)pi->no_new_privs,
	    "channels", channels_json(pi));
}

static struct status_req *
find_req(struct ctrld *cd, uint64_t id)
{
	for (struct status_req *r = cd->reqs; r != NULL; r = r->next)
		if (r->id == id)
			return r;
	return NULL;
}

static void
unlink_req(struct ctrld *cd, struct status_req *req)
{
	for (struct status_req **pp = &cd->reqs; *pp != NULL; pp = &(*pp)->next)
		if (*pp == req) {
			*pp = req->next;
			return;
		}
}

static void
free_req(uv_handle_t *h)
{
	struct status_req *req = h->data;

	json_decref(req->privd);
	json_decref(req->wg);
	json_decref(req->dns);
	for (int p = 0; p <= PM_NPROC; p++) {
		json_decref(req->supervised[p]);
		json_decref(req->self[p]);
	}
	free(req);
}

/* A child's entry: its own view when it answered, privd's always. */
static json_t *
child_entry(struct status_req *req, Pm__Proc p)
{
	json_t *sup = req->supervised[p], *e;

	e = req->self[p] != NULL ? json_deep_copy(req->self[p]) :
	    json_pack("{s:s}", "name", pm_proc_name(p));
	if (sup != NULL)
		json_object_update(e, sup);
	return e;
}

/* The WireGuard peer (netd's view) whose key is `nodekey` ("nodekey:<hex>"). */
static json_t *
wg_peer_of(json_t *wg, const char *nodekey)
{
	unsigned char raw[32];
	char b64k[sodium_base64_ENCODED_LEN(32,
	    sodium_base64_VARIANT_ORIGINAL)];
	const char *hex = strchr(nodekey, ':');
	json_t *p;
	size_t i;

	if (wg == NULL || hex == NULL || sodium_hex2bin(raw, sizeof(raw),
	    hex + 1, strlen(hex + 1), NULL, NULL, NULL) != 0)
		return NULL;
	sodium_bin2base64(b64k, sizeof(b64k), raw, sizeof(raw),
	    sodium_base64_VARIANT_ORIGINAL);
	json_array_foreach(json_object_get(wg, "peers"), i, p) {
		const char *pk = json_string_value(json_object_get(p,
		    "public_key"));

		if (pk != NULL && strcmp(pk, b64k) == 0)
			return p;
	}
	return NULL;
}

/*
 * Each tailnet peer's path as tailscale status shows it: "direct IP:port"
 * while disco trusts that address (its CurAddr), or, for peers without
 * disco, once a WireGuard handshake went over that endpoint; "idle" while
 * none has, "-" when netd has no such peer (not usable, or not sent yet).
 * On DERP, netd's endpoint is the magic 127.3.3.40:<region ID>: the path
 * is relay "<region code>" (the ID when the map has no code for it).
 */
#define DERP_MAGIC_PREFIX	"127.3.3.40:"

static void
relay_path(const json_t *derpmap, const char *ep, char *path, size_t len)
{
	const char *id = ep + strlen(DERP_MAGIC_PREFIX);
	json_t *r = json_object_get(json_object_get(derpmap, "Regions"), id);
	const char *code = json_string_value(json_object_get(r, "RegionCode"));

	snprintf(path, len, "relay \"%s\"", code != NULL && *code != '\0' ?
	    code : id);
}

static void
add_paths(json_t *backend, json_t *wg, const json_t *derpmap)
{
	json_t *p, *w;
	size_t i;
	char path[96];

	json_array_foreach(json_object_get(backend, "peers"), i, p) {
		const char *key = json_string_value(json_object_get(p, "key"));
		const char *ep, *dd;

		w = key != NULL ? wg_peer_of(wg, key) : NULL;
		ep = w != NULL ? json_string_value(json_object_get(w,
		    "endpoint")) : NULL;
		dd = w != NULL ? json_string_value(json_object_get(w,
		    "disco_direct")) : NULL;
		if (w == NULL)
			snprintf(path, sizeof(path), "-");
		else if (dd != NULL && *dd != '\0')
			snprintf(path, sizeof(path), "direct %s", dd);
		else if (json_integer_value(json_object_get(w,
		    "latest_handshake")) > 0 && ep != NULL &&
		    strncmp(ep, DERP_MAGIC_PREFIX,
		    strlen(DERP_MAGIC_PREFIX)) == 0)
			relay_path(derpmap, ep, path, sizeof(path));
		else if (json_integer_value(json_object_get(w,
		    "latest_handshake")) > 0 && ep != NULL && *ep != '\0')
			snprintf(path, sizeof(path), "direct %s", ep);
		else
			snprintf(path, sizeof(path), "idle");
		json_object_set_new(p, "path", json_string(path));
	}
}

static void
finish(struct status_req *req)
{
	static const Pm__Proc order[] = { PM__PROC__PROC_NETD,
	    PM__PROC__PROC_CTRLD, PM__PROC__PROC_DNSD };
	json_t *procs = json_array();

	if (req->privd != NULL)
		json_array_append(procs, req->privd);
	for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++)
		json_array_append_new(procs, child_entry(req, order[i]));
	if (req->conn != NULL) {
		json_t *rep = json_pack("{s:o,s:b}", "processes", procs,
		    "complete", req->pending == 0);
		if (req->wg != NULL && json_object_get(req->wg, "public_key"))
			json_object_set(rep, "wireguard", req->wg);
		if (req->dns != NULL)
			json_object_set(rep, "dns", req->dns);
		json_t *backend = control_status_json(&req->cd->ctl);

		if (backend != NULL)
			add_paths(backend, req->wg, req->cd->ctl.nm.derpmap);
		json_object_set_new(rep, "backend", backend);
		api_reply(req->conn, rep);
	} else
		json_decref(procs);
	unlink_req(req->cd, req);
	uv_timer_stop(&req->timer);
	uv_close((uv_handle_t *)&req->timer, free_req);
}

static void
on_timeout(uv_timer_t *t)
{
	finish(t->data);
}

static void
got_reply(struct status_req *req)
{
	if (req->pending > 0 && --req->pending == 0)
		finish(req);
}

static int
ask_privd(struct ctrld *cd, uint64_t id)
{
	Pm__CtrldToPrivd env = PM__CTRLD_TO_PRIVD__INIT;
	Pm__StatusRequest sr = PM__STATUS_REQUEST__INIT;
	struct ipc_chan *ch = child_chan(&cd->c, PM__PROC__PROC_PRIVD);

	sr.id = id;
	env.msg_case = PM__CTRLD_TO_PRIVD__MSG_STATUS_REQUEST;
	env.status_request = &sr;
	return ch != NULL ? ipc_send(ch, &env.base, -1) : -1;
}

static int
ask_wg(struct ctrld *cd, uint64_t id)
{
	Pm__CtrldToNetd env = PM__CTRLD_TO_NETD__INIT;
	Pm__WgStatusRequest wr = PM__WG_STATUS_REQUEST__INIT;
	struct ipc_chan *ch = child_chan(&cd->c, PM__PROC__PROC_NETD);

	wr.id = id;
	env.msg_case = PM__CTRLD_TO_NETD__MSG_WG_STATUS_REQUEST;
	env.wg_status_request = &wr;
	return ch != NULL ? ipc_send(ch, &env.base, -1) : -1;
}

static int
ask_child(struct ctrld *cd, Pm__Proc p, uint64_t id)
{
	Pm__ProcInfoRequest pr = PM__PROC_INFO_REQUEST__INIT;
	struct ipc_chan *ch = child_chan(&cd->c, p);

	pr.id = id;
	if (ch == NULL)
		return -1;
	if (p == PM__PROC__PROC_NETD) {
		Pm__CtrldToNetd env = PM__CTRLD_TO_NETD__INIT;
		env.msg_case = PM__CTRLD_TO_NETD__MSG_PROC_INFO_REQUEST;
		env.proc_info_request = &pr;
		return ipc_send(ch, &env.base, -1);
	}
	Pm__CtrldToDnsd env = PM__CTRLD_TO_DNSD__INIT;
	env.msg_case = PM__CTRLD_TO_DNSD__MSG_PROC_INFO_REQUEST;
	env.proc_info_request = &pr;
	return ipc_send(ch, &env.base, -1);
}

void
status_start(struct ctrld *cd, struct api_conn *conn)
{
	struct status_req *req;
	Pm__ProcInfo pi;
	Pm__ChannelStats st[PM_NPROC], *stp[PM_NPROC];

	if ((req = calloc(1, sizeof(*req))) == NULL) {
		api_reply(conn, json_pack("{s:s}", "error", "out of memory"));
		return;
	}
	req->cd = cd;
	req->conn = conn;
	req->id = ++cd->next_id;
	child_procinfo(&cd->c, &pi, st, stp);
	req->self[PM__PROC__PROC_CTRLD] = procinfo_json(&pi);
	req->pending += ask_privd(cd, req->id) == 0;
	req->pending += ask_child(cd, PM__PROC__PROC_NETD, req->id) == 0;
	req->pending += ask_child(cd, PM__PROC__PROC_DNSD, req->id) == 0;
	req->pending += ask_wg(cd, req->id) == 0;
	req->next = cd->reqs;
	cd->reqs = req;
	uv_timer_init(cd->c.loop, &req->timer);
	req->timer.data = req;
	if (req->pending == 0)
		finish(req);
	else
		uv_timer_start(&req->timer, on_timeout, STATUS_TIMEOUT_MS, 0);
}

void
status_conn_gone(struct ctrld *cd, struct api_conn *conn)
{
	for (struct status_req *r = cd->reqs; r != NULL; r = r->next)
		if (r->conn == conn)
			r->conn = NULL;
}

void
status_privd_reply(struct ctrld *cd, const Pm__StatusReply *rep)
{
	struct status_req *req = find_req(cd, rep->id);

	if (req == NULL || req->privd != NULL)
		return;
	req->privd = procinfo_json(rep->privd);
	json_object_set_new(req->privd, "state", json_string("running"));
	json_object_set_new(req->privd, "uptime_s",
	    json_integer((json_int_t)(rep->uptime_ms / 1000)));
	json_object_set_new(req->privd, "restarts", json_integer(0));
	for (size_t i = 0; i < rep->n_children; i++) {
		const Pm__ChildStatus *c = rep->children[i];
		json_decref(req->supervised[c->proc]);
		req->supervised[c->proc] = json_pack(
		    "{s:i,s:s,s:s,s:I,s:i,s:s}", "pid", (int)c->pid,
		    "user", c->user ? c->user : "", "state", state_name(c->state),
		    "uptime_s", (json_int_t)(c->uptime_ms / 1000),
		    "restarts", (int)c->restarts,
		    "last_exit", c->last_exit ? c->last_exit : "");
	}
	got_reply(req);
}

void
status_child_reply(struct ctrld *cd, uint64_t id, const Pm__ProcInfo *pi)
{
	struct status_req *req = find_req(cd, id);

	if (req == NULL || req->self[pi->proc] != NULL)
		return;
	req->self[pi->proc] = procinfo_json(pi);
	got_reply(req);
}

static json_t *
b64(const uint8_t *data, size_t len)
{
	char out[sodium_base64_ENCODED_LEN(32, sodium_base64_VARIANT_ORIGINAL)];

	if (len != 32)
		return json_string("");
	sodium_bin2base64(out, sizeof(out), data, len,
	    sodium_base64_VARIANT_ORIGINAL);
	return json_string(out);
}

static json_t *
wg_peer_json(const Pm__WgPeerStatus *p)
{
	json_t *aips = json_array();

	for (size_t i = 0; i < p->n_allowed_ips; i++)
		json_array_append_new(aips, json_string(p->allowed_ips[i]));
	return json_pack("{s:o,s:s,s:s,s:I,s:I,s:I,s:i,s:o}",
	    "public_key", b64(p->public_key.data, p->public_key.len),
	    "endpoint", p->endpoint ? p->endpoint : "",
	    "disco_direct", p->path ? p->path : "",
	    "latest_handshake", (json_int_t)p->last_handshake_unix,
	    "rx_bytes", (json_int_t)p->rx_bytes,
	    "tx_bytes", (json_int_t)p->tx_bytes,
	    "persistent_keepalive", (int)p->persistent_keepalive,
	    "allowed_ips", aips);
}

static json_t *
wg_counters_json(const Pm__WgCounters *c)
{
	return json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}",
	    "rx_bad", (json_int_t)c->rx_bad,
	    "rx_bad_inner", (json_int_t)c->rx_bad_inner,
	    "rx_ratelimited", (json_int_t)c->rx_ratelimited,
	    "cookies_sent", (json_int_t)c->cookies_sent,
	    "tx_no_route", (json_int_t)c->tx_no_route,
	    "tx_no_endpoint", (json_int_t)c->tx_no_endpoint,
	    "tx_staged_dropped", (json_int_t)c->tx_staged_dropped,
	    "tun_write_errors", (json_int_t)c->tun_write_errors,
	    "udp_send_errors", (json_int_t)c->udp_send_errors,
	    "tx_bad_offload", (json_int_t)c->tx_bad_offload,
	    "rx_filtered", (json_int_t)c->rx_filtered);
}

static json_t *
derp_json(const Pm__DerpStatus *d)
{
	json_t *regions = json_array();

	for (size_t i = 0; i < d->n_regions; i++) {
		const Pm__DerpRegionStatus *r = d->regions[i];

		json_array_append_new(regions, json_pack(
		    "{s:i,s:b,s:b,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,"
		    "s:I,s:s}",
		    "region", (int)r->region, "home", r->home,
		    "connected", r->connected,
		    "dials", (json_int_t)r->dials,
		    "logins", (json_int_t)r->logins,
		    "drops", (json_int_t)r->drops,
		    "server_errors", (json_int_t)r->server_errors,
		    "rx_packets", (json_int_t)r->rx_packets,
		    "rx_bytes", (json_int_t)r->rx_bytes,
		    "tx_packets", (json_int_t)r->tx_packets,
		    "tx_bytes", (json_int_t)r->tx_bytes,
		    "tx_dropped", (json_int_t)r->tx_dropped,
		    "garbage_frames", (json_int_t)r->garbage_frames,
		    "rx_refused", (json_int_t)r->rx_refused,
		    "last_error", r->last_error ? r->last_error : ""));
	}
	return json_pack("{s:o,s:I}", "regions", regions, "tx_no_region",
	    (json_int_t)d->tx_no_region);
}

/* Every field of a message of uint64 counters, by its own name. */
static json_t *
u64_fields_json(const void *c, const ProtobufCMessageDescriptor *d)
{
	json_t *o = json_object();

	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		uint64_t v;

		if (f->type != PROTOBUF_C_TYPE_UINT64)
			continue;
		memcpy(&v, (const char *)c + f->offset, sizeof(v));
		json_object_set_new(o, f->name, json_integer((json_int_t)v));
	}
	return o;
}

static json_t *
disco_counters_json(const Pm__DiscoCounters *c)
{
	return u64_fields_json(c, &pm__disco_counters__descriptor);
}

/* netd answers in one or more parts; the last has more = false. */
void
status_wg_reply(struct ctrld *cd, const Pm__WgStatusReply *rep)
{
	struct status_req *req = find_req(cd, rep->id);
	json_t *peers;

	if (req == NULL)
		return;
	if (req->wg == NULL) {
		req->wg = json_pack("{s:i,s:[]}", "listen_port",
		    (int)rep->listen_port, "peers");
		if (rep->public_key.len == 32)
			json_object_set_new(req->wg, "public_key",
			    b64(rep->public_key.data, rep->public_key.len));
	}
	peers = json_object_get(req->wg, "peers");
	if (rep->counters != NULL)
		json_object_set_new(req->wg, "counters", wg_counters_json(
		    rep->counters));
	if (rep->derp != NULL)
		json_object_set_new(req->wg, "derp", derp_json(rep->derp));
	if (rep->counters != NULL && rep->counters->disco != NULL)
		json_object_set_new(req->wg, "disco", disco_counters_json(
		    rep->counters->disco));
	if (rep->netcheck != NULL)
		json_object_set_new(req->wg, "netcheck", u64_fields_json(
		    rep->netcheck, &pm__netcheck_counters__descriptor));
	for (size_t i = 0; i < rep->n_peers; i++)
		json_array_append_new(peers, wg_peer_json(rep->peers[i]));
	if (!rep->more)
		got_reply(req);
}

/* Comes just before dnsd's ProcInfoReply; not a reply of its own. */
void
status_dns_reply(struct ctrld *cd, const Pm__DnsStatus *st)
{
	struct status_req *req = find_req(cd, st->id);
	const Pm__DnsCounters *c = st->counters;

	if (req == NULL || req->dns != NULL)
		return;
	req->dns = json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}",
	    "queries", (json_int_t)c->queries,
	    "local", (json_int_t)c->local,
	    "forwarded", (json_int_t)c->forwarded,
	    "cache_hits", (json_int_t)c->cache_hits,
	    "nxdomain", (json_int_t)c->nxdomain,
	    "formerr", (json_int_t)c->formerr,
	    "spoofed", (json_int_t)c->spoofed,
	    "upstream_timeouts", (json_int_t)c->upstream_timeouts,
	    "servfail", (json_int_t)c->servfail,
	    "dropped", (json_int_t)c->dropped);
}
