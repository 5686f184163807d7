/* From an intent to the full desired state: pure, no I/O. */
#include <linux/fib_rules.h>
#include <linux/rtnetlink.h>
#include <string.h>
#include <sys/socket.h>

#include "netstate.h"

const uint32_t ns_priorities[] = { PM_PRIO_BYPASS, PM_PRIO_BYPASS_DEFAULT,
    PM_PRIO_BYPASS_UNREACH, PM_PRIO_EXCLUDE, PM_PRIO_LAN_TAILNET,
    PM_PRIO_LAN_MAIN, PM_PRIO_TABLE };
const size_t ns_npriorities = sizeof(ns_priorities) / sizeof(ns_priorities[0]);

bool
prefix_eq(const struct prefix *a, const struct prefix *b)
{
	return a->family == b->family && a->len == b->len &&
	    memcmp(a->addr, b->addr, a->family == AF_INET ? 4 : 16) == 0;
}

bool
rule_eq(const struct rule *a, const struct rule *b)
{
	return a->family == b->family && a->priority == b->priority &&
	    a->table == b->table && a->fwmark == b->fwmark &&
	    a->fwmask == b->fwmask && a->invert == b->invert &&
	    a->suppress_prefixlen == b->suppress_prefixlen &&
	    a->type == b->type && a->has_dst == b->has_dst &&
	    (!a->has_dst || prefix_eq(&a->dst, &b->dst));
}

static void
add_rule(struct netstate *s, struct rule r)
{
	if (s->nrules < NS_MAX_RULES)
		s->rules[s->nrules++] = r;
}

static struct rule
base_rule(uint8_t family, uint32_t prio, uint32_t table)
{
	return (struct rule){ .family = family, .priority = prio,
	    .table = table, .type = FR_ACT_TO_TBL, .suppress_prefixlen = -1 };
}

static void
add_bypass_rules(struct netstate *s, uint8_t family)
{
	struct rule r = base_rule(family, PM_PRIO_BYPASS, RT_TABLE_MAIN);

	r.fwmark = PM_FWMARK;
	r.fwmask = PM_FWMASK;
	add_rule(s, r);
	r.priority = PM_PRIO_BYPASS_DEFAULT;
	r.table = RT_TABLE_DEFAULT;
	add_rule(s, r);
	r.priority = PM_PRIO_BYPASS_UNREACH;
	r.table = 0;
	r.type = FR_ACT_UNREACHABLE;
	add_rule(s, r);
}

static void
add_family_rules(struct netstate *s, const struct ns_opts *o,
    const struct intent *in, uint8_t family)
{
	struct rule r;

	add_bypass_rules(s, family);
	for (size_t i = 0; i < in->nexclude; i++)
		if (in->exclude[i].family == family) {
			r = base_rule(family, PM_PRIO_EXCLUDE, RT_TABLE_MAIN);
			r.has_dst = true;
			r.dst = in->exclude[i];
			add_rule(s, r);
		}
	if (in->allow_lan) {
		r = base_rule(family, PM_PRIO_LAN_TAILNET, o->table);
		r.suppress_prefixlen = 0;
		add_rule(s, r);
		r = base_rule(family, PM_PRIO_LAN_MAIN, RT_TABLE_MAIN);
		r.suppress_prefixlen = 0;
		add_rule(s, r);
	}
	add_rule(s, base_rule(family, PM_PRIO_TABLE, o->table));
}

static bool
has_route(const struct netstate *s, const struct prefix *p)
{
	for (size_t i = 0; i < s->nroutes; i++)
		if (prefix_eq(&s->routes[i].dst, p))
			return true;
	return false;
}

static bool
has_family(const struct netstate *s, uint8_t family)
{
	for (size_t i = 0; i < s->nroutes; i++)
		if (s->routes[i].dst.family == family)
			return true;
	return false;
}

/* The config's options add to what the source asked for. */
static void
merge_opts(const struct ns_opts *o, const struct intent *in,
    struct intent *m)
{
	memcpy(m, in, sizeof(*m));
	m->allow_lan = in->allow_lan || o->allow_lan;
	m->exit_node = in->exit_node || o->exit_node;
	for (size_t i = 0; i < o->nexclude && m->nexclude < NS_MAX_EXCLUDE;
	    i++)
		m->exclude[m->nexclude++] = o->exclude[i];
	for (size_t i = 0; i < o->nadvertise &&
	    m->nadvertise < NS_MAX_ADVERTISE; i++)
		m->advertise[m->nadvertise++] = o->advertise[i];
}

void
netstate_build(const struct ns_opts *o, const struct intent *src,
    struct netstate *s)
{
	static struct intent in;
	bool serve;

	merge_opts(o, src, &in);
	memset(s, 0, sizeof(*s));
	s->up = true;
	s->mtu = in.mtu != 0 ? in.mtu : o->mtu;
	memcpy(s->addrs, in.addrs, in.naddrs * sizeof(in.addrs[0]));
	s->naddrs = in.naddrs;
	for (size_t i = 0; i < in.nroutes; i++)
		if (!has_route(s, &in.routes[i]))
			s->routes[s->nroutes++] = (struct ns_route){
			    .dst = in.routes[i], .table = o->table };
	if (has_family(s, AF_INET))
		add_family_rules(s, o, &in, AF_INET);
	if (has_family(s, AF_INET6))
		add_family_rules(s, o, &in, AF_INET6);
	serve = in.exit_node || in.nadvertise > 0;
	s->nft.on = serve;
	if (serve)
		strncpy(s->nft.ifname, o->ifname, sizeof(s->nft.ifname) - 1);
	s->sysctl[NS_SYSCTL_IP_FORWARD] = serve;
	s->sysctl[NS_SYSCTL_IP6_FORWARDING] = serve;
}
