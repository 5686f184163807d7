/*
 * Fan-out: the netmap turned into each sibling's desired state, sent only
 * when it changed.
 *
 *   netd   PeerUpdate transactions: the peers (node key, disco key, the
 *          AllowedIPs accepted under the prefs, endpoints, home DERP) and
 *          this node's addresses.  Per peer, a digest of what was last
 *          committed decides whether it is sent again; peers gone from the
 *          map are removed by key.  When netd reports its endpoints (it has
 *          just started, or has a new channel to us) the next transaction
 *          is a full one with reset.
 *          Before the peers, the packet filter (FilterUpdate, the whole
 *          rule set from PacketFilter(s), "*" and bare addresses turned
 *          into prefixes), when its digest changed.
 *   privd  NetState: this node's /32 and /128, a route for every accepted
 *          peer prefix (exit node /0s only for the chosen exit node),
 *          and the prefs' local roles; sent when its encoding changed.
 *          As tailscale's peerRoutes: peer addresses in fd7a:115c:a1e0::/48
 *          become that one route, and past CGNAT_THRESHOLD peer /32s in
 *          100.64.0.0/10 that whole range.
 *   dnsd   DnsConfig transactions (dnsd's generation/more parts): MagicDNS
 *          records (self and peer FQDNs, ExtraRecords) always; resolvers,
 *          split-DNS routes and search domains only with --accept-dns.
 *          Sent when the whole configuration's digest changed.
 *
 * Which peer prefixes are accepted follows tailscale's wgcfg/nmcfg: a
 * peer's own addresses always; other prefixes (subnet routes) with
 * --accept-routes; /0 only from the exit node chosen with --exit-node.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "ctrld.h"
#include "fanout.h"
#include "log.h"
#include "ctrld_to_netd.pb-c.h"
#include "ctrld_to_privd.pb-c.h"
#include "ctrld_to_dnsd.pb-c.h"
#include "netstate.pb-c.h"

#define PART_BUDGET	3072	/* of SMALL_MAX (4096) per PeerUpdate */
#define ROUTES_MAX	4096	/* privd's NS_MAX_ROUTES */
/* Above this many peer /32s in 100.64.0.0/10, one route for the whole
 * range (tailscale: 10,000; privd's NetState holds at most 4096 routes in
 * a 64 KiB datagram). */
#define CGNAT_THRESHOLD	1000

struct sent_peer {
	uint8_t		 key[32];
	uint8_t		 digest[32];
};

/* What fan-out derived from one peer, kept while its stamp (nm_node.mod)
 * and the prefs stay the same: the digest of its TailnetPeer, and of what
 * privd's NetState and dnsd's DnsConfig take from it.  A one-peer delta
 * then costs one peer's work, not 10,000 peers' packing and hashing. */
struct peer_cache {
	int64_t		 id;
	uint64_t	 mod;
	bool		 usable;
	uint8_t		 key[32];
	uint8_t		 netd[32];	/* TailnetPeer, when usable */
	uint8_t		 in[32];	/* names, addresses, AllowedIPs */
};

/* A peer that came, went or changed since the last fan-out. */
struct touch {
	struct peer_cache old;	/* valid if `had` */
	bool		 had;
	bool		 has;		/* in the map now, at fo.cache[idx] */
	size_t		 idx;
};

/* Past this many changed peers netd's transaction is derived from the
 * whole map (the per-peer path is for deltas). */
#define TOUCH_MAX	64

static struct {
	struct sent_peer *sent;		/* sorted by key */
	size_t		 nsent;
	bool		 netd_reset;	/* next transaction replaces all */
	uint64_t	 gen;
	uint8_t		 self_digest[32];
	uint8_t		 privd_digest[32];
	bool		 privd_sent;
	uint64_t	 privd_id;
	char		 ep[FANOUT_EP_MAX][FANOUT_EP_TEXT];
	uint32_t	 ep_type[FANOUT_EP_MAX];	/* tailcfg.EndpointType */
	size_t		 nep;
	bool		 ever;
	uint8_t		 filter_digest[32];
	bool		 filter_sent;
	uint64_t	 filter_gen;
	uint8_t		 dns_digest[32];
	bool		 dns_sent;
	uint64_t	 dns_gen;
	struct peer_cache *cache;	/* as nm->peers, by NodeID */
	size_t		 ncache;
	bool		 cache_ok;	/* cache matches the netmap now */
	uint8_t		 prefs_digest[32];
	uint64_t	 self_mod, dns_mod, filter_mod;	/* last seen */
	bool		 privd_ok;	/* privd has the current NetState */
	bool		 dns_ok;	/* dnsd's config was derived last time */
	struct touch	 touched[TOUCH_MAX];	/* by the last cache_refresh */
	size_t		 ntouched;
	bool		 touch_all;	/* too many, or no cache before */
} fo = { .netd_reset = true };

static int
key_cmp(const void *a, const void *b)
{
	return memcmp(a, b, 32);
}

static bool
is_default(const char *p)
{
	return strcmp(p, "0.0.0.0/0") == 0 || strcmp(p, "::/0") == 0;
}

static bool
has_str(char **v, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i], s) == 0)
			return true;
	return false;
}

/* --exit-node: an address of the peer, its host name or its FQDN. */
static bool
is_exit_node(const struct prefs *p, const struct nm_node *n)
{
	const char *x = p->exit_node;
	char host[NM_NAME_MAX + 4];
	size_t l;

	if (x[0] == '\0')
		return false;
	snprintf(host, sizeof(host), "%s/%s", x, strchr(x, ':') ? "128" : "32");
	if (has_str(n->addrs, n->naddrs, host) ||
	    strcasecmp(n->hostname, x) == 0)
		return true;
	l = strlen(x);
	return strncasecmp(n->name, x, l) == 0 &&
	    (n->name[l] == '\0' || n->name[l] == '.');
}

/* The peer's prefixes this node accepts; pointers into the netmap. */
size_t
fanout_accepted(const struct prefs *p, const struct nm_node *n, char **out,
    size_t max)
{
	char **src = n->nallowed > 0 ? n->allowed : n->addrs;
	size_t nsrc = n->nallowed > 0 ? n->nallowed : n->naddrs, k = 0;
	bool exit = is_exit_node(p, n);

	for (size_t i = 0; i < nsrc && k < max; i++) {
		if (is_default(src[i]) ? !exit :
		    !has_str(n->addrs, n->naddrs, src[i]) && !p->accept_routes)
			continue;
		out[k++] = src[i];
	}
	return k;
}

/* Room for a peer's accepted prefixes. */
static size_t
nalloc(const struct nm_node *n)
{
	return (n->nallowed > n->naddrs ? n->nallowed : n->naddrs) + 1;
}

static void
peer_msg(const struct prefs *p, const struct nm_node *n,
    Pm__TailnetPeer *tp, char **allowed, size_t max)
{
	pm__tailnet_peer__init(tp);
	tp->node_key.data = (uint8_t *)n->key;
	tp->node_key.len = 32;
	if (n->has_disco) {
		tp->disco_key.data = (uint8_t *)n->disco;
		tp->disco_key.len = 32;
	}
	tp->n_allowed_ips = fanout_accepted(p, n, allowed, max);
	tp->allowed_ips = allowed;
	tp->n_endpoints = n->nendpoints;
	tp->endpoints = n->endpoints;
	tp->home_derp = n->home_derp > 0 ? (uint32_t)n->home_derp : 0;
}

void
fanout_digest(const ProtobufCMessage *m, uint8_t out[32])
{
	size_t len = protobuf_c_message_get_packed_size(m);
	uint8_t stackbuf[1024], *buf = len <= sizeof(stackbuf) ? stackbuf :
	    malloc(len);

	if (buf == NULL) {
		memset(out, 0xff, 32);	/* never equal: resend */
		return;
	}
	protobuf_c_message_pack(m, buf);
	crypto_generichash(out, 32, buf, len, NULL, 0);
	if (buf != stackbuf)
		free(buf);
}

static bool
peer_usable(const struct nm_node *n)
{
	return !n->expired && n->naddrs > 0;
}

/* The digest of the TailnetPeer netd would get for `n`. */
static int
peer_digest(const struct prefs *p, const struct nm_node *n, uint8_t out[32])
{
	Pm__TailnetPeer tp;
	char *stackal[64], **al = stackal;

	if (nalloc(n) > 64 && (al = calloc(nalloc(n), sizeof(*al))) == NULL)
		return -ENOMEM;
	peer_msg(p, n, &tp, al, nalloc(n));
	fanout_digest(&tp.base, out);
	if (al != stackal)
		free(al);
	return 0;
}

static void
hash_str(crypto_generichash_state *st, const char *s)
{
	crypto_generichash_update(st, (const uint8_t *)s, strlen(s) + 1);
}

static void
hash_strv(crypto_generichash_state *st, char **v, size_t n)
{
	uint64_t n64 = n;

	crypto_generichash_update(st, (const uint8_t *)&n64, sizeof(n64));
	for (size_t i = 0; i < n; i++)
		hash_str(st, v[i]);
}

/* What privd's routes and dnsd's names take from a peer (is_exit_node
 * and fanout_accepted read the names too). */
static void
peer_inputs(const struct nm_node *n, uint8_t out[32])
{
	crypto_generichash_state st;

	crypto_generichash_init(&st, NULL, 0, 32);
	hash_str(&st, n->name);
	hash_str(&st, n->hostname);
	hash_strv(&st, n->addrs, n->naddrs);
	hash_strv(&st, n->allowed, n->nallowed);
	crypto_generichash_final(&st, out, 32);
}

/* The prefs fan-out reads. */
static void
prefs_digest(const struct prefs *p, uint8_t out[32])
{
	crypto_generichash_state st;
	uint8_t flags[4] = { p->accept_routes, p->accept_dns,
	    p->exit_node_allow_lan, p->advertise_exit_node };
	size_t i;
	json_t *v;

	crypto_generichash_init(&st, NULL, 0, 32);
	crypto_generichash_update(&st, flags, sizeof(flags));
	hash_str(&st, p->exit_node);
	json_array_foreach(p->advertise_routes, i, v)
		if (json_is_string(v))
			hash_str(&st, json_string_value(v));
	crypto_generichash_final(&st, out, 32);
}

static void
touch(const struct peer_cache *old, bool has, size_t idx)
{
	struct touch *t = &fo.touched[fo.ntouched];

	if (fo.ntouched == TOUCH_MAX) {
		fo.touch_all = true;
		return;
	}
	t->had = old != NULL;
	if (old != NULL)
		t->old = *old;
	t->has = has;
	t->idx = idx;
	fo.ntouched++;
}

/* One peer's cache entry, from the cache (`old`, NULL if none) when its
 * stamp is known and unchanged (1), else derived again (0); *changed
 * when privd's or dnsd's inputs from it differ from before. */
static int
cache_entry(const struct prefs *p, const struct nm_node *n,
    const struct peer_cache *old, bool prefs_same, struct peer_cache *c,
    bool *changed)
{
	if (old != NULL && prefs_same && n->mod != 0 && old->mod == n->mod) {
		*c = *old;
		return 1;
	}
	memset(c, 0, sizeof(*c));
	c->id = n->id;
	memcpy(c->key, n->key, 32);
	c->mod = n->mod;
	c->usable = peer_usable(n);
	if (c->usable) {
		peer_inputs(n, c->in);
		if (peer_digest(p, n, c->netd) < 0)
			return -ENOMEM;
	}
	if (old == NULL ? c->usable : (old->usable != c->usable ||
	    (c->usable && memcmp(old->in, c->in, 32) != 0)))
		*changed = true;
	return 0;
}

/* Brings the per-peer cache up to the map (one merge pass: both are
 * sorted by NodeID).  True when an input of privd's NetState or dnsd's
 * DnsConfig from the peers may have changed. */
static bool
cache_refresh(const struct netmap *nm, const struct prefs *p,
    bool prefs_same)
{
	struct peer_cache *nc = calloc(nm->npeers + 1, sizeof(*nc));
	const struct peer_cache *old = fo.cache_ok ? fo.cache : NULL;
	size_t j = 0, nold = old != NULL ? fo.ncache : 0;
	bool changed = old == NULL;
	int r;

	fo.ntouched = 0;
	fo.touch_all = old == NULL;
	if (nc == NULL)
		goto fail;
	for (size_t i = 0; i < nm->npeers; i++) {
		const struct nm_node *n = &nm->peers[i];
		const struct peer_cache *o = NULL;

		for (; j < nold && old[j].id < n->id; j++) {
			touch(&old[j], false, 0);	/* gone */
			if (old[j].usable)
				changed = true;
		}
		if (j < nold && old[j].id == n->id)
			o = &old[j++];
		if ((r = cache_entry(p, n, o, prefs_same, &nc[i],
		    &changed)) < 0)
			goto fail;
		if (r == 0)
			touch(o, true, i);
	}
	for (; j < nold; j++) {
		touch(&old[j], false, 0);
		if (old[j].usable)
			changed = true;
	}
	free(fo.cache);
	fo.cache = nc;
	fo.ncache = nm->npeers;
	fo.cache_ok = true;
	return changed;
fail:
	/* Without the cache every part is derived from scratch. */
	free(nc);
	free(fo.cache);
	fo.cache = NULL;
	fo.ncache = 0;
	fo.cache_ok = false;
	fo.touch_all = true;
	return true;
}

/* ---- netd ---- */

struct txn {
	struct ctrld	*cd;
	Pm__PeerUpdate	 u;
	Pm__TailnetPeer	*peers;
	Pm__TailnetPeer **pp;
	char		***allowed;	/* per queued peer */
	ProtobufCBinaryData *rm;
	size_t		 size;
	int		 err;
};

static void
txn_send(struct txn *t, bool more)
{
	struct ipc_chan *ch = child_chan(&t->cd->c, PM__PROC__PROC_NETD);
	Pm__CtrldToNetd env = PM__CTRLD_TO_NETD__INIT;
	int r;

	t->u.more = more;
	env.msg_case = PM__CTRLD_TO_NETD__MSG_PEER_UPDATE;
	env.peer_update = &t->u;
	if (ch == NULL)
		r = -ENOTCONN;
	else
		r = ipc_send(ch, &env.base, -1);
	if (r < 0 && t->err == 0)
		t->err = r;
	t->u.reset = false;
	t->u.n_upsert = t->u.n_remove = 0;
	t->u.n_addresses = 0;
	t->size = 0;
}

static void
txn_add_peer(struct txn *t, const Pm__TailnetPeer *tp)
{
	size_t sz = pm__tailnet_peer__get_packed_size(tp) + 8;

	if (t->size + sz > PART_BUDGET && (t->u.n_upsert || t->u.n_remove))
		txn_send(t, true);
	t->pp[t->u.n_upsert] = (Pm__TailnetPeer *)tp;
	t->u.upsert = t->pp;
	t->u.n_upsert++;
	t->size += sz;
}

static void
txn_add_remove(struct txn *t, const uint8_t key[32])
{
	if (t->size + 40 > PART_BUDGET && (t->u.n_upsert || t->u.n_remove))
		txn_send(t, true);
	t->rm[t->u.n_remove].data = (uint8_t *)key;
	t->rm[t->u.n_remove].len = 32;
	t->u.remove = t->rm;
	t->u.n_remove++;
	t->size += 40;
}

static const struct sent_peer *
find_sent(const uint8_t key[32])
{
	return fo.nsent ? bsearch(key, fo.sent, fo.nsent, sizeof(*fo.sent),
	    key_cmp) : NULL;
}

static void
self_digest(const struct netmap *nm, uint8_t out[32])
{
	crypto_generichash(out, 32, (const uint8_t *)"", 0, NULL, 0);
	for (size_t i = 0; i < nm->self.naddrs; i++)
		crypto_generichash(out, 32, (const uint8_t *)
		    nm->self.addrs[i], strlen(nm->self.addrs[i]) + 1, out, 32);
}

/* Sorted-by-key edits of the sent set (a multiset, as the full path's). */
static void
sent_del(struct sent_peer *v, size_t *n, const uint8_t key[32])
{
	struct sent_peer *sp = *n ? bsearch(key, v, *n, sizeof(*v), key_cmp) :
	    NULL;

	if (sp == NULL)
		return;
	memmove(sp, sp + 1, (size_t)(v + *n - sp - 1) * sizeof(*v));
	(*n)--;
}

static void
sent_ins(struct sent_peer *v, size_t *n, const uint8_t key[32],
    const uint8_t d[32])
{
	size_t lo = 0, hi = *n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (memcmp(v[mid].key, key, 32) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	memmove(&v[lo + 1], &v[lo], (*n - lo) * sizeof(*v));
	memcpy(v[lo].key, key, 32);
	memcpy(v[lo].digest, d, 32);
	(*n)++;
}

/* netd's transaction from the peers touched since the last fan-out: the
 * same upserts and removals as the full pass below, without walking the
 * unchanged peers. */
static int
fanout_netd_delta(struct ctrld *cd, const struct netmap *nm,
    const struct prefs *p)
{
	Pm__PeerUpdate u = PM__PEER_UPDATE__INIT;
	Pm__TailnetPeer tps[TOUCH_MAX], *pp[TOUCH_MAX];
	char **allowed[TOUCH_MAX] = { 0 };
	ProtobufCBinaryData rm[TOUCH_MAX];
	uint8_t rmkeys[TOUCH_MAX][32], self_d[32];
	struct txn t = { .cd = cd, .peers = tps, .pp = pp, .rm = rm };
	struct sent_peer *next = NULL;
	size_t nnext = fo.nsent, nrm = 0, k;
	bool changed = false;
	int r = 0;

	t.u = u;
	t.u.generation = ++fo.gen;
	self_digest(nm, self_d);
	if (fo.ntouched == 0 && memcmp(self_d, fo.self_digest, 32) == 0)
		return 0;
	if ((next = malloc((fo.nsent + fo.ntouched + 1) * sizeof(*next)))
	    == NULL) {
		r = -ENOMEM;
		goto out;
	}
	if (fo.nsent > 0)
		memcpy(next, fo.sent, fo.nsent * sizeof(*next));
	for (k = 0; k < fo.ntouched; k++)
		if (fo.touched[k].had && fo.touched[k].old.usable)
			sent_del(next, &nnext, fo.touched[k].old.key);
	for (k = 0; k < fo.ntouched; k++) {
		const struct touch *tc = &fo.touched[k];
		const struct peer_cache *c;
		const struct nm_node *pn;
		const struct sent_peer *sp;

		/* A removed peer has no entry (the netmap may be empty). */
		if (!tc->has || !fo.cache[tc->idx].usable)
			continue;
		c = &fo.cache[tc->idx];
		pn = &nm->peers[tc->idx];
		sp = find_sent(c->key);
		if (sp == NULL || memcmp(sp->digest, c->netd, 32) != 0) {
			if ((allowed[k] = calloc(nalloc(pn), sizeof(char *)))
			    == NULL) {
				r = -ENOMEM;
				goto out;
			}
			peer_msg(p, pn, &tps[k], allowed[k], nalloc(pn));
			txn_add_peer(&t, &tps[k]);
			changed = true;
		}
		sent_ins(next, &nnext, c->key, c->netd);
	}
	for (k = 0; k < fo.ntouched; k++)
		if (fo.touched[k].had && fo.touched[k].old.usable &&
		    (nnext == 0 || bsearch(fo.touched[k].old.key, next, nnext,
		    sizeof(*next), key_cmp) == NULL))
			memcpy(rmkeys[nrm++], fo.touched[k].old.key, 32);
	qsort(rmkeys, nrm, 32, key_cmp);	/* in key order, as the full pass */
	for (k = 0; k < nrm; k++) {
		txn_add_remove(&t, rmkeys[k]);
		changed = true;
	}
	if (memcmp(self_d, fo.self_digest, 32) != 0)
		changed = true;
	if (!changed)
		goto out;
	t.u.addresses = nm->self.addrs;
	t.u.n_addresses = nm->self.naddrs;
	txn_send(&t, false);
	if ((r = t.err) < 0)
		goto out;
	free(fo.sent);
	fo.sent = next;
	fo.nsent = nnext;
	next = NULL;
	memcpy(fo.self_digest, self_d, 32);
out:
	if (r < 0) {
		fo.netd_reset = true;
		log_warnx("fan-out to netd: %s", strerror(-r));
	}
	for (k = 0; k < TOUCH_MAX; k++)
		free(allowed[k]);
	free(next);
	return r;
}

static int
fanout_netd(struct ctrld *cd, const struct netmap *nm, const struct prefs *p)
{
	size_t n = nm->npeers, nnew = 0;
	struct sent_peer *next = calloc(n + 1, sizeof(*next));
	struct txn t = { .cd = cd };
	Pm__PeerUpdate u = PM__PEER_UPDATE__INIT;
	uint8_t self_d[32];
	bool changed = false;
	int r = 0;

	if (!fo.netd_reset && fo.cache_ok && !fo.touch_all) {
		free(next);
		return fanout_netd_delta(cd, nm, p);
	}
	t.peers = calloc(n + 1, sizeof(*t.peers));
	t.pp = calloc(n + 1, sizeof(*t.pp));
	t.allowed = calloc(n + 1, sizeof(*t.allowed));
	t.rm = calloc(fo.nsent + 1, sizeof(*t.rm));
	if (next == NULL || t.peers == NULL || t.pp == NULL ||
	    t.allowed == NULL || t.rm == NULL) {
		r = -ENOMEM;
		goto out;
	}
	t.u = u;
	t.u.generation = ++fo.gen;
	t.u.reset = fo.netd_reset;

	for (size_t i = 0; i < n; i++) {
		const struct nm_node *pn = &nm->peers[i];
		Pm__TailnetPeer *tp = &t.peers[i];
		const struct sent_peer *sp;

		if (!peer_usable(pn))
			continue;
		memcpy(next[nnew].key, pn->key, 32);
		if (fo.cache_ok)
			memcpy(next[nnew].digest, fo.cache[i].netd, 32);
		else if ((r = peer_digest(p, pn, next[nnew].digest)) < 0)
			goto out;
		sp = fo.netd_reset ? NULL : find_sent(pn->key);
		if (sp == NULL || memcmp(sp->digest, next[nnew].digest, 32)) {
			if ((t.allowed[i] = calloc(nalloc(pn),
			    sizeof(char *))) == NULL) {
				r = -ENOMEM;
				goto out;
			}
			peer_msg(p, pn, tp, t.allowed[i], nalloc(pn));
			txn_add_peer(&t, tp);
			changed = true;
		}
		nnew++;
	}
	/* Removals: sent before, not in the map (or not usable) now. */
	qsort(next, nnew, sizeof(*next), key_cmp);
	for (size_t i = 0; i < fo.nsent && !fo.netd_reset; i++)
		if (nnew == 0 || bsearch(fo.sent[i].key, next, nnew,
		    sizeof(*next), key_cmp) == NULL) {
			txn_add_remove(&t, fo.sent[i].key);
			changed = true;
		}
	self_digest(nm, self_d);
	if (memcmp(self_d, fo.self_digest, 32) != 0)
		changed = true;
	if (!changed && !fo.netd_reset)
		goto out;
	t.u.addresses = nm->self.addrs;
	t.u.n_addresses = nm->self.naddrs;
	txn_send(&t, false);
	if ((r = t.err) < 0)
		goto out;
	free(fo.sent);
	fo.sent = next;
	fo.nsent = nnew;
	next = NULL;
	memcpy(fo.self_digest, self_d, 32);
	fo.netd_reset = false;
out:
	if (r < 0) {
		/* Whatever netd got of it, the next netmap sends all. */
		fo.netd_reset = true;
		log_warnx("fan-out to netd: %s", strerror(-r));
	}
	if (t.allowed != NULL)
		for (size_t i = 0; i < n; i++)
			free(t.allowed[i]);
	free(t.allowed);
	free(t.peers);
	free(t.pp);
	free(t.rm);
	free(next);
	return r;
}

/* ---- netd: the packet filter ---- */

struct strpool {
	char		**v;
	size_t		 n, cap;
};

static char *
pool_add(struct strpool *sp, const char *s)
{
	char **nv;

	if (sp->n == sp->cap) {
		sp->cap = sp->cap ? sp->cap * 2 : 64;
		if ((nv = reallocarray(sp->v, sp->cap, sizeof(*nv))) == NULL)
			return NULL;
		sp->v = nv;
	}
	return (sp->v[sp->n] = strdup(s)) != NULL ? sp->v[sp->n++] : NULL;
}

/* "*", "ip", "prefix" -> prefixes; ranges ("a-b") are not taken (Headscale
 * sends prefixes) and leave the rule narrower, never wider. */
static size_t
norm_ips(struct strpool *sp, const char *s, char **out)
{
	char buf[64];

	if (strcmp(s, "*") == 0) {
		out[0] = pool_add(sp, "0.0.0.0/0");
		out[1] = pool_add(sp, "::/0");
		return out[0] && out[1] ? 2 : 0;
	}
	if (strchr(s, '-') != NULL || strlen(s) > 45)
		return 0;
	if (strchr(s, '/') != NULL)
		return (out[0] = pool_add(sp, s)) != NULL;
	snprintf(buf, sizeof(buf), "%s/%s", s, strchr(s, ':') ? "128" : "32");
	return (out[0] = pool_add(sp, buf)) != NULL;
}

static int
filter_rule(struct strpool *sp, json_t *jr, Pm__FilterRule *r)
{
	json_t *src = json_object_get(jr, "SrcIPs");
	json_t *dst = json_object_get(jr, "DstPorts");
	json_t *pr = json_object_get(jr, "IPProto"), *v;
	size_t i;

	pm__filter_rule__init(r);
	r->src = calloc(2 * json_array_size(src) + 1, sizeof(char *));
	r->dst = calloc(2 * json_array_size(dst) + 1, sizeof(*r->dst));
	r->proto = calloc(json_array_size(pr) + 1, sizeof(*r->proto));
	if (r->src == NULL || r->dst == NULL || r->proto == NULL)
		return -ENOMEM;
	json_array_foreach(src, i, v)
		if (json_is_string(v))
			r->n_src += norm_ips(sp, json_string_value(v),
			    r->src + r->n_src);
	json_array_foreach(dst, i, v) {
		json_t *ports = json_object_get(v, "Ports");
		const char *ip = json_string_value(json_object_get(v, "IP"));
		json_int_t first = json_integer_value(json_object_get(ports,
		    "First"));
		json_int_t last = json_integer_value(json_object_get(ports,
		    "Last"));
		char *pfx[2];
		size_t k;

		if (ip == NULL || first < 0 || last > 65535 || first > last)
			continue;
		k = norm_ips(sp, ip, pfx);
		for (size_t j = 0; j < k; j++) {
			Pm__FilterDst *d = malloc(sizeof(*d));

			if (d == NULL)
				return -ENOMEM;
			pm__filter_dst__init(d);
			d->prefix = pfx[j];
			d->first = (uint32_t)first;
			d->last = (uint32_t)last;
			r->dst[r->n_dst++] = d;
		}
	}
	json_array_foreach(pr, i, v)
		if (json_is_integer(v) && json_integer_value(v) >= 0 &&
		    json_integer_value(v) <= 255)
			r->proto[r->n_proto++] = (uint32_t)json_integer_value(v);
	return 0;
}

static void
filter_free(Pm__FilterRule *rules, size_t n, struct strpool *sp)
{
	for (size_t i = 0; i < n; i++) {
		for (size_t j = 0; j < rules[i].n_dst; j++)
			free(rules[i].dst[j]);
		free(rules[i].src);
		free(rules[i].dst);
		free(rules[i].proto);
	}
	free(rules);
	for (size_t i = 0; i < sp->n; i++)
		free(sp->v[i]);
	free(sp->v);
}

static void
fanout_filter(struct ctrld *cd, const struct netmap *nm)
{
	struct ipc_chan *ch = child_chan(&cd->c, PM__PROC__PROC_NETD);
	Pm__CtrldToNetd env = PM__CTRLD_TO_NETD__INIT;
	Pm__FilterUpdate u = PM__FILTER_UPDATE__INIT, part;
	struct strpool sp = { 0 };
	Pm__FilterRule *rules, **rp;
	size_t n = 0, total = 0, i, k = 0, size;
	const char *name;
	json_t *list, *jr;
	uint8_t d[32];
	int r = 0;

	json_object_foreach(nm->filters, name, list)
		total += json_array_size(list);
	rules = calloc(total + 1, sizeof(*rules));
	rp = calloc(total + 1, sizeof(*rp));
	if (rules == NULL || rp == NULL)
		goto fail;
	json_object_foreach(nm->filters, name, list)
		json_array_foreach(list, i, jr) {
			if ((r = filter_rule(&sp, jr, &rules[n])) < 0) {
				n++;
				goto fail;
			}
			rp[n] = &rules[n];
			n++;
		}
	u.rules = rp;
	u.n_rules = n;
	fanout_digest(&u.base, d);
	if (fo.filter_sent && memcmp(d, fo.filter_digest, 32) == 0)
		goto out;
	u.generation = ++fo.filter_gen;
	env.msg_case = PM__CTRLD_TO_NETD__MSG_FILTER_UPDATE;
	env.filter_update = &part;
	do {
		part = u;
		part.rules = rp + k;
		part.n_rules = 0;
		size = 0;
		while (k < n && (part.n_rules == 0 || size +
		    pm__filter_rule__get_packed_size(rp[k]) < PART_BUDGET)) {
			size += pm__filter_rule__get_packed_size(rp[k]) + 4;
			part.n_rules++;
			k++;
		}
		part.more = k < n;
		if (ch == NULL || (r = ipc_send(ch, &env.base, -1)) < 0)
			goto fail;
	} while (part.more);
	memcpy(fo.filter_digest, d, 32);
	fo.filter_sent = true;
	log_info("packet filter %llu to netd: %zu rules",
	    (unsigned long long)u.generation, n);
	goto out;
fail:
	fo.filter_sent = false;
	log_warnx("fan-out to netd: cannot send the packet filter");
out:
	if (rules != NULL)
		filter_free(rules, n, &sp);
	free(rp);
}

/* ---- privd ---- */

static size_t
add_route(Pm__NetRoute *rt, Pm__NetRoute **rtp, size_t n, char *prefix)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(rt[i].prefix, prefix) == 0)
			return n;
	if (n >= ROUTES_MAX)
		return n;
	pm__net_route__init(&rt[n]);
	rt[n].prefix = prefix;
	rtp[n] = &rt[n];
	return n + 1;
}

static bool
in_cgnat_host(const char *p)
{
	struct in_addr a;
	char buf[INET_ADDRSTRLEN];
	size_t l = strcspn(p, "/");

	if (l >= sizeof(buf) || strcmp(p + l, "/32") != 0)
		return false;
	memcpy(buf, p, l);
	buf[l] = '\0';
	return inet_pton(AF_INET, buf, &a) == 1 &&
	    (ntohl(a.s_addr) & 0xffc00000) == 0x64400000;
}

static bool
in_ula_host(const char *p)
{
	struct in6_addr a;
	char buf[INET6_ADDRSTRLEN];
	size_t l = strcspn(p, "/");
	static const uint8_t ula[6] = { 0xfd, 0x7a, 0x11, 0x5c, 0xa1, 0xe0 };

	if (l >= sizeof(buf) || strcmp(p + l, "/128") != 0)
		return false;
	memcpy(buf, p, l);
	buf[l] = '\0';
	return inet_pton(AF_INET6, buf, &a) == 1 &&
	    memcmp(a.s6_addr, ula, sizeof(ula)) == 0;
}

static void
fanout_privd(struct ctrld *cd, const struct netmap *nm, const struct prefs *p)
{
	struct ipc_chan *ch = child_chan(&cd->c, PM__PROC__PROC_PRIVD);
	Pm__CtrldToPrivd env = PM__CTRLD_TO_PRIVD__INIT;
	Pm__NetState ns = PM__NET_STATE__INIT;
	Pm__NetRoute *rt = calloc(ROUTES_MAX, sizeof(*rt));
	Pm__NetRoute **rtp = calloc(ROUTES_MAX, sizeof(*rtp));
	char *al[NM_MAX_ALLOWED], *adv[PREFS_MAX_ROUTES];
	size_t nrt = 0, nadv = 0, ncgnat = 0, i;
	bool ula = false;
	json_t *v;
	uint8_t d[32];
	int r;

	fo.privd_ok = false;
	if (rt == NULL || rtp == NULL) {
		log_warnx("fan-out to privd: out of memory");
		goto out;
	}
	for (i = 0; i < nm->npeers; i++) {
		const struct nm_node *pn = &nm->peers[i];
		size_t k;

		if (!peer_usable(pn))
			continue;
		k = fanout_accepted(p, pn, al, NM_MAX_ALLOWED);
		for (size_t j = 0; j < k; j++) {
			if (in_ula_host(al[j]))
				ula = true;
			else if (in_cgnat_host(al[j]))
				ncgnat++;
			else
				nrt = add_route(rt, rtp, nrt, al[j]);
		}
	}
	if (ula)
		nrt = add_route(rt, rtp, nrt, "fd7a:115c:a1e0::/48");
	if (ncgnat > CGNAT_THRESHOLD)
		nrt = add_route(rt, rtp, nrt, "100.64.0.0/10");
	else
		for (i = 0; i < nm->npeers; i++) {
			size_t k;

			if (!peer_usable(&nm->peers[i]))
				continue;
			k = fanout_accepted(p, &nm->peers[i], al, NM_MAX_ALLOWED);
			for (size_t j = 0; j < k; j++)
				if (in_cgnat_host(al[j]))
					nrt = add_route(rt, rtp, nrt, al[j]);
		}
	if (nrt >= ROUTES_MAX)
		log_warnx("fan-out to privd: more than %d routes; the rest are "
		    "left out", ROUTES_MAX);
	json_array_foreach(p->advertise_routes, i, v)
		if (json_is_string(v) && nadv < PREFS_MAX_ROUTES &&
		    !is_default(json_string_value(v)))
			adv[nadv++] = (char *)json_string_value(v);
	ns.addresses = nm->self.addrs;
	ns.n_addresses = nm->self.naddrs;
	ns.routes = rtp;
	ns.n_routes = nrt;
	ns.allow_lan = p->exit_node_allow_lan;
	ns.exit_node = p->advertise_exit_node;
	ns.advertise_routes = adv;
	ns.n_advertise_routes = nadv;
	fanout_digest(&ns.base, d);	/* id still 0: the content only */
	if (fo.privd_sent && memcmp(d, fo.privd_digest, 32) == 0) {
		fo.privd_ok = true;
		goto out;
	}
	ns.id = ++fo.privd_id;
	env.msg_case = PM__CTRLD_TO_PRIVD__MSG_NET_STATE;
	env.net_state = &ns;
	if (ch == NULL || (r = ipc_send(ch, &env.base, -1)) < 0) {
		log_warnx("fan-out to privd: cannot send net state");
		goto out;
	}
	memcpy(fo.privd_digest, d, 32);
	fo.privd_sent = true;
	fo.privd_ok = true;
	log_info("net state %llu to privd: %zu addresses, %zu routes",
	    (unsigned long long)ns.id, ns.n_addresses, nrt);
out:
	free(rt);
	free(rtp);
}

/* ---- dnsd ---- */

#define DNS_PART_BUDGET	3072
#define DNS_TEXT	53	/* an address or resolver as text (dnsd's limit) */
#define DNS_HOST_ADDRS	16

struct dnsbuf {
	Pm__DnsHost	*hosts;
	Pm__DnsHost	**hp;
	char		(*addr)[DNS_TEXT];	/* host addresses, no /len */
	char		**ap;
	size_t		 nhosts, naddr, cap, acap;
};

static const char *
addr_of(const char *prefix, char *out)
{
	size_t l = strcspn(prefix, "/");

	if (l >= DNS_TEXT)
		l = DNS_TEXT - 1;
	memcpy(out, prefix, l);
	out[l] = '\0';
	return out;
}

/* One host: name and its addresses (prefixes or plain addresses). */
static void
dns_host(struct dnsbuf *b, const char *name, char **addrs, size_t n)
{
	Pm__DnsHost *h;

	if (n > DNS_HOST_ADDRS)
		n = DNS_HOST_ADDRS;	/* dnsd takes 16 */
	if (name[0] == '\0' || n == 0 || b->nhosts >= b->cap ||
	    b->naddr + n > b->acap)
		return;
	h = &b->hosts[b->nhosts];
	pm__dns_host__init(h);
	h->name = (char *)name;
	h->addrs = &b->ap[b->naddr];
	for (size_t i = 0; i < n; i++) {
		addr_of(addrs[i], b->addr[b->naddr]);
		b->ap[b->naddr] = b->addr[b->naddr];
		b->naddr++;
	}
	h->n_addrs = n;
	b->hp[b->nhosts++] = h;
}

static size_t
resolver_list(json_t *arr, char (*txt)[DNS_TEXT], char **ptr, size_t max)
{
	size_t i, n = 0;
	json_t *v;
	const char *a;

	json_array_foreach(arr, i, v) {
		a = json_string_value(json_object_get(v, "Addr"));
		if (a == NULL || strlen(a) >= DNS_TEXT || n >= max)
			continue;
		snprintf(txt[n], DNS_TEXT, "%s", a);
		ptr[n] = txt[n];
		n++;
	}
	return n;
}

static void
dns_send(struct ctrld *cd, Pm__DnsConfig *all)
{
	struct ipc_chan *ch = child_chan(&cd->c, PM__PROC__PROC_DNSD);
	Pm__CtrldToDnsd env = PM__CTRLD_TO_DNSD__INIT;
	Pm__DnsConfig part;
	size_t i = 0, size;
	int r = 0;

	env.msg_case = PM__CTRLD_TO_DNSD__MSG_DNS_CONFIG;
	env.dns_config = &part;
	all->generation = ++fo.dns_gen;
	/* Hosts in parts under the channel's limit; the rest with the
	 * last part. */
	do {
		part = *all;
		part.hosts = all->hosts + i;
		part.n_hosts = 0;
		size = 0;
		while (i < all->n_hosts && (part.n_hosts == 0 ||
		    size < DNS_PART_BUDGET)) {
			size += pm__dns_host__get_packed_size(all->hosts[i]) + 4;
			part.n_hosts++;
			i++;
		}
		part.more = i < all->n_hosts;
		if (part.more) {
			part.n_search_domains = part.n_routes = 0;
			part.n_resolvers = part.n_fallback_resolvers = 0;
		}
		if (ch == NULL || (r = ipc_send(ch, &env.base, -1)) < 0)
			break;
	} while (part.more);
	if (ch == NULL || r < 0) {
		log_warnx("fan-out to dnsd: cannot send DNS config");
		fo.dns_sent = false;
	}
}

static void
fanout_dnsd(struct ctrld *cd, const struct netmap *nm, const struct prefs *p)
{
	Pm__DnsConfig dc = PM__DNS_CONFIG__INIT;
	struct dnsbuf b = { 0 };
	json_t *dns = nm->dns, *extra, *v, *routes, *rl;
	char res[8][DNS_TEXT], fb[8][DNS_TEXT], *resp[8], *fbp[8];
	char *search[16], **names = NULL;
	Pm__DnsRoute *rt = NULL, **rtp = NULL;
	char (*rtres)[8][DNS_TEXT] = NULL;
	char *(*rtresp)[8] = NULL;
	size_t i, nextra, nroutes = 0, nsearch = 0, k = 0;
	const char *suffix;
	uint8_t d[32];

	fo.dns_ok = false;
	extra = json_object_get(dns, "ExtraRecords");
	nextra = json_array_size(extra);
	b.cap = nm->npeers + 1 + nextra;
	b.acap = nextra + nm->self.naddrs;
	for (i = 0; i < nm->npeers; i++)
		b.acap += nm->peers[i].naddrs;
	b.hosts = calloc(b.cap, sizeof(*b.hosts));
	b.hp = calloc(b.cap, sizeof(*b.hp));
	b.addr = calloc(b.acap, sizeof(*b.addr));
	b.ap = calloc(b.acap, sizeof(*b.ap));
	names = calloc(nextra + 1, sizeof(*names));
	routes = json_object_get(dns, "Routes");
	rt = calloc(json_object_size(routes) + 1, sizeof(*rt));
	rtp = calloc(json_object_size(routes) + 1, sizeof(*rtp));
	rtres = calloc(json_object_size(routes) + 1, sizeof(*rtres));
	rtresp = calloc(json_object_size(routes) + 1, sizeof(*rtresp));
	if (b.hosts == NULL || b.hp == NULL || b.addr == NULL ||
	    b.ap == NULL || names == NULL || rt == NULL || rtp == NULL ||
	    rtres == NULL || rtresp == NULL) {
		log_warnx("fan-out to dnsd: out of memory");
		goto out;
	}
	if (nm->have_self)
		dns_host(&b, nm->self.name, nm->self.addrs, nm->self.naddrs);
	for (i = 0; i < nm->npeers; i++)
		if (peer_usable(&nm->peers[i]))
			dns_host(&b, nm->peers[i].name, nm->peers[i].addrs,
			    nm->peers[i].naddrs);
	json_array_foreach(extra, i, v) {
		const char *name = json_string_value(json_object_get(v, "Name"));
		const char *val = json_string_value(json_object_get(v, "Value"));
		const char *type = json_string_value(json_object_get(v, "Type"));

		if (name == NULL || val == NULL || (type != NULL &&
		    type[0] != '\0' && strcmp(type, "A") != 0 &&
		    strcmp(type, "AAAA") != 0))
			continue;
		names[k] = (char *)val;
		dns_host(&b, name, &names[k], 1);
		k++;
	}
	dc.hosts = b.hp;
	dc.n_hosts = b.nhosts;
	dc.proxied = json_is_true(json_object_get(dns, "Proxied"));
	if (p->accept_dns) {
		dc.resolvers = resp;
		dc.n_resolvers = resolver_list(json_object_get(dns, "Resolvers"),
		    res, resp, 8);
		dc.fallback_resolvers = fbp;
		dc.n_fallback_resolvers = resolver_list(json_object_get(dns,
		    "FallbackResolvers"), fb, fbp, 8);
		json_array_foreach(json_object_get(dns, "Domains"), i, v)
			if (json_is_string(v) && nsearch < 16)
				search[nsearch++] = (char *)json_string_value(v);
		dc.search_domains = search;
		dc.n_search_domains = nsearch;
		json_object_foreach(routes, suffix, rl) {
			pm__dns_route__init(&rt[nroutes]);
			rt[nroutes].suffix = (char *)suffix;
			rt[nroutes].resolvers = rtresp[nroutes];
			rt[nroutes].n_resolvers = resolver_list(rl, rtres[nroutes],
			    rtresp[nroutes], 8);
			rtp[nroutes] = &rt[nroutes];
			nroutes++;
		}
		dc.routes = rtp;
		dc.n_routes = nroutes;
	}
	fanout_digest(&dc.base, d);
	fo.dns_ok = true;
	if (fo.dns_sent && memcmp(d, fo.dns_digest, 32) == 0)
		goto out;
	memcpy(fo.dns_digest, d, 32);
	fo.dns_sent = true;
	dns_send(cd, &dc);
	log_info("DNS config %llu to dnsd: %zu names, %zu routes, %zu "
	    "resolvers", (unsigned long long)fo.dns_gen, dc.n_hosts, nroutes,
	    dc.n_resolvers);
out:
	free(b.hosts);
	free(b.hp);
	free(b.addr);
	free(b.ap);
	free(names);
	free(rt);
	free(rtp);
	free(rtres);
	free(rtresp);
}

void
fanout_apply(struct ctrld *cd, const struct netmap *nm, const struct prefs *p)
{
	/* Without a self node (down, logout, another server) the state is
	 * empty: peers, addresses and routes go, once something was sent. */
	uint8_t pd[32];
	bool prefs_same, peers_changed, same;

	if (!nm->have_self && !fo.ever)
		return;
	fo.ever = true;
	prefs_digest(p, pd);
	prefs_same = fo.cache_ok && memcmp(pd, fo.prefs_digest, 32) == 0;
	memcpy(fo.prefs_digest, pd, 32);
	peers_changed = cache_refresh(nm, p, prefs_same);
	/* Each part is derived again only when one of its inputs may have
	 * changed (or was not delivered); what is sent stays the same. */
	if (nm->filter_mod == 0 || nm->filter_mod != fo.filter_mod ||
	    !fo.filter_sent)
		fanout_filter(cd, nm);
	fanout_derp(cd, nm);
	fanout_netd(cd, nm, p);
	same = !peers_changed && prefs_same && nm->self_mod != 0 &&
	    nm->self_mod == fo.self_mod;
	if (!same || !fo.privd_ok)
		fanout_privd(cd, nm, p);
	if (!same || nm->dns_mod == 0 || nm->dns_mod != fo.dns_mod ||
	    !fo.dns_sent || !fo.dns_ok)
		fanout_dnsd(cd, nm, p);
	fo.filter_mod = nm->filter_mod;
	fo.self_mod = nm->self_mod;
	fo.dns_mod = nm->dns_mod;
}

void
fanout_netd_restarted(void)
{
	fo.netd_reset = true;
	fo.filter_sent = false;
	fanout_derp_restarted();
}

void
fanout_sibling_restarted(int proc)
{
	if (proc == PM__PROC__PROC_NETD) {
		fo.netd_reset = true;
		fo.filter_sent = false;
		fanout_derp_restarted();
	}
	else if (proc == PM__PROC__PROC_DNSD)
		fo.dns_sent = false;
}

void
fanout_set_endpoints(char **eps, const uint32_t *types, size_t n)
{
	fo.nep = 0;
	for (size_t i = 0; i < n && fo.nep < FANOUT_EP_MAX; i++) {
		fo.ep_type[fo.nep] = types != NULL ? types[i] : 1;
		snprintf(fo.ep[fo.nep++], FANOUT_EP_TEXT, "%s", eps[i]);
	}
}

bool
fanout_same_endpoints(char **eps, const uint32_t *types, size_t n)
{
	if (n != fo.nep)
		return false;
	for (size_t i = 0; i < n; i++)
		if (strcmp(eps[i], fo.ep[i]) != 0 ||
		    (types != NULL ? types[i] : 1) != fo.ep_type[i])
			return false;
	return true;
}

json_t *
fanout_endpoint_types_json(void)
{
	json_t *a = json_array();

	for (size_t i = 0; a != NULL && i < fo.nep; i++)
		json_array_append_new(a, json_integer(fo.ep_type[i]));
	return a;
}

json_t *
fanout_endpoints_json(void)
{
	json_t *a = json_array();

	for (size_t i = 0; a != NULL && i < fo.nep; i++)
		json_array_append_new(a, json_string(fo.ep[i]));
	return a;
}
