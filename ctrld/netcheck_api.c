/*
 * The local API's `netcheck`: asks netd for a full netcheck run
 * (NetcheckRequest), waits for its NetcheckReport and answers the client
 * with tailscale's netcheck.Report JSON shape plus the DERP map's regions
 * (codes and names, for the CLI's text form):
 *
 *   {"report":{"Now":..,"UDP":..,"IPv6":..,"IPv4":..,"OSHasIPv6":..,
 *              "ICMPv4":false,
 *              "MappingVariesByDestIP":true|false|null,"PreferredDERP":N,
 *              "RegionLatency":{"<id>":ns},"RegionV4Latency":{..},
 *              "RegionV6Latency":{..},"GlobalV4":"ip:port","GlobalV6":".."},
 *    "regions":[{"RegionID":N,"RegionCode":"..","RegionName":".."}]}
 *
 * At most NETCHECK_PENDING_MAX requests wait (netd bounds its own queue
 * too); one that netd does not answer within NETCHECK_TIMEOUT_MS gets an
 * error.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctrld.h"
#include "log.h"
#include "ctrld_to_netd.pb-c.h"

#define NETCHECK_TIMEOUT_MS	10000	/* netd's run ends within 5 s */
#define NETCHECK_PENDING_MAX	8

struct nc_req {
	bool		 used;
	uint64_t	 id;
	struct api_conn	*conn;
	uv_timer_t	 timer;
	bool		 timer_ready;
};

static struct nc_req reqs[NETCHECK_PENDING_MAX];

static void
done(struct nc_req *r, json_t *reply)
{
	if (r->conn != NULL)
		api_reply(r->conn, reply);
	else
		json_decref(reply);
	r->used = false;
	r->conn = NULL;
	uv_timer_stop(&r->timer);
}

static void
on_timeout(uv_timer_t *t)
{
	done(t->data, json_pack("{s:s}", "error",
	    "netd did not answer the netcheck"));
}

void
netcheck_start(struct ctrld *cd, struct api_conn *conn)
{
	struct ipc_chan *ch = child_chan(&cd->c, PM__PROC__PROC_NETD);
	Pm__CtrldToNetd env = PM__CTRLD_TO_NETD__INIT;
	Pm__NetcheckRequest rq = PM__NETCHECK_REQUEST__INIT;
	struct nc_req *r = NULL;

	for (size_t i = 0; i < NETCHECK_PENDING_MAX && r == NULL; i++)
		if (!reqs[i].used)
			r = &reqs[i];
	if (r == NULL) {
		api_reply(conn, json_pack("{s:s}", "error",
		    "too many netchecks under way"));
		return;
	}
	if (ch == NULL) {
		api_reply(conn, json_pack("{s:s}", "error", "netd is not "
		    "running"));
		return;
	}
	rq.id = ++cd->next_id;
	env.msg_case = PM__CTRLD_TO_NETD__MSG_NETCHECK_REQUEST;
	env.netcheck_request = &rq;
	if (ipc_send(ch, &env.base, -1) < 0) {
		api_reply(conn, json_pack("{s:s}", "error", "cannot ask netd"));
		return;
	}
	if (!r->timer_ready) {
		uv_timer_init(cd->c.loop, &r->timer);
		r->timer.data = r;
		r->timer_ready = true;
	}
	r->used = true;
	r->id = rq.id;
	r->conn = conn;
	uv_timer_start(&r->timer, on_timeout, NETCHECK_TIMEOUT_MS, 0);
}

void
netcheck_conn_gone(struct ctrld *cd, struct api_conn *conn)
{
	(void)cd;
	for (size_t i = 0; i < NETCHECK_PENDING_MAX; i++)
		if (reqs[i].used && reqs[i].conn == conn)
			reqs[i].conn = NULL;
}

static json_t *
regions_json(const struct netmap *nm)
{
	json_t *regions = json_object_get(nm->derpmap, "Regions"), *jr, *a;
	const char *key;

	if ((a = json_array()) == NULL)
		return NULL;
	json_object_foreach(regions, key, jr) {
		json_t *id = json_object_get(jr, "RegionID");
		json_t *code = json_object_get(jr, "RegionCode");
		json_t *name = json_object_get(jr, "RegionName");

		if (!json_is_integer(id))
			continue;
		json_array_append_new(a, json_pack("{s:I,s:s,s:s}",
		    "RegionID", json_integer_value(id),
		    "RegionCode", json_is_string(code) ?
		    json_string_value(code) : "",
		    "RegionName", json_is_string(name) ?
		    json_string_value(name) : ""));
	}
	return a;
}

/* time.Time's JSON form: RFC 3339 with nanoseconds, trailing zeros
 * trimmed, in UTC. */
static void
now_rfc3339nano(char *buf, size_t len)
{
	struct timespec ts;
	struct tm tm;
	char frac[16];
	size_t n;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	snprintf(frac, sizeof(frac), ".%09ld", ts.tv_nsec);
	for (n = strlen(frac); n > 1 && frac[n - 1] == '0'; n--)
		frac[n - 1] = '\0';
	if (n == 1)
		frac[0] = '\0';
	n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + n, len - n, "%sZ", frac);
}

static json_t *
report_json(const Pm__NetcheckReport *rep)
{
	const Pm__NetInfo *ni = rep->info;
	json_t *all = json_object(), *v4 = json_object(), *v6 = json_object();
	char now[48], k[16];

	for (size_t i = 0; i < ni->n_latencies; i++) {
		const Pm__RegionLatency *l = ni->latencies[i];

		snprintf(k, sizeof(k), "%u", l->region_id);
		if (l->latency_us)
			json_object_set_new(all, k,
			    json_integer((json_int_t)l->latency_us * 1000));
		if (l->v4_us)
			json_object_set_new(v4, k,
			    json_integer((json_int_t)l->v4_us * 1000));
		if (l->v6_us)
			json_object_set_new(v6, k,
			    json_integer((json_int_t)l->v6_us * 1000));
	}
	now_rfc3339nano(now, sizeof(now));
	return json_pack("{s:s,s:b,s:b,s:b,s:b,s:b,s:o,s:n,s:n,s:n,s:i,s:o,"
	    "s:o,s:o,s:s,s:s,s:n}",
	    "Now", now, "UDP", ni->working_udp, "IPv6", ni->working_v6,
	    "IPv4", ni->working_v4, "OSHasIPv6", ni->os_has_v6,
	    "ICMPv4", 0,
	    "MappingVariesByDestIP", ni->mapping_varies_by_dest_ip == 0 ?
	    json_null() : json_boolean(ni->mapping_varies_by_dest_ip == 2),
	    "UPnP", "PMP", "PCP",
	    "PreferredDERP", (int)ni->preferred_derp,
	    "RegionLatency", all, "RegionV4Latency", v4,
	    "RegionV6Latency", v6,
	    "GlobalV4", rep->global_v4, "GlobalV6", rep->global_v6,
	    "CaptivePortal");
}

void
netcheck_reply(struct ctrld *cd, const Pm__NetcheckReport *rep)
{
	struct nc_req *r = NULL;

	for (size_t i = 0; i < NETCHECK_PENDING_MAX && r == NULL; i++)
		if (reqs[i].used && reqs[i].id == rep->id)
			r = &reqs[i];
	if (r == NULL) {
		log_warnx("netcheck: netd answered request %llu, which is not "
		    "waiting", (unsigned long long)rep->id);
		return;
	}
	if (rep->error[0] != '\0') {
		done(r, json_pack("{s:s}", "error", rep->error));
		return;
	}
	done(r, json_pack("{s:o,s:o}", "report", report_json(rep),
	    "regions", regions_json(&cd->ctl.nm)));
}
