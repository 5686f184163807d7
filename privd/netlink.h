/*
 * privd's rtnetlink requests, built here from intents (never forwarded from
 * a child): link state, addresses, routes and policy rules.  Every request
 * asks for an acknowledgement; the return value is 0 or the kernel's
 * -errno.  Library-style: no logging.
 */
#ifndef PM_PRIVD_NETLINK_H
#define PM_PRIVD_NETLINK_H

#include <stdbool.h>
#include <stdint.h>

struct mnl_socket;

struct nl {
	struct mnl_socket	*sock;
	uint32_t		 portid;
	uint32_t		 seq;
};

/* An IPv4 or IPv6 prefix. */
struct prefix {
	uint8_t		family;		/* AF_INET or AF_INET6 */
	uint8_t		len;		/* prefix length */
	uint8_t		addr[16];
};

struct rule {
	uint8_t		family;
	uint32_t	priority;
	uint32_t	table;		/* 0 with `type` unreachable */
	uint32_t	fwmark, fwmask;	/* 0/0: no mark match */
	bool		invert;		/* "not fwmark" */
	int		suppress_prefixlen;	/* -1: none */
	uint8_t		type;		/* FR_ACT_TO_TBL or FR_ACT_UNREACHABLE */
	bool		has_dst;	/* "to dst" */
	struct prefix	dst;
};

int	nl_open(struct nl *);
void	nl_close(struct nl *);

int	nl_link_set(struct nl *, unsigned ifindex, bool up, unsigned mtu);
int	nl_addr(struct nl *, bool add, unsigned ifindex, const struct prefix *);
/* A unicast route to `dst` via the interface in `table`; throw routes
 * (RTN_THROW) have ifindex 0. */
int	nl_route(struct nl *, bool add, unsigned table, const struct prefix *dst,
	    unsigned ifindex, uint8_t type);
int	nl_rule(struct nl *, bool add, const struct rule *);
/* Deletes every rule of `family` at `priority`, whatever it selects.
 * Returns how many went, or -errno. */
int	nl_rule_flush(struct nl *, uint8_t family, uint32_t priority);
/* Deletes every route in `table` (both families).  Returns how many went,
 * or -errno. */
int	nl_route_flush(struct nl *, unsigned table);

/* Parses "a.b.c.d/n" or "x::y/n" (default full length); host bits must be
 * zero when `strict`.  Returns 0 or -EINVAL. */
int	prefix_parse(const char *s, bool strict, struct prefix *out);
/* Writes "addr/len" into buf (at least 50 bytes). */
const char *prefix_fmt(const struct prefix *, char *buf, unsigned len);
/* True when the host bits beyond len are all zero and len fits. */
bool	prefix_valid(const struct prefix *);

#endif
