#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "log.h"
#include "netapply.h"
#include "netreq.h"
#include "privd.h"
#include "netstate.pb-c.h"
#include "privd_to_ctrld.pb-c.h"

static int
refuse(char *err, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, len, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* Every prefix exact (host bits zero); addresses a single host. */
static int
parse_list(char **in, size_t n, size_t max, bool host, const char *what,
    struct prefix *out, char *err, size_t len)
{
	if (n > max)
		return refuse(err, len, "too many %s: %zu (at most %zu)", what,
		    n, max);
	for (size_t i = 0; i < n; i++) {
		if (prefix_parse(in[i], true, &out[i]) < 0)
			return refuse(err, len, "%s %zu: malformed prefix",
			    what, i);
		if (host && out[i].len != (out[i].family == AF_INET ? 32 : 128))
			return refuse(err, len, "%s %zu: not a /32 or /128",
			    what, i);
	}
	return 0;
}

static int
parse_routes(const Pm__NetState *ns, const struct netreq_own *own,
    struct intent *out, char *err, size_t len)
{
	if (ns->n_routes > NS_MAX_ROUTES)
		return refuse(err, len, "too many routes: %zu (at most %d)",
		    ns->n_routes, NS_MAX_ROUTES);
	for (size_t i = 0; i < ns->n_routes; i++) {
		const Pm__NetRoute *r = ns->routes[i];
		if (r->table != 0 && r->table != own->table)
			return refuse(err, len, "route %zu: foreign table %u",
			    i, r->table);
		if (prefix_parse(r->prefix, true, &out->routes[i]) < 0)
			return refuse(err, len, "route %zu: malformed prefix",
			    i);
	}
	out->nroutes = ns->n_routes;
	return 0;
}

static int
check_owner(const Pm__NetState *ns, const struct netreq_own *own, char *err,
    size_t len)
{
	if (ns->interface[0] != '\0' && strcmp(ns->interface, own->ifname) != 0)
		return refuse(err, len, "foreign interface");
	if (ns->table != 0 && ns->table != own->table)
		return refuse(err, len, "foreign table %u", ns->table);
	if (ns->rule_priority != 0 && ns->rule_priority != PM_PRIO_BASE)
		return refuse(err, len, "foreign rule priority %u",
		    ns->rule_priority);
	if (ns->nft_table[0] != '\0' && strcmp(ns->nft_table, PM_NFT_TABLE) != 0)
		return refuse(err, len, "foreign nftables table");
	if (ns->mtu != 0 && (ns->mtu < 1280 || ns->mtu > 65535))
		return refuse(err, len, "MTU %u out of range", ns->mtu);
	return 0;
}

int
netreq_parse(const Pm__NetState *ns, const struct netreq_own *own,
    struct intent *out, char *err, size_t len)
{
	memset(out, 0, sizeof(*out));
	if (check_owner(ns, own, err, len) < 0 ||
	    parse_list(ns->addresses, ns->n_addresses, NS_MAX_ADDRS, true,
	    "addresses", out->addrs, err, len) < 0 ||
	    parse_routes(ns, own, out, err, len) < 0 ||
	    parse_list(ns->exclude, ns->n_exclude, NS_MAX_EXCLUDE, false,
	    "exclude", out->exclude, err, len) < 0 ||
	    parse_list(ns->advertise_routes, ns->n_advertise_routes,
	    NS_MAX_ADVERTISE, false, "advertise_routes", out->advertise, err,
	    len) < 0)
		return -EINVAL;
	out->naddrs = ns->n_addresses;
	out->nexclude = ns->n_exclude;
	out->nadvertise = ns->n_advertise_routes;
	out->mtu = ns->mtu;
	out->allow_lan = ns->allow_lan;
	out->exit_node = ns->exit_node;
	return 0;
}

static void
reply(struct child *k, uint64_t id, const char *error)
{
	Pm__PrivdToCtrld env = PM__PRIVD_TO_CTRLD__INIT;
	Pm__NetStateReply rep = PM__NET_STATE_REPLY__INIT;
	int r;

	rep.id = id;
	rep.ok = error == NULL;
	rep.error = (char *)(error != NULL ? error : "");
	env.msg_case = PM__PRIVD_TO_CTRLD__MSG_NET_STATE_REPLY;
	env.net_state_reply = &rep;
	if ((r = ipc_send(&k->chan, &env.base, -1)) < 0)
		log_warnx("ctrld: cannot send NetStateReply: %s", strerror(-r));
}

void
privd_handle_net_state(struct child *k, const Pm__NetState *ns)
{
	static struct intent in;
	struct privd *pd = k->pd;
	struct netreq_own own = { pd->opt.tun_name, pd->opt.table };
	char err[200];

	if (pd->opt.wg_config != NULL)
		snprintf(err, sizeof(err), "plain-WireGuard mode: the "
		    "interface follows %s", pd->opt.wg_config);
	else if (netreq_parse(ns, &own, &in, err, sizeof(err)) == 0) {
		if (netapply_intent(pd, &in, err, sizeof(err)) == 0) {
			reply(k, ns->id, NULL);
			return;
		}
		log_warnx("net state %llu: %s", (unsigned long long)ns->id, err);
		reply(k, ns->id, err);
		return;
	}
	pd->netstate_refused++;
	ipc_chan_count_invalid(&k->chan);
	log_warnx("ctrld: net state %llu refused (%llu so far): %s",
	    (unsigned long long)ns->id,
	    (unsigned long long)pd->netstate_refused, err);
	reply(k, ns->id, err);
}
