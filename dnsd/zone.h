/*
 * dnsd's model of the DNS configuration, whichever way it arrived (ctrld's
 * DnsConfig from the netmap, or privd's --dns-config file): the tailnet's
 * names and addresses, search domains, split-DNS routes and default
 * resolvers, with the indexes the answering path needs.  Shaped after
 * tailcfg.DNSConfig (Routes with an empty resolver list are answered here).
 *
 *   zone_add_*()    validate and add one item; -EINVAL etc. with a reason
 *   zone_finish()   derive local zones, build the hash indexes
 *   zone_host() / zone_ptr() / zone_route()   lookups (after finish)
 */
#ifndef PM_DNSD_ZONE_H
#define PM_DNSD_ZONE_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "msg.h"

#define ZONE_HOST_ADDRS		8	/* per family, per name */
#define ZONE_ROUTE_UPS		8	/* resolvers per route */
#define ZONE_SEARCH_MAX		16
#define ZONE_HOSTS_MAX		65536
#define ZONE_ROUTES_MAX		1024
#define ZONE_TTL		600	/* seconds, positive local answers */
#define ZONE_NEG_TTL		60	/* SOA TTL and MINIMUM (RFC 2308) */

struct zone_host {
	struct dns_name	name;		/* lower case */
	uint8_t		n4, n6;
	uint8_t		a4[ZONE_HOST_ADDRS][4];
	uint8_t		a6[ZONE_HOST_ADDRS][16];
};

struct upstream {
	struct sockaddr_storage sa;
	socklen_t	salen;
};

struct zone_route {
	struct dns_name	suffix;		/* lower case; root for "." */
	unsigned	nup;		/* 0: answered here */
	struct upstream	up[ZONE_ROUTE_UPS];
};

/* Open-addressing hash slot: index + 1 into hosts[] / names[], 0 free. */
struct zone_node {
	struct dns_name	name;
	int32_t		host;		/* -1: exists only as an ancestor */
};

struct zone_ptr {
	uint8_t		family;
	uint8_t		addr[16];
	uint32_t	host;
};

struct zone {
	struct zone_host *hosts;
	size_t		 nhosts, caphosts;
	struct zone_route *routes;
	size_t		 nroutes, caproutes;
	struct dns_name	 search[ZONE_SEARCH_MAX];
	unsigned	 nsearch;
	struct upstream	 defaults[ZONE_ROUTE_UPS];
	unsigned	 ndefaults;
	struct upstream	 fallback[ZONE_ROUTE_UPS];
	unsigned	 nfallback;
	bool		 proxied;
	/* indexes (zone_finish) */
	struct zone_node *nodes;
	size_t		 nnodes, capnodes;	/* capnodes: power of two */
	uint32_t	*node_idx;
	struct zone_ptr	*ptrs;
	size_t		 nptrs;
	uint32_t	*ptr_idx;
	size_t		 capptr;
};

void	zone_init(struct zone *);
void	zone_free(struct zone *);

/* name: text, e.g. "alpha.tail.example." (trailing dot optional).
 * addr: an IPv4 or IPv6 address in text. */
int	zone_add_host(struct zone *, const char *name, const char *addr);
int	zone_add_search(struct zone *, const char *domain);
/* resolver NULL: the suffix is answered here (an empty tailcfg list).
 * Resolver text: "ip", "ip:port" or "[ipv6]:port"; DoH ("https://...")
 * gives -EPROTONOSUPPORT. */
int	zone_add_route(struct zone *, const char *suffix, const char *resolver);
int	zone_add_default(struct zone *, const char *resolver);
int	zone_add_fallback(struct zone *, const char *resolver);
int	zone_finish(struct zone *);

int	upstream_parse(const char *s, struct upstream *out);
/* The quad-100 addresses themselves are never an upstream (no loops). */
bool	upstream_is_self(const struct upstream *);

/* Lookups; names may be in any case. */
const struct zone_host *zone_host(const struct zone *, const struct dns_name *);
/* True if the name exists (a host, or an ancestor of one). */
bool	zone_name_exists(const struct zone *, const struct dns_name *);
const struct zone_host *zone_ptr(const struct zone *, int family,
	    const uint8_t *addr);
/* Longest-suffix route covering the name, or NULL. */
const struct zone_route *zone_route(const struct zone *, const struct dns_name *);

#endif
