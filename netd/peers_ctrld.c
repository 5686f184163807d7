/*
 * Tailnet mode: the WireGuard peer set ctrld fans out from the netmap
 * (PeerUpdate transactions), applied to the same core plain-WireGuard mode
 * uses, with the node key netd keeps (nodekeys.c) as the interface key.
 *
 * Parts of one generation are parsed into `pend` as they arrive; the part
 * with more=false applies them together, so the data path never sees half
 * a netmap.  A peer's endpoint is its first direct endpoint that parses
 * (NAT traversal and DERP come with disco, issue 6).  Strings that do not
 * parse are skipped and counted: the rest of the peer still applies.
 *
 * netd also tells ctrld its direct endpoints (STUN's from netcheck, then
 * the local ones from privd, with the UDP socket) whenever it gets the
 * socket or a new channel to ctrld; for ctrld that also means "netd may
 * have restarted: send everything".  When netcheck changes them, only
 * the change goes (changed_only).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "disco_peer.h"
#include "log.h"
#include "netcheck.h"
#include "netd.h"
#include "prefix.h"
#include "ctrld_to_netd.pb-c.h"
#include "netd_to_ctrld.pb-c.h"
#include "privd_to_netd.pb-c.h"

#define PEER_ALLOWED_MAX 1024
#define EP_MAX		 16
#define EP_TEXT		 64
#define TAILNET_MTU	 1280

struct pend_peer {
	uint8_t		 key[32];
	struct nprefix *allowed;
	size_t		 nallowed;
	union wg_endpoint ep;
	socklen_t	 eplen;
	uint32_t	 derp;		/* home DERP region, 0: none */
	bool		 has_disco;
	uint8_t		 disco[32];
	struct ipport	 eps[EP_MAX];	/* every endpoint that parses */
	size_t		 neps;
};

static struct {
	uint64_t	 gen;
	bool		 open;		/* parts of `gen` are accumulating */
	bool		 reset;
	struct pend_peer *up;
	size_t		 nup, capup;
	uint8_t		(*rm)[32];
	size_t		 nrm, caprm;
	/* counters, logged */
	uint64_t	 bad_strings, applied, dropped_parts;
	/* endpoints for ctrld */
	char		 local[EP_MAX][EP_TEXT];	/* from privd */
	size_t		 nlocal;
	/* All of them as ctrld last got them: STUN's first (netcheck.c),
	 * then the local ones, with their tailcfg.EndpointType. */
	char		 ep[EP_MAX][EP_TEXT];
	uint32_t	 ep_type[EP_MAX];
	size_t		 nep;
	bool		 have_udp;
	bool		 device_ours;	/* wg.on by us, not by a wg-quick file */
	uint64_t	 refused;
} st;

static void
pend_clear(void)
{
	for (size_t i = 0; i < st.nup; i++)
		free(st.up[i].allowed);
	st.nup = st.nrm = 0;
	st.open = st.reset = false;
}

/* "1.2.3.4:5" or "[::1]:5" (Go's netip.AddrPort text). */
static int
parse_endpoint(const char *s, union wg_endpoint *ep, socklen_t *len)
{
	char host[64], *end;
	const char *colon = strrchr(s, ':');
	unsigned long port;
	size_t hl;

	if (colon == NULL || colon[1] == '\0')
		return -1;
	errno = 0;
	port = strtoul(colon + 1, &end, 10);
	if (errno || *end || port == 0 || port > 65535)
		return -1;
	hl = (size_t)(colon - s);
	if (hl >= sizeof(host))
		return -1;
	memcpy(host, s, hl);
	host[hl] = '\0';
	memset(ep, 0, sizeof(*ep));
	if (host[0] == '[' && hl > 2 && host[hl - 1] == ']') {
		host[hl - 1] = '\0';
		if (inet_pton(AF_INET6, host + 1, &ep->in6.sin6_addr) != 1)
			return -1;
		ep->in6.sin6_family = AF_INET6;
		ep->in6.sin6_port = htons((uint16_t)port);
		*len = sizeof(ep->in6);
		return 0;
	}
	if (inet_pton(AF_INET, host, &ep->in4.sin_addr) != 1)
		return -1;
	ep->in4.sin_family = AF_INET;
	ep->in4.sin_port = htons((uint16_t)port);
	*len = sizeof(ep->in4);
	return 0;
}

static int
grow(void **v, size_t *cap, size_t need, size_t elem)
{
	size_t ncap = *cap ? *cap : 16;
	void *nv;

	if (need <= *cap)
		return 0;
	while (ncap < need)
		ncap *= 2;
	if ((nv = reallocarray(*v, ncap, elem)) == NULL)
		return -ENOMEM;
	*v = nv;
	*cap = ncap;
	return 0;
}

static int
pend_peer(const Pm__TailnetPeer *tp)
{
	struct pend_peer *pp;
	size_t n = tp->n_allowed_ips < PEER_ALLOWED_MAX ? tp->n_allowed_ips :
	    PEER_ALLOWED_MAX;

	if (grow((void **)&st.up, &st.capup, st.nup + 1, sizeof(*st.up)) < 0)
		return -ENOMEM;
	pp = &st.up[st.nup];
	memset(pp, 0, sizeof(*pp));
	memcpy(pp->key, tp->node_key.data, 32);
	if (n > 0 && (pp->allowed = calloc(n, sizeof(*pp->allowed))) == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		if (nprefix_parse(tp->allowed_ips[i],
		    &pp->allowed[pp->nallowed]) == 0)
			pp->nallowed++;
		else
			st.bad_strings++;
	}
	for (size_t i = 0; i < tp->n_endpoints; i++) {
		union wg_endpoint ep;
		socklen_t len;

		if (parse_endpoint(tp->endpoints[i], &ep, &len) < 0) {
			st.bad_strings++;
			continue;
		}
		if (pp->eplen == 0) {
			pp->ep = ep;
			pp->eplen = len;
		}
		if (pp->neps < EP_MAX && ipport_from_sockaddr(
		    &pp->eps[pp->neps], &ep.sa, len) == 0)
			pp->neps++;
	}
	if (tp->disco_key.len == 32) {
		pp->has_disco = true;
		memcpy(pp->disco, tp->disco_key.data, 32);
	}
	/* No direct endpoint: start on DERP (wg_io.h's magic endpoint). */
	pp->derp = tp->home_derp <= UINT16_MAX ? tp->home_derp : 0;
	if (pp->eplen == 0 && pp->derp != 0) {
		wg_io_derp_endpoint(&pp->ep.in4, pp->derp);
		pp->eplen = sizeof(pp->ep.in4);
	}
	st.nup++;
	return 0;
}

static int
device_on(struct netd *nd)
{
	const uint8_t *priv = netd_node_private();
	int r;

	if (nd->wg.on)
		return 0;
	st.device_ours = true;
	if ((r = wg_device_init(&nd->wg.dev, priv)) < 0 ||
	    (r = wg_ratelimiter_init(&nd->wg.rl, WG_RATELIMIT_MAX_ENTRIES)) < 0)
		return r;
	allowedips_init(&nd->wg.aips);
	nd->wg.mtu = TAILNET_MTU;
	nd->wg.on = true;
	log_info("tailnet: WireGuard on with the node key");
	return 0;
}

static struct netd_peer *
find(struct netd *nd, const uint8_t key[32])
{
	struct wg_peer *p = wg_peer_lookup(&nd->wg.dev, key);

	return p != NULL ? p->ctx : NULL;
}

static bool
in_upserts(const uint8_t key[32])
{
	for (size_t i = 0; i < st.nup; i++)
		if (memcmp(st.up[i].key, key, 32) == 0)
			return true;
	return false;
}

/* reset: every peer the generation does not name goes. */
static void
remove_unnamed(struct netd *nd)
{
	for (size_t b = 0; b < WG_PEER_BUCKETS; b++) {
		struct wg_peer *p = nd->wg.dev.peer_table[b], *next;

		for (; p != NULL; p = next) {
			next = p->hash_next;
			if (!in_upserts(p->public_key))
				wg_io_remove_peer(nd, p->ctx);
		}
	}
}

static int
upsert(struct netd *nd, const struct pend_peer *pp)
{
	struct netd_peer *np = find(nd, pp->key);
	int r;

	if (np == NULL) {
		r = wg_io_add_peer(nd, pp->key, NULL, pp->eplen ?
		    (const struct sockaddr *)&pp->ep : NULL, pp->eplen, 0, &np);
		if (r < 0)
			return r;
	} else {
		/* Keep sessions; a roamed endpoint learned from an
		 * authenticated packet is replaced only if control's
		 * changed, which the diff in ctrld already tells. */
		if (pp->eplen > 0)
			wg_peer_set_endpoint(np->p,
			    (const struct sockaddr *)&pp->ep, pp->eplen);
		allowedips_remove_by_peer(&nd->wg.aips, np->p);
	}
	np->derp_region = pp->derp;
	/* With a disco key, disco chooses the endpoint (DERP first). */
	disco_peer_update(nd, np, pp->has_disco ? pp->disco : NULL, pp->eps,
	    pp->neps);
	for (size_t i = 0; i < pp->nallowed; i++)
		if ((r = allowedips_insert(&nd->wg.aips, pp->allowed[i].family,
		    pp->allowed[i].addr, pp->allowed[i].cidr, np->p)) < 0)
			return r;
	return 0;
}

static int
commit(struct netd *nd)
{
	struct netd_peer *np;
	int r;

	if ((r = device_on(nd)) < 0)
		return r;
	if (st.reset)
		remove_unnamed(nd);
	for (size_t i = 0; i < st.nrm; i++)
		if ((np = find(nd, st.rm[i])) != NULL)
			wg_io_remove_peer(nd, np);
	for (size_t i = 0; i < st.nup; i++)
		if ((r = upsert(nd, &st.up[i])) < 0)
			return r;
	st.applied++;
	log_info("tailnet: generation %llu applied: %zu peers (%zu changed, "
	    "%zu removed%s)", (unsigned long long)st.gen, nd->wg.dev.npeers,
	    st.nup, st.nrm, st.reset ? ", full set" : "");
	return 0;
}

/* Plain-WireGuard mode: the wg-quick file owns the device; ctrld's
 * peers and filter are not mixed in. */
bool
peers_ctrld_refuse(struct netd *nd, const char *what)
{
	if (!nd->wg.on || st.device_ours)
		return false;
	if (st.refused++ == 0)
		log_warnx("tailnet: %s from ctrld refused: the interface "
		    "follows the wg-quick file", what);
	return true;
}

int
peers_ctrld_update(struct netd *nd, const Pm__PeerUpdate *u)
{
	uint64_t bad = st.bad_strings;
	int r = 0;

	if (peers_ctrld_refuse(nd, "peers"))
		return 0;

	if (st.open && u->generation != st.gen) {
		st.dropped_parts++;
		log_warnx("tailnet: generation %llu left unfinished; dropped",
		    (unsigned long long)st.gen);
		pend_clear();
	}
	if (!st.open) {
		st.gen = u->generation;
		st.open = true;
		st.reset = u->reset;
	}
	for (size_t i = 0; i < u->n_upsert && r == 0; i++)
		r = pend_peer(u->upsert[i]);
	if (r == 0 && grow((void **)&st.rm, &st.caprm, st.nrm + u->n_remove,
	    sizeof(*st.rm)) < 0)
		r = -ENOMEM;
	for (size_t i = 0; i < u->n_remove && r == 0; i++)
		memcpy(st.rm[st.nrm++], u->remove[i].data, 32);
	if (r == 0 && !u->more)
		r = commit(nd);
	if (r < 0)
		log_warnx("tailnet: generation %llu not applied: %s",
		    (unsigned long long)st.gen, strerror(-r));
	if (st.bad_strings > bad)
		log_warnx("tailnet: %llu prefixes or endpoints from ctrld did "
		    "not parse (skipped; %llu in all)", (unsigned long long)
		    (st.bad_strings - bad), (unsigned long long)st.bad_strings);
	if (r < 0 || !u->more)
		pend_clear();
	return 0;
}

/* A new node key (re-register): every session was with the old one. */
void
peers_ctrld_rekey(struct netd *nd)
{
	int r;

	if (nd->wg.on && st.device_ours &&
	    (r = wg_device_set_private_key(&nd->wg.dev,
	    netd_node_private())) < 0)
		log_warnx("tailnet: cannot take the new node key: %s",
		    strerror(-r));
	derp_regions_update(nd);	/* DERP logs in with the node key */
}

/* The endpoints for control as magicsock orders them: STUN first
 * (netcheck.c), then the local ones privd reported; no duplicates. */
static size_t
collect_endpoints(struct netd *nd, char (*txt)[EP_TEXT], uint32_t *types)
{
	struct ipport stun[EP_MAX];
	uint32_t st_types[EP_MAX];
	size_t n = 0, ns = netcheck_endpoints(nd, stun, st_types, EP_MAX);

	for (size_t i = 0; i < ns; i++) {
		char b[IPPORT_STRLEN];

		snprintf(txt[n], EP_TEXT, "%s", ipport_str(&stun[i], b));
		types[n++] = st_types[i];
	}
	for (size_t i = 0; i < st.nlocal && n < EP_MAX; i++) {
		bool dup = false;

		for (size_t j = 0; j < n && !dup; j++)
			dup = strcmp(txt[j], st.local[i]) == 0;
		if (dup)
			continue;
		snprintf(txt[n], EP_TEXT, "%s", st.local[i]);
		types[n++] = 1;		/* tailcfg.EndpointLocal */
	}
	return n;
}

/* always: a new socket or channel (ctrld treats it as "netd restarted");
 * else only when the set differs from what ctrld has. */
static void
send_endpoints(struct netd *nd, bool always)
{
	struct ipc_chan *ch = child_chan(&nd->c, PM__PROC__PROC_CTRLD);
	Pm__NetdToCtrld env = PM__NETD_TO_CTRLD__INIT;
	Pm__Endpoints e = PM__ENDPOINTS__INIT;
	char txt[EP_MAX][EP_TEXT] = { { 0 } }, *ptr[EP_MAX];
	uint32_t types[EP_MAX];
	size_t n;
	int r;

	if (!st.have_udp)
		return;
	n = collect_endpoints(nd, txt, types);
	if (!always && n == st.nep &&
	    memcmp(txt, st.ep, n * sizeof(txt[0])) == 0 &&
	    memcmp(types, st.ep_type, n * sizeof(types[0])) == 0)
		return;
	/* What disco's CallMeMaybe offers follows at once. */
	memcpy(st.ep, txt, sizeof(txt));
	memcpy(st.ep_type, types, sizeof(types));
	st.nep = n;
	if (ch == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		ptr[i] = st.ep[i];
	e.n_endpoints = e.n_types = n;
	e.endpoints = ptr;
	e.types = st.ep_type;
	e.changed_only = !always;
	env.msg_case = PM__NETD_TO_CTRLD__MSG_ENDPOINTS;
	env.endpoints = &e;
	if ((r = ipc_send(ch, &env.base, -1)) < 0)
		log_warnx("tailnet: cannot send endpoints to ctrld: %s",
		    strerror(-r));
}

void
peers_ctrld_endpoints_changed(struct netd *nd)
{
	send_endpoints(nd, false);
}

void
peers_ctrld_udp(struct netd *nd, int fd, const Pm__UdpSocket *us)
{
	wg_io_attach_udp(nd, fd, us->port);
	st.nlocal = 0;
	for (size_t i = 0; i < us->n_endpoints && st.nlocal < EP_MAX; i++)
		snprintf(st.local[st.nlocal++], EP_TEXT, "%s",
		    us->endpoints[i]);
	st.have_udp = true;
	send_endpoints(nd, true);
	netcheck_udp_ready(nd);
}

void
peers_ctrld_channel(struct netd *nd)
{
	send_endpoints(nd, true);
	netcheck_channel(nd);
}

size_t
netd_own_endpoints(struct netd *nd, struct ipport *out, size_t max)
{
	union wg_endpoint ep;
	socklen_t len;
	size_t n = 0;

	(void)nd;
	for (size_t i = 0; i < st.nep && n < max; i++)
		if (parse_endpoint(st.ep[i], &ep, &len) == 0 &&
		    ipport_from_sockaddr(&out[n], &ep.sa, len) == 0)
			n++;
	return n;
}
