/*
 * The static DNS configuration file (privd --dns-config FILE): JSON shaped
 * like tailcfg.DNSConfig, plus the peer records a netmap would supply:
 *
 *   {
 *     "Resolvers":  [{"Addr": "192.0.2.1"}, {"Addr": "[2001:db8::1]:5353"}],
 *     "Routes":     {"home.arpa.": [{"Addr": "100.64.0.5"}],
 *                    "tail.example.": []},
 *     "FallbackResolvers": [{"Addr": "198.51.100.1"}],
 *     "Domains":    ["tail.example"],
 *     "Proxied":    true,
 *     "ExtraRecords": [{"Name": "db.tail.example.", "Type": "A",
 *                       "Value": "100.64.0.9"}],
 *     "Hosts":      {"alpha.tail.example.": ["100.64.0.2", "fd7a:115c:a1e0::2"]}
 *   }
 *
 * An empty Routes list means "answered here" (MagicDNS), as in tailcfg.
 * Nameservers, CertDomains and ExitNodeFilteredSet are accepted and not
 * used; any other key is an error.  Errors name the line and column (syntax)
 * or the field path (meaning), e.g. `Routes["home.arpa."][0].Addr: ...`.
 */
#ifndef PM_DNSD_DNSCONF_H
#define PM_DNSD_DNSCONF_H

#include <stddef.h>

#include "zone.h"

#define DNSCONF_MAX	(4 << 20)	/* bytes */

/* Fills z (zone_init()ed by the caller) and runs zone_finish().  0, or
 * -EINVAL with err set. */
int	dnsconf_parse(const char *text, size_t len, struct zone *z, char *err,
	    size_t errlen);

#endif
