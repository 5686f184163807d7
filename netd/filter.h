/*
 * Tailnet mode's inbound packet filter (tailcfg.FilterRule, as tailscale's
 * wgengine/filter runs it), applied to every packet a peer sends before it
 * reaches the TUN.  Off (everything passes) until ctrld sends the first
 * rule set, and in plain-WireGuard mode.  What passes:
 *
 *   - non-first IPv4 fragments and IPv6 fragment headers (their first
 *     fragment was judged);
 *   - TCP without SYN, or SYN+ACK: only a SYN opens a connection, so
 *     allowing the rest lets this node's own connections work;
 *   - ICMP echo replies and errors;
 *   - UDP matching a flow this node sent (a table of recent flows);
 *   - anything a rule allows: protocol in IPProto (default TCP, UDP, ICMP,
 *     ICMPv6), source in SrcIPs, destination in DstPorts' prefix and port
 *     range (ports ignored for ICMP and protocols without ports).
 */
#ifndef PM_NETD_FILTER_H
#define PM_NETD_FILTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "prefix.h"

struct Pm__FilterUpdate;

struct fdst {
	struct nprefix	 p;
	uint16_t	 first, last;
};

struct frule {
	struct nprefix	*src;
	size_t		 nsrc;
	struct fdst	*dst;
	size_t		 ndst;
	uint8_t		*proto;
	size_t		 nproto;
};

#define FILTER_FLOWS	1024

struct fflow {
	uint8_t		 key[36];	/* remote, local addresses; ports */
	bool		 used;
};

struct filter {
	bool		 on;
	struct frule	*rules;
	size_t		 nrules;
	/* the transaction being received */
	bool		 open;
	uint64_t	 gen;
	struct frule	*pend;
	size_t		 npend, cappend;
	uint64_t	 bad_strings;
	uint64_t	 dropped;	/* packets the filter refused */
	struct fflow	 flows[FILTER_FLOWS];
};

/* 0 when applied or staged; < 0 (and nothing changed) on failure. */
int	filter_update(struct filter *, const struct Pm__FilterUpdate *);
/* Inbound: true if the packet may go to the TUN. */
bool	filter_in(struct filter *, const uint8_t *pkt, size_t len);
/* Outbound (TUN to a peer): remembers UDP flows for their replies. */
void	filter_out(struct filter *, const uint8_t *pkt, size_t len);
void	filter_free(struct filter *);

#endif
