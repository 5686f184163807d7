/*
 * Per-message checks: what protobuf cannot say about a message (lengths,
 * ranges, who may claim to be whom).  Each returns 0 or -EINVAL and runs
 * after unpacking, before dispatch.
 */
#include <errno.h>
#include <sys/socket.h>
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "fds.h"
#include "privd_to_ctrld.pb-c.h"
#include "privd_to_netd.pb-c.h"
#include "netd_to_ctrld.pb-c.h"
#include "ctrld_to_netd.pb-c.h"
#include "netd_to_privd.pb-c.h"
#include "netstate.pb-c.h"

#define USER_MAX	32	/* useradd's limit */
#define IFNAME_MAX	15	/* IFNAMSIZ - 1 */
#define SUNPATH_MAX	107	/* sizeof(sun_path) - 1 */
#define PREFIX_MAX	49	/* "ffff:...:ffff/128" */
#define ENDPOINT_MAX	64	/* "[ffff:...:ffff%scope]:65535" */
#define ENDPOINTS_MAX	64
#define PATH_MAX_LEN	4095
#define WG_ADDRS_MAX	64
#define WG_ROUTES_MAX	4096
#define WG_DNS_MAX	16
#define WG_PEERS_MAX	1024

static int
str_ok(const char *s, size_t min, size_t max)
{
	size_t n;

	if (s == NULL)
		return min == 0;
	n = strnlen(s, max + 1);
	return n >= min && n <= max;
}

static int
ifname_ok(const char *s)
{
	return str_ok(s, 1, IFNAME_MAX) && strchr(s, '/') == NULL &&
	    strcmp(s, ".") != 0 && strcmp(s, "..") != 0;
}

static int
procinfo_ok(const Pm__ProcInfo *pi, Pm__Proc from)
{
	if (pi == NULL || pi->proc != from || !str_ok(pi->user, 0, USER_MAX) ||
	    pi->seccomp > 2 || pi->no_new_privs > 1 ||
	    pi->n_channels > PM_NPROC)
		return 0;
	for (size_t i = 0; i < pi->n_channels; i++)
		if (!pm_proc_valid(pi->channels[i]->peer))
			return 0;
	return 1;
}

int
check_peer_channel(const struct ipc_policy *pol, const ProtobufCMessage *m)
{
	const Pm__PeerChannel *pc = (const Pm__PeerChannel *)m;

	return pm_proc_valid(pc->peer) && pc->peer != pol->to &&
	    pc->peer != PM__PROC__PROC_PRIVD ? 0 : -EINVAL;
}

int
check_tun_device(const struct ipc_policy *pol, const ProtobufCMessage *m)
{
	const Pm__TunDevice *t = (const Pm__TunDevice *)m;

	(void)pol;
	return ifname_ok(t->name) && t->ifindex > 0 && t->mtu >= 576 &&
	    t->mtu <= 65535 ? 0 : -EINVAL;
}

int
check_api_listener(const struct ipc_policy *pol, const ProtobufCMessage *m)
{
	const Pm__ApiListener *a = (const Pm__ApiListener *)m;

	(void)pol;
	return str_ok(a->path, 1, SUNPATH_MAX) &&
	    (a->has_operator_gid || a->operator_gid == 0) ? 0 : -EINVAL;
}

int
check_status_reply(const struct ipc_policy *pol, const ProtobufCMessage *m)
{
	const Pm__StatusReply *r = (const Pm__StatusReply *)m;

	if (!procinfo_ok(r->privd, pol->from) || r->n_children > PM_NPROC - 1)
		return -EINVAL;
	for (size_t i = 0; i < r->n_children; i++) {
		const Pm__ChildStatus *c = r->children[i];
		if (!pm_proc_valid(c->proc) || c->proc == PM__PROC__PROC_PRIVD ||
		    !str_ok(c->user, 0, USER_MAX) ||
		    !str_ok(c->last_exit, 0, 64) ||
		    c->state > PM__CHILD_STATE__CHILD_FAILED)
			return -EINVAL;
	}
	return 0;
}

int
check_ready(const struct ipc_policy *pol, const ProtobufCMessage *m)
{
	const Pm__Ready *r = (const Pm__Ready *)m;

	return procinfo_ok(r->info, pol->from) ? 0 : -EINVAL;
}

int
check_peer_misbehaved(const struct ipc_policy *pol, const ProtobufCMessage *m)
{
	const Pm__PeerMisbehaved *p = (const Pm__PeerMisbehaved *)m;

	/* A child may accuse another child, never privd or itself. */
	return pm_proc_valid(p->peer) && p->peer != PM__PROC__PROC_PRIVD &&
	    p->peer != pol->from ? 0 : -EINVAL;
}

int
check_proc_info_reply(const struct ipc_policy *pol, const ProtobufCMessage *m)
{
	const Pm__ProcInfoReply *r = (const Pm__ProcInfoReply *)m;

	return procinfo_ok(r->info, pol->from) ? 0 : -EINVAL;
}

/* Text fields that privd parses itself; here only their shape is bounded. */
static int
strs_ok(char **v, size_t n, size_t max, size_t maxlen)
{
	if (n > max)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!str_ok(v[i], 1, maxlen))
			return 0;
	return 1;
}

int
check_wg_config_file(const struct ipc_policy *pol, const ProtobufCMessage *m)
{
	const Pm__WgConfigFile *w = (const Pm__WgConfigFile *)m;

	(void)pol;
	return str_ok(w->path, 1, PATH_MAX_LEN) ? 0 : -EINVAL;
}

int
check_udp_socket(const struct ipc_policy *pol, const ProtobufCMessage *m)
{
	const Pm__UdpSocket *u = (const Pm__UdpSocket *)m;

	(void)pol;
	return u->port > 0 && u->port <= 65535 &&
	    strs_ok(u->endpoints, u->n_endpoints, ENDPOINTS_MAX, ENDPOINT_MAX) ?
	    0 : -EINVAL;
}

int
check_wg_interface(const struct ipc_policy *pol, const ProtobufCMessage *m)
{
	const Pm__WgInterface *w = (const Pm__WgInterface *)m;

	(void)pol;
	return strs_ok(w->addresses, w->n_addresses, WG_ADDRS_MAX, PREFIX_MAX) &&
	    strs_ok(w->routes, w->n_routes, WG_ROUTES_MAX, PREFIX_MAX) &&
	    strs_ok(w->dns, w->n_dns, WG_DNS_MAX, 253) &&
	    w->listen_port <= 65535 && w->mtu <= 65535 ? 0 : -EINVAL;
}

int
check_wg_config_error(const struct ipc_policy *pol, const ProtobufCMessage *m)
{
	const Pm__WgConfigError *e = (const Pm__WgConfigError *)m;

	(void)pol;
	return str_ok(e->message, 1, 256) ? 0 : -EINVAL;
}

/* DERP connections: region IDs fit the magic endpoint's port, at most
 * one entry per region. */
#define DERP_REGIONS_MAX	64
static bool
derp_status_ok(const Pm__DerpStatus *d)
{
	if (d == NULL)
		return true;
	if (d->n_regions > DERP_REGIONS_MAX)
		return false;
	for (size_t i = 0; i < d->n_regions; i++) {
		const Pm__DerpRegionStatus *r = d->regions[i];

		if (r->region == 0 || r->region > 65535 ||
		    !str_ok(r->last_error, 0, 127))
			return false;
		for (size_t j = 0; j < i; j++)
			if (d->regions[j]->region == r->region)
				return false;
	}
	return true;
}

int
check_wg_status_reply(const struct ipc_policy *pol, const ProtobufCMessage *m)
{
	const Pm__WgStatusReply *r = (const Pm__WgStatusReply *)m;

	(void)pol;
	if ((r->public_key.len != 0 && r->public_key.len != 32) ||
	    r->n_peers > WG_PEERS_MAX || r->listen_port > 65535 ||
	    !derp_status_ok(r->derp))
		return -EINVAL;
	for (size_t i = 0; i < r->n_peers; i++) {
		const Pm__WgPeerStatus *p = r->peers[i];
		if (p->public_key.len != 32 || !str_ok(p->endpoint, 0, 64) ||
		    !str_ok(p->path, 0, 64) ||
		    !strs_ok(p->allowed_ips, p->n_allowed_ips, WG_ROUTES_MAX,
		    PREFIX_MAX) || p->persistent_keepalive > 65535)
			return -EINVAL;
	}
	return 0;
}

/* Shapes only: counts are bounded by the datagram, and privd checks every
 * value itself so that a refusal gets an answer, not a silent drop. */
int
check_net_state(const struct ipc_policy *pol, const ProtobufCMessage *m)
{
	const Pm__NetState *n = (const Pm__NetState *)m;

	(void)pol;
	if (!str_ok(n->interface, 0, 64) || !str_ok(n->nft_table, 0, 64) ||
	    !strs_ok(n->addresses, n->n_addresses, SIZE_MAX, PREFIX_MAX) ||
	    !strs_ok(n->exclude, n->n_exclude, SIZE_MAX, PREFIX_MAX) ||
	    !strs_ok(n->advertise_routes, n->n_advertise_routes, SIZE_MAX,
	    PREFIX_MAX))
		return -EINVAL;
	for (size_t i = 0; i < n->n_routes; i++)
		if (!str_ok(n->routes[i]->prefix, 1, PREFIX_MAX))
			return -EINVAL;
	return 0;
}

int
check_net_state_reply(const struct ipc_policy *pol, const ProtobufCMessage *m)
{
	const Pm__NetStateReply *r = (const Pm__NetStateReply *)m;

	(void)pol;
	return str_ok(r->error, 0, 256) && (r->ok || (r->error != NULL && r->error[0] != '\0')) ?
	    0 : -EINVAL;
}
/* Public keys only, each exactly 32 bytes (the old one optional). */
int
check_node_keys(const struct ipc_policy *pol, const ProtobufCMessage *m)
{
	const Pm__NodeKeys *k = (const Pm__NodeKeys *)m;

	(void)pol;
	if (k->node_public.len != 32 || k->disco_public.len != 32 ||
	    (k->old_node_public.len != 0 && k->old_node_public.len != 32))
		return -EINVAL;
	return 0;
}

/* Shapes: keys are 32 bytes; netd parses every prefix and endpoint itself
 * and skips (with a count) what does not parse. */
int
check_peer_update(const struct ipc_policy *pol, const ProtobufCMessage *m)
{
	const Pm__PeerUpdate *u = (const Pm__PeerUpdate *)m;

	(void)pol;
	if (!strs_ok(u->addresses, u->n_addresses, 64, PREFIX_MAX))
		return -EINVAL;
	for (size_t i = 0; i < u->n_remove; i++)
		if (u->remove[i].len != 32)
			return -EINVAL;
	for (size_t i = 0; i < u->n_upsert; i++) {
		const Pm__TailnetPeer *p = u->upsert[i];

		if (p->node_key.len != 32 ||
		    (p->disco_key.len != 0 && p->disco_key.len != 32) ||
		    !strs_ok(p->allowed_ips, p->n_allowed_ips, SIZE_MAX,
		    PREFIX_MAX) ||
		    !strs_ok(p->endpoints, p->n_endpoints, ENDPOINTS_MAX,
		    ENDPOINT_MAX))
			return -EINVAL;
	}
	return 0;
}

int
check_endpoints(const struct ipc_policy *pol, const ProtobufCMessage *m)
{
	const Pm__Endpoints *e = (const Pm__Endpoints *)m;

	(void)pol;
	if (!strs_ok(e->endpoints, e->n_endpoints, ENDPOINTS_MAX,
	    ENDPOINT_MAX) || (e->n_types != 0 && e->n_types != e->n_endpoints))
		return -EINVAL;
	/* tailcfg.EndpointType: Local 1 .. ExplicitConf 5. */
	for (size_t i = 0; i < e->n_types; i++)
		if (e->types[i] < 1 || e->types[i] > 5)
			return -EINVAL;
	return 0;
}

/* netcheck (netd -> ctrld).  Regions as netd's DERP map bounds them
 * (DERPMAP_MAX_REGIONS), codes and names as ctrld's fan-out does. */
#define NETCHECK_REGIONS_MAX	1024
#define LATENCY_US_MAX		60000000u	/* a minute: no STUN waits so long */

static bool
net_info_ok(const Pm__NetInfo *ni)
{
	uint32_t prev = 0;

	if (ni == NULL || ni->mapping_varies_by_dest_ip > 2 ||
	    ni->n_latencies > NETCHECK_REGIONS_MAX)
		return false;
	for (size_t i = 0; i < ni->n_latencies; i++) {
		const Pm__RegionLatency *l = ni->latencies[i];

		if (l->region_id == 0 || l->region_id <= prev ||
		    !str_ok(l->code, 0, 64) || !str_ok(l->name, 0, 128) ||
		    l->latency_us > LATENCY_US_MAX || l->v4_us > LATENCY_US_MAX ||
		    l->v6_us > LATENCY_US_MAX)
			return false;
		prev = l->region_id;
	}
	return true;
}

int
check_net_info(const struct ipc_policy *pol, const ProtobufCMessage *m)
{
	(void)pol;
	return net_info_ok((const Pm__NetInfo *)m) ? 0 : -EINVAL;
}

int
check_netcheck_report(const struct ipc_policy *pol, const ProtobufCMessage *m)
{
	const Pm__NetcheckReport *r = (const Pm__NetcheckReport *)m;

	(void)pol;
	return str_ok(r->error, 0, 128) && net_info_ok(r->info) &&
	    str_ok(r->global_v4, 0, ENDPOINT_MAX) &&
	    str_ok(r->global_v6, 0, ENDPOINT_MAX) ? 0 : -EINVAL;
}

/* Shapes: prefixes as text, ports and protocol numbers in range; netd
 * parses the prefixes and skips (counting) what does not parse. */
int
check_filter_update(const struct ipc_policy *pol, const ProtobufCMessage *m)
{
	const Pm__FilterUpdate *u = (const Pm__FilterUpdate *)m;

	(void)pol;
	for (size_t i = 0; i < u->n_rules; i++) {
		const Pm__FilterRule *r = u->rules[i];

		if (!strs_ok(r->src, r->n_src, SIZE_MAX, PREFIX_MAX) ||
		    r->n_proto > 256)
			return -EINVAL;
		for (size_t j = 0; j < r->n_proto; j++)
			if (r->proto[j] > 255)
				return -EINVAL;
		for (size_t j = 0; j < r->n_dst; j++)
			if (!str_ok(r->dst[j]->prefix, 1, PREFIX_MAX) ||
			    r->dst[j]->first > 65535 || r->dst[j]->last > 65535 ||
			    r->dst[j]->first > r->dst[j]->last)
				return -EINVAL;
	}
	return 0;
}

/* Shapes only (tailcfg's types): netd parses the addresses and skips,
 * counting, a node whose addresses do not parse. */
static int
derp_node_ok(const Pm__DerpNode *n)
{
	return str_ok(n->name, 0, 64) && str_ok(n->host_name, 1, 253) &&
	    str_ok(n->cert_name, 0, 256) && str_ok(n->ipv4, 0, 46) &&
	    str_ok(n->ipv6, 0, 46) && n->stun_port >= -1 &&
	    n->stun_port <= 65535 && n->derp_port <= 65535;
}

int
check_derp_map_update(const struct ipc_policy *pol, const ProtobufCMessage *m)
{
	const Pm__DerpMapUpdate *u = (const Pm__DerpMapUpdate *)m;

	(void)pol;
	if (u->home_region > INT32_MAX)
		return -EINVAL;
	for (size_t i = 0; i < u->n_regions; i++) {
		const Pm__DerpRegion *r = u->regions[i];

		if (r->region_id == 0 || r->region_id > INT32_MAX ||
		    !str_ok(r->region_code, 0, 64) ||
		    !str_ok(r->region_name, 0, 128) || r->n_nodes > 64 ||
		    !(r->score >= 0 && r->score <= 1e6))	/* NaN too */
			return -EINVAL;
		for (size_t j = 0; j < r->n_nodes; j++)
			if (!derp_node_ok(r->nodes[j]))
				return -EINVAL;
	}
	return 0;
}

int
check_derp_socket_request(const struct ipc_policy *pol,
    const ProtobufCMessage *m)
{
	const Pm__DerpSocketRequest *r = (const Pm__DerpSocketRequest *)m;

	(void)pol;
	return r->family == AF_INET || r->family == AF_INET6 ? 0 : -EINVAL;
}

int
check_derp_socket(const struct ipc_policy *pol, const ProtobufCMessage *m)
{
	const Pm__DerpSocket *s = (const Pm__DerpSocket *)m;

	(void)pol;
	return s->family == AF_INET || s->family == AF_INET6 ? 0 : -EINVAL;
}

/* A node key and a timeout netd can hold a request for. */
int
check_ping_request(const struct ipc_policy *pol, const ProtobufCMessage *m)
{
	const Pm__PingRequest *r = (const Pm__PingRequest *)m;

	(void)pol;
	return r->node_key.len == 32 && r->timeout_ms <= 60000 ? 0 : -EINVAL;
}

/* Either an error or a path: a direct endpoint or a DERP region. */
int
check_ping_reply(const struct ipc_policy *pol, const ProtobufCMessage *m)
{
	const Pm__PingReply *r = (const Pm__PingReply *)m;
	bool err = r->error != NULL && r->error[0] != '\0';
	bool direct = r->endpoint != NULL && r->endpoint[0] != '\0';

	(void)pol;
	if (!str_ok(r->error, 0, 64) || !str_ok(r->endpoint, 0, ENDPOINT_MAX) ||
	    r->derp_region > 65535)
		return -EINVAL;
	if (err)
		return direct || r->derp_region != 0 ? -EINVAL : 0;
	return direct != (r->derp_region != 0) ? 0 : -EINVAL;
}
