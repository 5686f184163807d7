/*
 * WireGuard status for ctrld (and so for `privmesh status`): public keys,
 * endpoints, handshake times, byte counters, allowed IPs.  Nothing secret
 * leaves netd.  Large peer lists go out in several replies ("more").
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "netd.h"
#include "disco_peer.h"
#include "netcheck.h"
#include "netd_to_ctrld.pb-c.h"

#define PEERS_PER_REPLY	64
#define AIPS_PER_PEER	64	/* status shows the first ones */
/*
 * Prefix texts in one reply, shared by its peers: a reply ends early
 * rather than overflow it.  1024 IPv6 prefixes (43 characters at most)
 * and 64 peers stay under the channel's 64 KiB, and the buffer is filled
 * from the start, so only as much of it is touched (and resident) as the
 * peers have prefixes.
 */
#define AIPS_PER_REPLY	1024
#define AIP_TEXT	52

/* One reply's worth of peers and the strings they point into. */
struct reply_buf {
	Pm__WgPeerStatus st[PEERS_PER_REPLY];
	Pm__WgPeerStatus *ptrs[PEERS_PER_REPLY];
	char	endpoint[PEERS_PER_REPLY][64];
	char	path[PEERS_PER_REPLY][IPPORT_STRLEN];
	char	aip_txt[AIPS_PER_REPLY][AIP_TEXT];
	char	*aip_ptr[AIPS_PER_REPLY];
	size_t	naips;
};

/* The walk of one peer's prefixes into b. */
struct aip_walk {
	struct reply_buf *b;
	size_t	n;
};

static int
add_aip(int family, const uint8_t *addr, uint8_t cidr, void *arg)
{
	struct aip_walk *w = arg;
	struct reply_buf *b = w->b;
	char a[INET6_ADDRSTRLEN];

	if (w->n == AIPS_PER_PEER)
		return 1;	/* stop the walk */
	inet_ntop(family, addr, a, sizeof(a));
	snprintf(b->aip_txt[b->naips], AIP_TEXT, "%s/%u", a, cidr);
	b->aip_ptr[b->naips] = b->aip_txt[b->naips];
	b->naips++;
	w->n++;
	return 0;
}

static void
endpoint_text(const struct wg_peer *p, char *out, size_t len)
{
	char a[INET6_ADDRSTRLEN];
	const struct sockaddr_in *s4 = &p->endpoint.in4;
	const struct sockaddr_in6 *s6 = &p->endpoint.in6;

	out[0] = '\0';
	if (p->endpoint_len == 0)
		return;
	if (p->endpoint.sa.sa_family == AF_INET) {
		inet_ntop(AF_INET, &s4->sin_addr, a, sizeof(a));
		snprintf(out, len, "%s:%u", a, ntohs(s4->sin_port));
	} else {
		inet_ntop(AF_INET6, &s6->sin6_addr, a, sizeof(a));
		snprintf(out, len, "[%s]:%u", a, ntohs(s6->sin6_port));
	}
}

/* Peer i of the reply; its prefix texts go after the earlier peers'. */
static void
fill_peer(struct netd *nd, struct wg_peer *p, struct reply_buf *b, size_t i)
{
	Pm__WgPeerStatus *st = &b->st[i];
	struct aip_walk w = { b, 0 };
	size_t first = b->naips;
	struct ipport direct;

	pm__wg_peer_status__init(st);
	allowedips_walk_by_peer(&nd->wg.aips, p, add_aip, &w);
	endpoint_text(p, b->endpoint[i], sizeof(b->endpoint[i]));
	st->public_key.data = p->public_key;
	st->public_key.len = 32;
	st->endpoint = b->endpoint[i];
	b->path[i][0] = '\0';
	if (p->ctx != NULL && disco_peer_direct(p->ctx, &direct))
		ipport_str(&direct, b->path[i]);
	st->path = b->path[i];
	st->last_handshake_unix = (int64_t)(p->last_handshake_real_ns /
	    1000000000ULL);
	st->rx_bytes = p->rx_bytes;
	st->tx_bytes = p->tx_bytes;
	st->persistent_keepalive = p->persistent_keepalive_interval;
	st->n_allowed_ips = w.n;
	st->allowed_ips = &b->aip_ptr[first];
	b->ptrs[i] = st;
}

static int
send_reply(struct netd *nd, Pm__WgStatusReply *rep)
{
	Pm__NetdToCtrld env = PM__NETD_TO_CTRLD__INIT;
	struct ipc_chan *ch = child_chan(&nd->c, PM__PROC__PROC_CTRLD);

	env.msg_case = PM__NETD_TO_CTRLD__MSG_WG_STATUS_REPLY;
	env.wg_status_reply = rep;
	return ch != NULL ? ipc_send(ch, &env.base, -1) : 0;
}

static void
fill_counters(const struct wg_counters *c, Pm__WgCounters *out)
{
	out->rx_bad = c->rx_bad;
	out->rx_bad_inner = c->rx_bad_inner;
	out->rx_ratelimited = c->rx_ratelimited;
	out->cookies_sent = c->cookies_sent;
	out->tx_no_route = c->tx_no_route;
	out->tx_no_endpoint = c->tx_no_endpoint;
	out->tx_staged_dropped = c->tx_staged_dropped;
	out->tun_write_errors = c->tun_write_errors;
	out->udp_send_errors = c->udp_send_errors;
	out->tx_bad_offload = c->tx_bad_offload;
}

/* The DERP connections' counters, for the last reply. */
static Pm__DerpStatus *
fill_derp(struct netd *nd)
{
	static struct derp_region_stats st[DERP_STATUS_REGIONS_MAX];
	static Pm__DerpRegionStatus rs[DERP_STATUS_REGIONS_MAX];
	static Pm__DerpRegionStatus *ptrs[DERP_STATUS_REGIONS_MAX];
	static Pm__DerpStatus ds;
	size_t n;

	pm__derp_status__init(&ds);
	n = derp_regions_status(nd, st, DERP_STATUS_REGIONS_MAX,
	    &ds.tx_no_region);
	for (size_t i = 0; i < n; i++) {
		Pm__DerpRegionStatus *r = &rs[i];

		pm__derp_region_status__init(r);
		r->region = st[i].region;
		r->home = st[i].home;
		r->connected = st[i].connected;
		r->dials = st[i].dials;
		r->logins = st[i].logins;
		r->drops = st[i].drops;
		r->server_errors = st[i].server_errors;
		r->rx_packets = st[i].rx_packets;
		r->rx_bytes = st[i].rx_bytes;
		r->tx_packets = st[i].tx_packets;
		r->tx_bytes = st[i].tx_bytes;
		r->tx_dropped = st[i].tx_dropped;
		r->garbage_frames = st[i].garbage_frames;
		r->rx_refused = st[i].rx_refused;
		r->last_error = st[i].last_error;
		ptrs[i] = r;
	}
	ds.regions = ptrs;
	ds.n_regions = n;
	return &ds;
}

static void
fill_disco(const struct disco_counters *c, Pm__DiscoCounters *out)
{
	out->rx_ping = c->rx_ping;
	out->rx_pong = c->rx_pong;
	out->rx_call_me_maybe = c->rx_call_me_maybe;
	out->tx_ping = c->tx_ping;
	out->tx_pong = c->tx_pong;
	out->tx_call_me_maybe = c->tx_call_me_maybe;
	out->rx_unknown_key = c->rx_unknown_key;
	out->rx_bad_box = c->rx_bad_box;
	out->rx_bad_msg = c->rx_bad_msg;
	out->rx_derp_mismatch = c->rx_derp_mismatch;
	out->rx_cmm_not_derp = c->rx_cmm_not_derp;
	out->rx_pong_unknown = c->rx_pong_unknown;
	out->rx_stun_unhandled = c->rx_stun_unhandled;
	out->ping_timeouts = c->ping_timeouts;
	out->path_direct = c->path_direct;
	out->path_derp = c->path_derp;
}

static void
fill_netcheck(const struct nc_counters *c, Pm__NetcheckCounters *out)
{
	out->runs_full = c->runs_full;
	out->runs_incremental = c->runs_incremental;
	out->tx = c->tx;
	out->tx_errors = c->tx_errors;
	out->rx = c->rx;
	out->rx_ignored = c->rx_ignored;
	out->rx_bad = c->rx_bad;
	out->no_addr = c->no_addr;
	out->https_tx = c->https_tx;
	out->https_rx = c->https_rx;
	out->https_errors = c->https_errors;
}

int
netd_wg_status(struct netd *nd, uint64_t id)
{
	static struct reply_buf buf;
	Pm__WgStatusReply rep = PM__WG_STATUS_REPLY__INIT;
	Pm__WgCounters ctr = PM__WG_COUNTERS__INIT;
	Pm__DiscoCounters dc = PM__DISCO_COUNTERS__INIT;
	Pm__NetcheckCounters ncc = PM__NETCHECK_COUNTERS__INIT;
	struct wg_device *dev = &nd->wg.dev;
	int r = 0;

	rep.id = id;
	rep.peers = buf.ptrs;
	buf.naips = 0;
	if (nd->wg.on) {
		rep.public_key.data = dev->static_public;
		rep.public_key.len = 32;
		rep.listen_port = nd->wg.udp_port;
	}
	for (size_t b = 0; nd->wg.on && b < WG_PEER_BUCKETS; b++)
		for (struct wg_peer *p = dev->peer_table[b]; p; p = p->hash_next) {
			if (rep.n_peers == PEERS_PER_REPLY ||
			    buf.naips + AIPS_PER_PEER > AIPS_PER_REPLY) {
				rep.more = true;
				if ((r = send_reply(nd, &rep)) < 0)
					return r;
				rep.n_peers = 0;
				buf.naips = 0;
			}
			fill_peer(nd, p, &buf, rep.n_peers++);
		}
	/* The DERP part (a few KiB) must not push a full reply past the
	 * channel's size: such a reply goes first, alone. */
	if (buf.naips > AIPS_PER_REPLY / 2) {
		rep.more = true;
		if ((r = send_reply(nd, &rep)) < 0)
			return r;
		rep.n_peers = 0;
		buf.naips = 0;
	}
	rep.more = false;
	rep.derp = fill_derp(nd);
	fill_counters(&nd->wg.ctr, &ctr);
	ctr.rx_filtered = nd->filter.dropped;
	fill_disco(&disco_ctr, &dc);
	ctr.disco = &dc;
	rep.counters = &ctr;
	fill_netcheck(netcheck_counters(), &ncc);
	rep.netcheck = &ncc;
	return send_reply(nd, &rep);
}
