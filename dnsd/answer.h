/*
 * Answers dnsd gives itself (MagicDNS): A/AAAA for tailnet names, by FQDN
 * or by short name through the search domains, PTR for tailnet addresses,
 * and negative answers for names inside the zones it is authoritative for
 * (NXDOMAIN when the name does not exist, NODATA when it exists without
 * that type), each with the zone's SOA in the authority section
 * (RFC 2308).  Anything else is the forwarder's.
 */
#ifndef PM_DNSD_ANSWER_H
#define PM_DNSD_ANSWER_H

#include "msg.h"
#include "zone.h"

enum answer_kind {
	ANSWER_DONE,		/* out holds the reply */
	ANSWER_FORWARD,		/* not ours: route is the forwarding route
				 * (NULL: the default resolvers) */
};

/* Reply size limit for a query over UDP (RFC 6891 6.2.5) or TCP. */
size_t	answer_limit(const struct dns_query *q, bool tcp);

enum answer_kind answer_local(const struct zone *, const struct dns_query *,
	    uint8_t *out, size_t cap, size_t *outlen,
	    const struct zone_route **route);

/* An error reply (FORMERR, SERVFAIL, REFUSED, NOTIMP) echoing the
 * question when there is one. */
size_t	answer_error(const struct dns_query *q, bool has_question,
	    unsigned rcode, uint8_t *out, size_t cap);

#endif
