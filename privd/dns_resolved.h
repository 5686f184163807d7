/*
 * systemd-resolved per-link DNS over D-Bus (sd-bus): tailscale's
 * "systemd-resolved" mode (net/dns/manager_linux.go dnsMode,
 * net/dns/resolved.go).
 *
 *   detect    before the sandbox, with --accept-dns: resolv.conf says it
 *             was written by systemd-resolved and names only 127.0.0.53,
 *             and org.freedesktop.resolve1 answers a Ping on the system
 *             bus.  Otherwise privd manages resolv.conf directly.
 *   attach    after the TUN exists: its ifindex; a match on
 *             NameOwnerChanged for org.freedesktop.resolve1, so a
 *             restarted resolved gets the link's settings again.
 *   set       dnsd's OsDns: SetLinkDNS (quad-100, v4 and v6),
 *             SetLinkDomains (search domains, then the match domains
 *             routing-only, or "~." when quad-100 takes every name),
 *             SetLinkDefaultRoute, LLMNR/MulticastDNS/DNSSEC/DNSOverTLS
 *             "no", FlushCaches.  resolv.conf is not touched.
 *   stop      RevertLink.  After a crash there is nothing to undo: the
 *             TUN goes with privd and resolved forgets the link.
 *
 * Bus errors are logged; privd keeps running.  A lost bus connection is
 * tried again with backoff (1 s to 30 s) and the settings are applied
 * again once it is back.
 */
#ifndef PM_PRIVD_DNS_RESOLVED_H
#define PM_PRIVD_DNS_RESOLVED_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

/* The resolv.conf text says systemd-resolved owns it and points at its
 * stub only (tailscale's resolvOwner + resolvedIsActuallyResolver). */
bool	dns_resolved_owns(const char *resolv_text);
/* Connects to the system bus and pings resolved; true: resolved mode. */
bool	dns_resolved_detect(void);
void	dns_resolved_attach(uv_loop_t *, unsigned ifindex);
void	dns_resolved_set(char **search, size_t nsearch, char **match,
	    size_t nmatch, bool default_route);
void	dns_resolved_stop(void);

#endif
