/*
 * Disco for tailnet peers: keys, packets, and the WireGuard endpoint
 * following the path magicsock would choose (see disco_peer.h).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "disco_peer.h"
#include "log.h"
#include "netd.h"

#define HASH_BUCKETS	1024
#define TICK_MS		500
#define PKT_MAX		(DISCO_OVERHEAD + 2 + DISCO_CMM_MAX * IPPORT_WIRE_LEN)
#define OWN_EP_MAX	16

struct disco_peer {
	struct disco_peer *hnext;	/* by disco key */
	struct disco_peer *anext;	/* active list (path != NULL) */
	struct netd_peer *np;
	uint8_t		 key[DISCO_KEY_LEN];
	bool		 on_direct;	/* the endpoint is path->best */
	uint8_t		 nctl;
	struct ipport	*ctl;		/* control's Endpoints */
	struct disco_path *path;	/* a struct disco_live, while active */
};

/* What only an active peer needs (the path first: d->path points here). */
struct disco_live {
	struct disco_path path;
	uint8_t		 shared[DISCO_KEY_LEN];	/* crypto_box_beforenm */
	bool		 have_shared;
	/* The last handshake initiation while it may have gone to DERP:
	 * sent again over the first direct path disco finds, so a dead or
	 * slow relay costs no REKEY_TIMEOUT (the receiver takes it once). */
	bool		 have_init;
	uint64_t	 init_at;
	uint8_t		 init[WG_MSG_INITIATION_LEN];
};

#define LIVE(d)		((struct disco_live *)(void *)(d)->path)
#define INIT_KEEP_NS	(5000 * DP_MS)	/* REKEY_TIMEOUT */

struct disco_counters disco_ctr;

static struct disco_peer *hash[HASH_BUCKETS];
static struct disco_peer *active;
static uv_timer_t timer;
static bool timer_ready, timer_on;
static struct netd *tnd;

static size_t
bucket(const uint8_t key[DISCO_KEY_LEN])
{
	uint32_t h;

	memcpy(&h, key, sizeof(h));
	return h % HASH_BUCKETS;
}

static struct disco_peer *
lookup(const uint8_t key[DISCO_KEY_LEN])
{
	struct disco_peer *d = hash[bucket(key)];

	while (d != NULL && memcmp(d->key, key, DISCO_KEY_LEN) != 0)
		d = d->hnext;
	return d;
}

static void
unhash(struct disco_peer *d)
{
	struct disco_peer **pp = &hash[bucket(d->key)];

	while (*pp != NULL && *pp != d)
		pp = &(*pp)->hnext;
	if (*pp != NULL)
		*pp = d->hnext;
}

static void
unactive(struct disco_peer *d)
{
	struct disco_peer **pp = &active;

	while (*pp != NULL && *pp != d)
		pp = &(*pp)->anext;
	if (*pp != NULL)
		*pp = d->anext;
	d->anext = NULL;
}

bool
disco_peer_managed(const struct netd_peer *np)
{
	return np->disco != NULL;
}

static void
resend_initiation(struct disco_peer *d, const struct sockaddr_storage *ss,
    socklen_t len, uint64_t now)
{
	struct netd *nd = d->np->nd;
	struct disco_live *l = LIVE(d);

	if (l == NULL || !l->have_init || d->np->p->handshake == NULL ||
	    now - l->init_at >= INIT_KEEP_NS || nd->wg.udp_fd < 0)
		return;
	if (sendto(nd->wg.udp_fd, l->init, WG_MSG_INITIATION_LEN, 0,
	    (const struct sockaddr *)ss, len) < 0)
		nd->wg.ctr.udp_send_errors++;
	l->have_init = false;
}

void
disco_peer_note_initiation(struct netd_peer *np, const void *msg,
    uint64_t now)
{
	struct disco_live *l = np->disco != NULL ? LIVE(np->disco) : NULL;

	if (l == NULL)
		return;
	l->have_init = !np->disco->on_direct;
	if (l->have_init) {
		memcpy(l->init, msg, WG_MSG_INITIATION_LEN);
		l->init_at = now;
	}
}

/* What the WireGuard endpoint should be: the trusted direct address,
 * else DERP, else (no home region) the best or control's first. */
static void
apply_endpoint(struct disco_peer *d, uint64_t now)
{
	struct netd_peer *np = d->np;
	const struct ipport *ap = d->path != NULL ?
	    dp_send_addr(d->path, now) : NULL;
	struct sockaddr_storage ss;
	struct sockaddr_in sin;
	socklen_t len;
	bool direct = ap != NULL;

	if (ap == NULL && np->derp_region != 0) {
		wg_io_derp_endpoint(&sin, np->derp_region);
		memcpy(&ss, &sin, sizeof(sin));
		len = sizeof(sin);
	} else {
		if (ap == NULL && d->path != NULL && d->path->has_best)
			ap = &d->path->best;
		if (ap == NULL && d->nctl > 0)
			ap = &d->ctl[0];
		if (ap == NULL)
			return;
		len = ipport_to_sockaddr(ap, &ss);
	}
	if (direct != d->on_direct) {
		char buf[IPPORT_STRLEN];

		d->on_direct = direct;
		if (direct) {
			disco_ctr.path_direct++;
			log_info("disco: peer %02x%02x%02x%02x goes direct to "
			    "%s (%llu us)", np->p->public_key[0],
			    np->p->public_key[1], np->p->public_key[2],
			    np->p->public_key[3], ipport_str(ap, buf),
			    (unsigned long long)(d->path->best_latency / 1000));
			resend_initiation(d, &ss, len, now);
		} else {
			disco_ctr.path_derp++;
			log_info("disco: peer %02x%02x%02x%02x: no trusted "
			    "direct path; %s", np->p->public_key[0],
			    np->p->public_key[1], np->p->public_key[2],
			    np->p->public_key[3], np->derp_region != 0 ?
			    "through DERP" : "no DERP region either");
		}
	}
	if (np->p->endpoint_len != len ||
	    memcmp(&np->p->endpoint, &ss, len) != 0)
		wg_peer_set_endpoint(np->p, (const struct sockaddr *)&ss, len);
}

void
disco_peer_pin_endpoint(struct netd_peer *np, uint64_t now)
{
	if (np->disco != NULL)
		apply_endpoint(np->disco, now);
}

/* Only active peers open and seal: the key lives with the path. */
static const uint8_t *
shared_key(struct disco_peer *d)
{
	struct disco_live *l = LIVE(d);

	if (l == NULL)
		return NULL;
	if (!l->have_shared) {
		if (disco_shared_key(l->shared, d->key,
		    netd_disco_private()) < 0)
			return NULL;
		l->have_shared = true;
	}
	return l->shared;
}

/* Frees the path state, wiping the shared key. */
static void
free_live(struct disco_peer *d)
{
	if (d->path != NULL)
		sodium_memzero(LIVE(d), sizeof(struct disco_live));
	free(d->path);
	d->path = NULL;
}

static void tick(uv_timer_t *);

static void
timer_start(void)
{
	if (!timer_ready) {
		uv_timer_init(tnd->c.loop, &timer);
		timer_ready = true;
	}
	if (!timer_on) {
		uv_timer_start(&timer, tick, TICK_MS, TICK_MS);
		timer_on = true;
	}
}

/* The path state, allocated on first use. */
static struct disco_path *
activate(struct disco_peer *d)
{
	if (d->path != NULL)
		return d->path;
	if ((d->path = calloc(1, sizeof(struct disco_live))) == NULL)
		return NULL;
	for (size_t i = 0; i < d->nctl; i++)
		(void)dp_add_candidate(d->path, &d->ctl[i], DP_FROM_CONTROL);
	d->anext = active;
	active = d;
	timer_start();
	return d->path;
}

static void
deactivate(struct disco_peer *d)
{
	unactive(d);
	free_live(d);
}

/* Seals an inner message for d and sends it to `to` (UDP or DERP). */
static void
send_msg(struct disco_peer *d, const struct ipport *to,
    const struct disco_msg *m)
{
	struct netd *nd = d->np->nd;
	uint8_t inner[PKT_MAX], pkt[PKT_MAX];
	const uint8_t *sh = shared_key(d);
	struct sockaddr_storage ss;
	ssize_t il, pl;
	uint32_t region;

	if (sh == NULL || (il = disco_marshal(m, inner, sizeof(inner))) < 0 ||
	    (pl = disco_seal(pkt, sizeof(pkt), netd_disco_public(), sh, inner,
	    (size_t)il)) < 0)
		return;
	if (dp_is_derp(to, &region)) {
		derp_send(nd, region, d->np->p->public_key, pkt, (size_t)pl);
		return;
	}
	if (nd->wg.udp_fd < 0 || sendto(nd->wg.udp_fd, pkt, (size_t)pl, 0,
	    (const struct sockaddr *)&ss, ipport_to_sockaddr(to, &ss)) < 0)
		nd->wg.ctr.udp_send_errors++;
}

static void
send_ping(struct disco_peer *d, const struct ipport *to, uint64_t now,
    enum dp_purpose purpose, uint64_t cli_id)
{
	struct disco_msg m;

	memset(&m, 0, sizeof(m));
	m.type = DISCO_PING;
	randombytes_buf(m.ping.txid, DISCO_TXID_LEN);
	m.ping.has_node_key = true;
	memcpy(m.ping.node_key, netd_node_public(), DISCO_KEY_LEN);
	dp_sent_add(d->path, m.ping.txid, to, now, purpose, cli_id);
	send_msg(d, to, &m);
	disco_ctr.tx_ping++;
}

static void
send_call_me_maybe(struct disco_peer *d)
{
	struct disco_msg m;
	struct ipport to;

	if (d->np->derp_region == 0)
		return;
	memset(&m, 0, sizeof(m));
	m.type = DISCO_CALL_ME_MAYBE;
	m.cmm.n = netd_own_endpoints(d->np->nd, m.cmm.ep, DISCO_CMM_MAX);
	dp_derp_addr(&to, d->np->derp_region);
	send_msg(d, &to, &m);
	disco_ctr.tx_call_me_maybe++;
}

/* sendDiscoPingsLocked: every candidate not pinged within 5 s; then, if
 * any was and asked, CallMeMaybe through DERP so the peer pings back
 * through the holes these pings opened. */
static void
full_ping(struct disco_peer *d, uint64_t now, bool cmm)
{
	struct disco_path *p = d->path;
	bool any = false;

	p->last_full_ping = now;
	for (int i = 0; i < p->ncand; i++) {
		if (!dp_cand_due(&p->cand[i], now))
			continue;
		send_ping(d, &p->cand[i].ap, now, DP_DISCOVERY, 0);
		any = true;
	}
	if (any && cmm)
		send_call_me_maybe(d);
}

void
disco_peer_note_send(struct netd_peer *np, uint64_t now)
{
	struct disco_peer *d = np->disco;
	struct disco_path *p;

	bool fresh;

	if (d == NULL)
		return;
	fresh = d->path == NULL;
	if ((p = activate(d)) == NULL)
		return;
	p->last_send = now;
	if (dp_want_full_ping(p, now) && (p->last_full_ping == 0 ||
	    now - p->last_full_ping >= 1000 * DP_MS))
		full_ping(d, now, true);
	/* Per packet: only when the choice may have changed. */
	if (fresh || d->on_direct != dp_trusted(p, now))
		apply_endpoint(d, now);
}

/* Returns false when the peer's path state was freed (idle). */
static bool
tick_peer(struct disco_peer *d, uint64_t now)
{
	struct disco_path *p = d->path;

	disco_ctr.ping_timeouts += dp_expire(p, now);
	apply_endpoint(d, now);		/* trust may have run out */
	if (!dp_session_active(p, now)) {
		if (!dp_idle(p, now))
			return true;
		free_live(d);
		apply_endpoint(d, now);
		return false;
	}
	if (dp_want_heartbeat(p, now))
		send_ping(d, &p->best, now, DP_HEARTBEAT, 0);
	if (dp_want_full_ping(p, now))
		full_ping(d, now, true);
	return true;
}

/* Every active peer; idle ones leave the list as it is walked. */
static void
tick(uv_timer_t *t)
{
	uint64_t now = wg_now_ns();
	struct disco_peer **pp = &active, *d;

	(void)t;
	while ((d = *pp) != NULL) {
		if (tick_peer(d, now)) {
			pp = &d->anext;
			continue;
		}
		*pp = d->anext;
		d->anext = NULL;
	}
	ping_tick(tnd, now);
	if (active == NULL && !ping_pending()) {
		uv_timer_stop(&timer);
		timer_on = false;
	}
}

void
disco_peer_update(struct netd *nd, struct netd_peer *np,
    const uint8_t *key, const struct ipport *eps, size_t neps)
{
	struct disco_peer *d = np->disco;

	static const uint8_t zero[DISCO_KEY_LEN];

	tnd = nd;
	/* tailcfg's zero DiscoKey: the node has not told control one. */
	if (key != NULL && memcmp(key, zero, DISCO_KEY_LEN) == 0)
		key = NULL;
	if (d != NULL && (key == NULL ||
	    memcmp(d->key, key, DISCO_KEY_LEN) != 0)) {
		disco_peer_remove(np);	/* new disco key: a new peer */
		d = NULL;
	}
	if (key == NULL)
		return;
	if (d == NULL) {
		if ((d = calloc(1, sizeof(*d))) == NULL)
			return;
		d->np = np;
		memcpy(d->key, key, DISCO_KEY_LEN);
		d->hnext = hash[bucket(key)];
		hash[bucket(key)] = d;
		np->disco = d;
	}
	free(d->ctl);
	d->ctl = NULL;
	d->nctl = 0;
	if (neps > DP_CAND_MAX)
		neps = DP_CAND_MAX;
	if (neps > 0 && (d->ctl = calloc(neps, sizeof(*d->ctl))) != NULL) {
		memcpy(d->ctl, eps, neps * sizeof(*eps));
		d->nctl = (uint8_t)neps;
	}
	if (d->path != NULL)
		for (size_t i = 0; i < d->nctl; i++)
			(void)dp_add_candidate(d->path, &d->ctl[i],
			    DP_FROM_CONTROL);
	apply_endpoint(d, wg_now_ns());
}

void
disco_peer_remove(struct netd_peer *np)
{
	struct disco_peer *d = np->disco;

	if (d == NULL)
		return;
	unhash(d);
	if (d->path != NULL)
		deactivate(d);
	free(d->ctl);
	free(d);
	np->disco = NULL;
}

bool
disco_peer_direct(const struct netd_peer *np, struct ipport *out)
{
	const struct ipport *ap;

	if (np->disco == NULL || np->disco->path == NULL ||
	    (ap = dp_send_addr(np->disco->path, wg_now_ns())) == NULL)
		return false;
	*out = *ap;
	return true;
}

/* handlePingLocked: note a UDP source as a candidate; answer with a
 * Pong naming the source we saw (the DERP address through DERP). */
static void
on_ping(struct disco_peer *d, const struct disco_ping *pi,
    const struct ipport *src, bool via_derp, uint64_t now)
{
	struct disco_path *p = activate(d);
	struct disco_msg m;

	disco_ctr.rx_ping++;
	if (p != NULL) {
		p->last_ping_rx = now;
		if (!via_derp)
			(void)dp_add_candidate(p, src, DP_FROM_PING);
	}
	memset(&m, 0, sizeof(m));
	m.type = DISCO_PONG;
	memcpy(m.pong.txid, pi->txid, DISCO_TXID_LEN);
	m.pong.src = *src;
	send_msg(d, src, &m);
	disco_ctr.tx_pong++;
}

static void
on_pong(struct disco_peer *d, const struct disco_pong *po, uint64_t now)
{
	struct dp_sent s;
	uint64_t lat;

	disco_ctr.rx_pong++;
	if (d->path == NULL || !dp_pong(d->path, po->txid, now, &s, &lat)) {
		disco_ctr.rx_pong_unknown++;
		return;
	}
	if (s.purpose == DP_CLI)
		ping_answer(d->np->nd, s.cli_id, &s.to, lat);
	apply_endpoint(d, now);
}

static void
on_call_me_maybe(struct disco_peer *d, const struct disco_call_me_maybe *c,
    uint64_t now)
{
	struct disco_path *p = activate(d);

	disco_ctr.rx_call_me_maybe++;
	if (p == NULL)
		return;
	dp_call_me_maybe(p, c->ep, c->n);
	full_ping(d, now, false);
	apply_endpoint(d, now);		/* the best may have gone */
}

void
disco_input(struct netd *nd, const uint8_t *pkt, size_t len,
    const struct sockaddr *src, socklen_t srclen, const uint8_t *derp_src,
    uint32_t region)
{
	static uint8_t inner[65536];
	const uint8_t *sender = disco_sender(pkt, len), *sh;
	struct disco_peer *d;
	struct disco_msg m;
	struct ipport from;
	uint64_t now = wg_now_ns();
	ssize_t n;

	tnd = nd;
	if (sender == NULL || (d = lookup(sender)) == NULL) {
		disco_ctr.rx_unknown_key++;
		return;
	}
	/* Through DERP the relay vouches for the node key: it must be the
	 * peer whose disco key this is. */
	if (derp_src != NULL && memcmp(derp_src, d->np->p->public_key,
	    32) != 0) {
		disco_ctr.rx_derp_mismatch++;
		return;
	}
	if (activate(d) == NULL)
		return;
	if ((sh = shared_key(d)) == NULL ||
	    (n = disco_open(pkt, len, sh, inner, sizeof(inner))) < 0) {
		disco_ctr.rx_bad_box++;
		return;
	}
	if (disco_parse(inner, (size_t)n, &m) < 0) {
		disco_ctr.rx_bad_msg++;
		return;
	}
	if (derp_src != NULL)
		dp_derp_addr(&from, region);
	else if (ipport_from_sockaddr(&from, src, srclen) < 0)
		return;
	switch (m.type) {
	case DISCO_PING:
		on_ping(d, &m.ping, &from, derp_src != NULL, now);
		break;
	case DISCO_PONG:
		on_pong(d, &m.pong, now);
		break;
	case DISCO_CALL_ME_MAYBE:
		if (derp_src == NULL) {
			disco_ctr.rx_cmm_not_derp++;
			break;
		}
		on_call_me_maybe(d, &m.cmm, now);
		break;
	}
	wg_io_flush(nd);
}

int
disco_peer_cli_ping(struct netd *nd, const uint8_t key[32], uint64_t id,
    uint64_t now)
{
	struct wg_peer *wp = nd->wg.on ? wg_peer_lookup(&nd->wg.dev, key) :
	    NULL;
	struct netd_peer *np = wp != NULL ? wp->ctx : NULL;
	struct disco_peer *d;
	struct disco_path *p;
	const struct ipport *ap;
	struct ipport derp;

	tnd = nd;
	if (np == NULL)
		return -ENOENT;
	if ((d = np->disco) == NULL)
		return -EOPNOTSUPP;
	if ((p = activate(d)) == NULL)
		return -ENOMEM;
	/* As magicsock's cliPing: through DERP unless a direct path is
	 * trusted, to that path or else to every candidate; then the peer
	 * counts as active, so the next tick runs discovery (pings and
	 * CallMeMaybe) and a ping alone can take a pair direct. */
	if ((ap = dp_send_addr(p, now)) != NULL)
		send_ping(d, ap, now, DP_CLI, id);
	else {
		for (int i = 0; i < p->ncand; i++)
			send_ping(d, &p->cand[i].ap, now, DP_CLI, id);
		if (np->derp_region != 0) {
			dp_derp_addr(&derp, np->derp_region);
			send_ping(d, &derp, now, DP_CLI, id);
		}
	}
	p->last_send = now;
	return 0;
}
