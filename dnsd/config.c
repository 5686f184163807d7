/*
 * Where dnsd's model comes from: privd's --dns-config file (JSON,
 * dnsconf.c), privd's snapshot of the host's resolvers, and ctrld's
 * DnsConfig transactions.  A bad configuration is reported and the one in
 * service stays.
 */
#include <errno.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "check.h"
#include "dnsconf.h"
#include "dnsd.h"
#include "log.h"
#include "ctrld_to_dnsd.pb-c.h"
#include "dnsd_to_privd.pb-c.h"

/* What privd needs for the OS resolver (--accept-dns): the search
 * domains, host names only (privd writes them into resolv.conf and its
 * check refuses anything else), within the channel's size; for
 * systemd-resolved also the match domains and whether quad-100 takes
 * every name. */
#define OS_DNS_BYTES	3072	/* search domains, as resolv.conf had them */
#define OS_MATCH_MAX	256	/* ipc/check_dns.c */
#define OS_MATCH_BYTES	49152	/* well within the channel's 64 KiB */
#define NAME_TEXT	1024

struct os_match {
	char	 text[OS_MATCH_MAX][NAME_TEXT];
	char	*names[OS_MATCH_MAX];
	size_t	 n, bytes;
	bool	 full;
};

static void
add_match(struct os_match *m, const char *name)
{
	if (!dns_hostname_ok(name))
		return;		/* the root route: that is default_route */
	for (size_t i = 0; i < m->n; i++)
		if (strcasecmp(m->names[i], name) == 0)
			return;
	if (m->n == OS_MATCH_MAX ||
	    m->bytes + strlen(name) + 3 > OS_MATCH_BYTES) {
		if (!m->full)
			log_warnx("match domains: only the first %zu are given "
			    "to the OS resolver", m->n);
		m->full = true;
		return;
	}
	snprintf(m->text[m->n], NAME_TEXT, "%s", name);
	m->names[m->n] = m->text[m->n];
	m->bytes += strlen(name) + 3;
	m->n++;
}

/* tailscale's OSConfig.MatchDomains: every Routes suffix (answered here
 * or forwarded), and with MagicDNS the reverse zones of 100.64.0.0/10 and
 * fd7a:115c:a1e0::/48 (ipnlocal's magicDNSRootDomains). */
static void
collect_match(const struct zone *z, struct os_match *m)
{
	char text[NAME_TEXT];

	m->n = m->bytes = 0;
	m->full = false;
	for (size_t i = 0; i < z->nroutes; i++)
		add_match(m, dns_name_to_text(&z->routes[i].suffix, text,
		    sizeof(text)));
	if (!z->proxied)
		return;
	for (int i = 64; i <= 127; i++) {
		snprintf(text, sizeof(text), "%d.100.in-addr.arpa.", i);
		add_match(m, text);
	}
	add_match(m, "0.e.1.a.c.5.1.1.a.7.d.f.ip6.arpa.");
}

static void
send_os_dns(struct dnsd *dd)
{
	static char text[ZONE_SEARCH_MAX][NAME_TEXT];
	static struct os_match match;
	char *names[ZONE_SEARCH_MAX];
	Pm__DnsdToPrivd env = PM__DNSD_TO_PRIVD__INIT;
	Pm__OsDns o = PM__OS_DNS__INIT;
	struct ipc_chan *ch;
	size_t bytes = 0;

	for (unsigned i = 0; i < dd->zone.nsearch; i++) {
		dns_name_to_text(&dd->zone.search[i], text[o.n_search_domains],
		    sizeof(text[0]));
		if (!dns_hostname_ok(text[o.n_search_domains])) {
			log_warnx("search domain %.80s: not a host name, not "
			    "given to the OS", text[o.n_search_domains]);
			continue;
		}
		/* 16 names of 253 bytes would not fit a 4 KiB datagram. */
		if ((bytes += strlen(text[o.n_search_domains]) + 3) >
		    OS_DNS_BYTES) {
			log_warnx("search domains: only the first %zu fit",
			    o.n_search_domains);
			break;
		}
		names[o.n_search_domains] = text[o.n_search_domains];
		o.n_search_domains++;
	}
	o.search_domains = names;
	collect_match(&dd->zone, &match);
	o.match_domains = match.names;
	o.n_match_domains = match.n;
	o.default_route = dd->zone.ndefaults > 0;
	env.msg_case = PM__DNSD_TO_PRIVD__MSG_OS_DNS;
	env.os_dns = &o;
	if ((ch = child_chan(&dd->c, PM__PROC__PROC_PRIVD)) == NULL ||
	    ipc_send(ch, &env.base, -1) < 0)
		log_warnx("cannot give privd the OS resolver settings");
}

static void
install(struct dnsd *dd, struct zone *z)
{
	zone_free(&dd->zone);
	dd->zone = *z;
	zone_init(z);
	fwd_config_changed(&dd->fwd);
	send_os_dns(dd);
}

static int
read_all(int fd, char **out, size_t *len)
{
	char *buf = malloc(DNSCONF_MAX + 1);
	size_t off = 0;
	ssize_t n;

	if (buf == NULL)
		return -ENOMEM;
	/* pread: privd keeps the file and passes it again after a restart. */
	while (off <= DNSCONF_MAX && (n = pread(fd, buf + off,
	    DNSCONF_MAX + 1 - off, (off_t)off)) > 0)
		off += (size_t)n;
	if (off > DNSCONF_MAX) {
		free(buf);
		return -EFBIG;
	}
	*out = buf;
	*len = off;
	return 0;
}

void
dnsd_config_file(struct dnsd *dd, int fd, const char *path)
{
	struct zone z;
	char *text, err[512];
	size_t len;
	int r;

	if ((r = read_all(fd, &text, &len)) < 0) {
		log_warnx("dns-config %s: cannot read: %s", path, strerror(-r));
		return;
	}
	zone_init(&z);
	r = dnsconf_parse(text, len, &z, err, sizeof(err));
	free(text);
	if (r < 0) {
		log_warnx("dns-config %s: %s; not serving it", path, err);
		zone_free(&z);
		return;
	}
	log_info("dns-config %s: %zu name(s), %zu route(s), %u resolver(s), "
	    "%u search domain(s)", path, z.nhosts, z.nroutes, z.ndefaults,
	    z.nsearch);
	install(dd, &z);
}

void
dnsd_host_resolvers(struct dnsd *dd, char **addrs, size_t n)
{
	dd->nhost_up = 0;
	for (size_t i = 0; i < n && dd->nhost_up < ZONE_ROUTE_UPS; i++) {
		struct upstream u;
		if (upstream_parse(addrs[i], &u) < 0 || upstream_is_self(&u)) {
			log_info("host resolver %s: not usable, ignoring",
			    addrs[i]);
			continue;
		}
		dd->host_up[dd->nhost_up++] = u;
	}
	log_info("%u host resolver(s) as the default upstream", dd->nhost_up);
	fwd_config_changed(&dd->fwd);
}

static int
add_part(struct zone *z, const Pm__DnsConfig *c)
{
	int r;

	for (size_t i = 0; i < c->n_hosts; i++)
		for (size_t j = 0; j < c->hosts[i]->n_addrs; j++)
			if ((r = zone_add_host(z, c->hosts[i]->name,
			    c->hosts[i]->addrs[j])) < 0)
				return r;
	for (size_t i = 0; i < c->n_search_domains; i++)
		if ((r = zone_add_search(z, c->search_domains[i])) < 0)
			return r;
	for (size_t i = 0; i < c->n_routes; i++) {
		const Pm__DnsRoute *rt = c->routes[i];
		if ((r = zone_add_route(z, rt->suffix, NULL)) < 0)
			return r;
		/* DoH resolvers from a netmap are skipped, not fatal. */
		for (size_t j = 0; j < rt->n_resolvers; j++)
			if ((r = zone_add_route(z, rt->suffix,
			    rt->resolvers[j])) < 0 && r != -EPROTONOSUPPORT)
				return r;
	}
	for (size_t i = 0; i < c->n_resolvers; i++)
		if ((r = zone_add_default(z, c->resolvers[i])) < 0 &&
		    r != -EPROTONOSUPPORT)
			return r;
	for (size_t i = 0; i < c->n_fallback_resolvers; i++)
		if ((r = zone_add_fallback(z, c->fallback_resolvers[i])) < 0 &&
		    r != -EPROTONOSUPPORT)
			return r;
	if (c->proxied)
		z->proxied = true;
	return 0;
}

void
dnsd_config_part(struct dnsd *dd, const Pm__DnsConfig *c)
{
	int r;

	if (!dd->staging || c->generation != dd->staged_gen) {
		zone_free(&dd->staged);
		dd->staging = true;
		dd->staged_gen = c->generation;
	}
	if ((r = add_part(&dd->staged, c)) < 0) {
		log_warnx("ctrld: DNS config generation %llu: %s; keeping the "
		    "current one", (unsigned long long)c->generation,
		    strerror(-r));
		zone_free(&dd->staged);
		dd->staging = false;
		return;
	}
	if (c->more)
		return;
	dd->staging = false;
	if ((r = zone_finish(&dd->staged)) < 0) {
		log_warnx("ctrld: DNS config generation %llu: %s",
		    (unsigned long long)c->generation, strerror(-r));
		zone_free(&dd->staged);
		return;
	}
	install(dd, &dd->staged);
}
