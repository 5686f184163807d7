/*
 * The host network state privd owns, as a value: what it wants installed
 * (built from an intent) and what it has installed (recorded as each
 * netlink/nft/sysctl operation succeeds).  netapply.c turns the difference
 * into operations; both sources of intent (netd's WgInterface in
 * plain-WireGuard mode, ctrld's NetState) go through here.
 *
 * Layout, like tailscaled's on Linux (docs/ARCHITECTURE.md draws it):
 *
 *   5210  fwmark 0x80000/0xff0000  lookup main     privmesh's own sockets
 *   5230  fwmark 0x80000/0xff0000  lookup default
 *   5250  fwmark 0x80000/0xff0000  unreachable     never into the tunnel
 *   5260  to <excluded prefix>     lookup main     exclude= (one each)
 *   5264  lookup TABLE suppress_prefixlength 0     allow-lan: tailnet routes
 *   5266  lookup main  suppress_prefixlength 0     first, then LAN routes,
 *   5270  lookup TABLE                             then the tunnel default
 *
 * Every route into the tunnel (peers, subnet routes, an exit node's /0) is
 * in TABLE (52 by default), dev TUN.  Rules exist per family only while
 * TABLE has routes of that family.
 */
#ifndef PM_PRIVD_NETSTATE_H
#define PM_PRIVD_NETSTATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "netlink.h"

#define PM_TABLE		52
#define PM_FWMARK		0x80000		/* bypass: privmesh's own sockets */
#define PM_FWMARK_FWD		0x40000		/* forwarded in from the tunnel */
#define PM_FWMASK		0xff0000
#define PM_PRIO_BASE		5200
#define PM_PRIO_BYPASS		5210
#define PM_PRIO_BYPASS_DEFAULT	5230
#define PM_PRIO_BYPASS_UNREACH	5250
#define PM_PRIO_EXCLUDE		5260
#define PM_PRIO_LAN_TAILNET	5264
#define PM_PRIO_LAN_MAIN	5266
#define PM_PRIO_TABLE		5270
#define PM_NFT_TABLE		"privmesh"	/* family inet */

#define NS_MAX_ADDRS		64
#define NS_MAX_ROUTES		4096
#define NS_MAX_EXCLUDE		256
#define NS_MAX_ADVERTISE	256
#define NS_MAX_RULES		(2 * (6 + NS_MAX_EXCLUDE))

/* Every rule priority privd owns (what it flushes after a crash). */
extern const uint32_t ns_priorities[];
extern const size_t ns_npriorities;

enum ns_sysctl { NS_SYSCTL_IP_FORWARD, NS_SYSCTL_IP6_FORWARDING,
	NS_NSYSCTL };

/* What a source asks for, already parsed and checked. */
struct intent {
	unsigned	 mtu;			/* 0: the configured default */
	size_t		 naddrs, nroutes, nexclude, nadvertise;
	struct prefix	 addrs[NS_MAX_ADDRS];
	struct prefix	 routes[NS_MAX_ROUTES];
	struct prefix	 exclude[NS_MAX_EXCLUDE];
	struct prefix	 advertise[NS_MAX_ADVERTISE];
	bool		 allow_lan;
	bool		 exit_node;		/* serve as an exit node */
};

/* Options of privd itself that shape every intent. */
struct ns_opts {
	const char	*ifname;
	unsigned	 table;
	unsigned	 mtu;
	bool		 allow_lan, exit_node;
	size_t		 nexclude, nadvertise;
	const struct prefix *exclude, *advertise;
};

struct ns_route {
	struct prefix	 dst;
	uint32_t	 table;
};

/* nftables: one table, its contents a function of these. */
struct ns_nft {
	bool		 on;
	char		 ifname[16];
};

struct netstate {
	bool		 up;
	unsigned	 mtu;
	size_t		 naddrs, nroutes, nrules;
	struct prefix	 addrs[NS_MAX_ADDRS];
	struct ns_route	 routes[NS_MAX_ROUTES];
	struct rule	 rules[NS_MAX_RULES];
	struct ns_nft	 nft;
	bool		 sysctl[NS_NSYSCTL];	/* set to 1 by privd */
	uint32_t	 saved[NS_NSYSCTL];	/* the value before (installed) */
};

/* Fills `out` with the state that realises `in` under `o`. */
void	netstate_build(const struct ns_opts *o, const struct intent *in,
	    struct netstate *out);

bool	prefix_eq(const struct prefix *, const struct prefix *);
bool	rule_eq(const struct rule *, const struct rule *);

#endif
