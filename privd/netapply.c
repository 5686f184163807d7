#include <errno.h>
#include <linux/rtnetlink.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "netapply.h"
#include "nft.h"
#include "privd.h"
#include "statefile.h"
#include "sysctl.h"

static struct netstate have, want;
static unsigned last_ops;

unsigned
netapply_last_ops(void)
{
	return last_ops;
}

static int
fail(char *err, size_t len, int r, const char *fmt, ...)
{
	va_list ap;
	size_t n;

	va_start(ap, fmt);
	vsnprintf(err, len, fmt, ap);
	va_end(ap);
	n = strlen(err);
	snprintf(err + n, len - n, ": %s", strerror(-r));
	return r;
}

static int
record(struct privd *pd)
{
	int r = statefile_write(pd->statefile, pd->opt.tun_name, pd->opt.table,
	    &have);

	if (r < 0)
		log_warnx("%s: %s", pd->statefile, strerror(-r));
	return r;
}

static bool
addr_in(const struct prefix *p, const struct prefix *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (prefix_eq(p, &v[i]))
			return true;
	return false;
}

static bool
route_in(const struct ns_route *r, const struct ns_route *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (r->table == v[i].table && prefix_eq(&r->dst, &v[i].dst))
			return true;
	return false;
}

static bool
rule_in(const struct rule *r, const struct rule *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (rule_eq(r, &v[i]))
			return true;
	return false;
}

/* Forwarding on: the earlier value goes into the state file first, so a
 * crash between the two steps still gets it put back. */
static int
sysctls_on(struct privd *pd, char *err, size_t len)
{
	uint32_t v;
	int r;

	for (int k = 0; k < NS_NSYSCTL; k++) {
		if (!want.sysctl[k] || have.sysctl[k])
			continue;
		/* A kernel without IPv6 has nothing to forward there. */
		if ((r = sysctl_get(k, &v)) == -ENOENT &&
		    k == NS_SYSCTL_IP6_FORWARDING)
			continue;
		if (r < 0)
			return fail(err, len, r, "cannot read %s",
			    sysctl_path(k));
		have.sysctl[k] = true;
		have.saved[k] = v;
		if ((r = record(pd)) < 0)
			return fail(err, len, r, "cannot record state");
		if ((r = sysctl_set(k, 1)) < 0) {
			have.sysctl[k] = false;
			(void)record(pd);
			return fail(err, len, r, "cannot enable forwarding "
			    "(exit node / subnet router) in %s",
			    sysctl_path(k));
		}
		last_ops++;
	}
	return 0;
}

static int
sysctls_off(struct privd *pd, char *err, size_t len)
{
	int r;

	for (int k = 0; k < NS_NSYSCTL; k++) {
		if (want.sysctl[k] || !have.sysctl[k])
			continue;
		if ((r = sysctl_set(k, have.saved[k])) < 0)
			return fail(err, len, r, "cannot restore %s",
			    sysctl_path(k));
		have.sysctl[k] = false;
		last_ops++;
	}
	(void)pd;
	return 0;
}

static int
link_apply(struct privd *pd, char *err, size_t len)
{
	int r;

	if (want.up == have.up && want.mtu == have.mtu)
		return 0;
	if ((r = nl_link_set(&pd->nl, pd->tun_ifindex, want.up, want.mtu)) < 0)
		return fail(err, len, r, "link %s", pd->opt.tun_name);
	have.up = want.up;
	have.mtu = want.mtu;
	last_ops++;
	return 0;
}

static int
addrs_add(struct privd *pd, char *err, size_t len)
{
	char b[64];
	int r;

	for (size_t i = 0; i < want.naddrs; i++) {
		if (addr_in(&want.addrs[i], have.addrs, have.naddrs))
			continue;
		r = nl_addr(&pd->nl, true, pd->tun_ifindex, &want.addrs[i]);
		if (r < 0 && r != -EEXIST)
			return fail(err, len, r, "address %s",
			    prefix_fmt(&want.addrs[i], b, sizeof(b)));
		have.addrs[have.naddrs++] = want.addrs[i];
		last_ops++;
	}
	return 0;
}

static int
addrs_del(struct privd *pd, char *err, size_t len)
{
	char b[64];
	int r;

	for (size_t i = have.naddrs; i-- > 0;) {
		if (addr_in(&have.addrs[i], want.addrs, want.naddrs))
			continue;
		r = nl_addr(&pd->nl, false, pd->tun_ifindex, &have.addrs[i]);
		if (r < 0 && r != -EADDRNOTAVAIL && r != -ENODEV)
			return fail(err, len, r, "removing address %s",
			    prefix_fmt(&have.addrs[i], b, sizeof(b)));
		have.addrs[i] = have.addrs[--have.naddrs];
		last_ops++;
	}
	return 0;
}

static int
routes_add(struct privd *pd, char *err, size_t len)
{
	char b[64];
	int r;

	for (size_t i = 0; i < want.nroutes; i++) {
		const struct ns_route *w = &want.routes[i];
		if (route_in(w, have.routes, have.nroutes))
			continue;
		r = nl_route(&pd->nl, true, w->table, &w->dst, pd->tun_ifindex,
		    RTN_UNICAST);
		if (r < 0 && r != -EEXIST)
			return fail(err, len, r, "route %s table %u",
			    prefix_fmt(&w->dst, b, sizeof(b)), w->table);
		have.routes[have.nroutes++] = *w;
		last_ops++;
	}
	return 0;
}

static int
routes_del(struct privd *pd, char *err, size_t len)
{
	char b[64];
	int r;

	for (size_t i = have.nroutes; i-- > 0;) {
		const struct ns_route *h = &have.routes[i];
		if (route_in(h, want.routes, want.nroutes))
			continue;
		r = nl_route(&pd->nl, false, h->table, &h->dst, pd->tun_ifindex,
		    RTN_UNICAST);
		if (r < 0 && r != -ESRCH && r != -ENOENT)
			return fail(err, len, r, "removing route %s",
			    prefix_fmt(&h->dst, b, sizeof(b)));
		have.routes[i] = have.routes[--have.nroutes];
		last_ops++;
	}
	return 0;
}

static int
rules_add(struct privd *pd, char *err, size_t len)
{
	int r;

	for (size_t i = 0; i < want.nrules; i++) {
		if (rule_in(&want.rules[i], have.rules, have.nrules))
			continue;
		r = nl_rule(&pd->nl, true, &want.rules[i]);
		if (r < 0 && r != -EEXIST)
			return fail(err, len, r, "rule %u",
			    want.rules[i].priority);
		have.rules[have.nrules++] = want.rules[i];
		last_ops++;
	}
	return 0;
}

static int
rules_del(struct privd *pd, char *err, size_t len)
{
	int r;

	for (size_t i = have.nrules; i-- > 0;) {
		if (rule_in(&have.rules[i], want.rules, want.nrules))
			continue;
		r = nl_rule(&pd->nl, false, &have.rules[i]);
		if (r < 0 && r != -ENOENT)
			return fail(err, len, r, "removing rule %u",
			    have.rules[i].priority);
		have.rules[i] = have.rules[--have.nrules];
		last_ops++;
	}
	return 0;
}

static int
nft_apply(struct privd *pd, char *err, size_t len)
{
	int r;

	if (want.nft.on == have.nft.on &&
	    strcmp(want.nft.ifname, have.nft.ifname) == 0)
		return 0;
	if (want.nft.on && !have.nft.on) {
		have.nft.on = true;	/* recorded before it exists */
		if ((r = record(pd)) < 0)
			return fail(err, len, r, "cannot record state");
	}
	if ((r = pmnft_apply(&want.nft)) < 0) {
		snprintf(err, len, "nftables table %s: %s", PM_NFT_TABLE,
		    r == -EIO ? pmnft_error() : strerror(-r));
		return r;
	}
	have.nft = want.nft;
	last_ops++;
	return 0;
}

/* One pass: everything new first, then what is no longer wanted. */
static int
converge(struct privd *pd, char *err, size_t len)
{
	int r;

	last_ops = 0;
	if ((r = sysctls_on(pd, err, len)) < 0 ||
	    (want.up && (r = link_apply(pd, err, len)) < 0) ||
	    (r = addrs_add(pd, err, len)) < 0 ||
	    (r = routes_add(pd, err, len)) < 0 ||
	    (r = rules_add(pd, err, len)) < 0 ||
	    (want.nft.on && (r = nft_apply(pd, err, len)) < 0) ||
	    (r = rules_del(pd, err, len)) < 0 ||
	    (r = routes_del(pd, err, len)) < 0 ||
	    (r = addrs_del(pd, err, len)) < 0 ||
	    (!want.nft.on && (r = nft_apply(pd, err, len)) < 0) ||
	    (r = sysctls_off(pd, err, len)) < 0 ||
	    (!want.up && (r = link_apply(pd, err, len)) < 0)) {
		(void)record(pd);
		return r;
	}
	return last_ops > 0 ? record(pd) : 0;
}

static void
fill_opts(struct privd *pd, struct ns_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->ifname = pd->opt.tun_name;
	o->table = pd->opt.table;
	o->mtu = pd->opt.tun_mtu;
	o->allow_lan = pd->opt.allow_lan;
	o->exit_node = pd->opt.exit_node;
	o->exclude = pd->opt.exclude;
	o->nexclude = pd->opt.nexclude;
	o->advertise = pd->opt.advertise;
	o->nadvertise = pd->opt.nadvertise;
}

int
netapply_intent(struct privd *pd, const struct intent *in, char *err,
    size_t errlen)
{
	struct ns_opts o;
	int r;

	fill_opts(pd, &o);
	netstate_build(&o, in, &want);
	if ((r = converge(pd, err, errlen)) < 0)
		return r;
	log_info("%s: %zu address(es), %zu route(s) in table %u, %zu rule(s)%s"
	    "%s: %u change(s)", pd->opt.tun_name, have.naddrs, have.nroutes,
	    pd->opt.table, have.nrules, have.nft.on ? ", nft table " : "",
	    have.nft.on ? PM_NFT_TABLE : "", last_ops);
	return 0;
}

int
netapply_clear(struct privd *pd)
{
	char err[256];
	int r;

	memset(&want, 0, sizeof(want));
	want.mtu = have.mtu;
	if ((r = converge(pd, err, sizeof(err))) < 0) {
		log_warnx("cleanup: %s", err);
		return r;
	}
	if (unlink(pd->statefile) != 0 && errno != ENOENT)
		log_warn("%s", pd->statefile);
	return 0;
}

static void
restore_saved(const struct saved_state *ss)
{
	int r;

	for (int k = 0; k < NS_NSYSCTL; k++) {
		if (!ss->sysctl[k])
			continue;
		log_info("putting back %s = %u, left by an earlier run",
		    sysctl_path(k), ss->original[k]);
		if ((r = sysctl_set(k, ss->original[k])) < 0)
			log_warnx("%s: %s", sysctl_path(k), strerror(-r));
	}
}

void
netapply_recover(struct privd *pd)
{
	static const uint8_t fams[] = { AF_INET, AF_INET6 };
	struct saved_state ss;
	struct ns_nft off = { .on = false };
	int r, n = 0;

	if ((r = statefile_read(pd->statefile, &ss)) == 0)
		restore_saved(&ss);
	else if (r != -ENOENT)
		log_warnx("%s: unreadable (%s); flushing anyway", pd->statefile,
		    strerror(-r));
	/* Whoever left them, these priorities and this table are ours. */
	for (size_t f = 0; f < 2; f++)
		for (size_t i = 0; i < ns_npriorities; i++)
			if ((r = nl_rule_flush(&pd->nl, fams[f],
			    ns_priorities[i])) > 0)
				n += r;
	if ((r = nl_route_flush(&pd->nl, pd->opt.table)) > 0)
		n += r;
	/* An earlier run configured with another --table. */
	if (ss.table != 0 && ss.table != pd->opt.table &&
	    (r = nl_route_flush(&pd->nl, ss.table)) > 0)
		n += r;
	if ((r = pmnft_apply(&off)) < 0 && (r != -EIO || ss.nft))
		log_warnx("removing nftables table %s: %s", PM_NFT_TABLE,
		    r == -EIO ? pmnft_error() : strerror(-r));
	if (n > 0)
		log_info("removed %d rule(s)/route(s) an earlier run left", n);
	if (unlink(pd->statefile) != 0 && errno != ENOENT)
		log_warn("%s", pd->statefile);
	memset(&have, 0, sizeof(have));
}
