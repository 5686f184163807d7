/*
 * systemd-resolved per-link DNS over D-Bus; see dns_resolved.h.
 *
 * sd-bus (libsystemd) rather than libdbus-1: typed message building with
 * signatures, synchronous calls with a per-bus timeout, and no threads or
 * main-loop integration of its own, so one descriptor goes into privd's
 * libuv loop for the signals.  Calls are synchronous with a 2 s timeout:
 * privd makes them at start, at a DNS change from dnsd and at stop.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>
#include <systemd/sd-bus.h>

#include "check.h"
#include "dns_resolved.h"
#include "log.h"

#define RESOLVE1		"org.freedesktop.resolve1"
#define RESOLVE1_PATH		"/org/freedesktop/resolve1"
#define RESOLVE1_MANAGER	"org.freedesktop.resolve1.Manager"
#define STUB_ADDR		"127.0.0.53"
#define SYSTEM_BUS		"unix:path=/run/dbus/system_bus_socket"
#define CALL_TIMEOUT_US		(2 * 1000 * 1000)
#define RETRY_MIN_MS		1000
#define RETRY_MAX_MS		30000
#define SEARCH_MAX		16	/* ipc/check_dns.c */
#define MATCH_MAX		256
#define NAME_TEXT		256	/* 253, a dot, the NUL */

static sd_bus *bus;
static uv_loop_t *loop;
static uv_poll_t *poller;
static uv_timer_t retry;
static unsigned retry_ms = RETRY_MIN_MS;
static int ifindex;
static bool reapply;		/* resolved came (back) on the bus */
static bool touched;		/* the link has settings of ours */

/* The last settings from dnsd, applied again after resolved restarts. */
static struct {
	bool	 have;
	char	 search[SEARCH_MAX][NAME_TEXT];
	size_t	 nsearch;
	char	 match[MATCH_MAX][NAME_TEXT];
	size_t	 nmatch;
	bool	 default_route;
} cur;

static void	apply(void);
static void	set_modes(void);
static int	connect_bus(void);

bool
dns_resolved_owns(const char *text)
{
	bool owner = false, stub_only = true, any = false;
	bool header = true;

	for (const char *l = text; *l != '\0'; l += strcspn(l, "\n"),
	    l += *l == '\n') {
		size_t len = strcspn(l, "\n");
		char addr[64];

		if (len == strspn(l, " \t\r"))
			continue;
		if (l[strspn(l, " \t")] == '#') {
			/* The owner names itself in the leading comments. */
			if (header && memmem(l, len, "systemd-resolved", 16))
				owner = true;
			continue;
		}
		header = false;
		if (sscanf(l, " nameserver %63s", addr) == 1) {
			any = true;
			stub_only = stub_only && strcmp(addr, STUB_ADDR) == 0;
		}
	}
	return owner && any && stub_only;
}

static void
free_handle(uv_handle_t *h)
{
	free(h);
}

static void
close_bus(void)
{
	if (poller != NULL) {
		uv_poll_stop(poller);
		uv_close((uv_handle_t *)poller, free_handle);
		poller = NULL;
	}
	bus = sd_bus_flush_close_unref(bus);
}

/* Sends and frees m. */
static int
call(sd_bus_message *m, sd_bus_error *err)
{
	int r = sd_bus_call(bus, m, CALL_TIMEOUT_US, err, NULL);

	sd_bus_message_unref(m);
	return r;
}

static int
new_call(const char *member, sd_bus_message **m)
{
	return sd_bus_message_new_method_call(bus, m, RESOLVE1, RESOLVE1_PATH,
	    RESOLVE1_MANAGER, member);
}

bool
dns_resolved_detect(void)
{
	sd_bus_error err = SD_BUS_ERROR_NULL;
	int r;

	if ((r = connect_bus()) < 0) {
		log_info("accept-dns: resolv.conf belongs to systemd-resolved "
		    "but the system bus is not reachable (%s); managing "
		    "resolv.conf directly", strerror(-r));
		return false;
	}
	r = sd_bus_call_method(bus, RESOLVE1, RESOLVE1_PATH,
	    "org.freedesktop.DBus.Peer", "Ping", &err, NULL, "");
	if (r < 0) {
		log_info("accept-dns: resolv.conf belongs to systemd-resolved "
		    "but %s does not answer on the system bus (%s); managing "
		    "resolv.conf directly", RESOLVE1, err.message != NULL ?
		    err.message : strerror(-r));
		sd_bus_error_free(&err);
		close_bus();
		return false;
	}
	return true;
}

static int
on_owner_changed(sd_bus_message *m, void *arg, sd_bus_error *ret)
{
	const char *name, *old, *new;

	(void)arg;
	(void)ret;
	if (sd_bus_message_read(m, "sss", &name, &old, &new) < 0 ||
	    strcmp(name, RESOLVE1) != 0)
		return 0;
	if (*new == '\0') {
		log_warnx("resolved: systemd-resolved left the bus; the TUN's "
		    "DNS settings come back when it does");
		return 0;
	}
	log_info("resolved: systemd-resolved (re)started; setting the TUN's "
	    "DNS again");
	reapply = true;
	return 0;
}

static void lost_bus(const char *why);

/* Runs what came in (signals queued during our own calls too). */
static void
drain(void)
{
	int r = 0;

	while (bus != NULL && (r = sd_bus_process(bus, NULL)) > 0)
		;
	if (bus != NULL && (r < 0 || sd_bus_is_open(bus) <= 0)) {
		lost_bus(r < 0 ? strerror(-r) : "disconnected");
		return;
	}
	if (reapply) {
		reapply = false;
		apply();
	}
}

static void
on_bus(uv_poll_t *h, int status, int events)
{
	(void)h;
	(void)events;
	if (status < 0) {
		lost_bus(uv_strerror(status));
		return;
	}
	drain();
}

static int
watch_bus(void)
{
	int r;

	r = sd_bus_add_match(bus, NULL, "type='signal',sender='org.freedesktop."
	    "DBus',path='/org/freedesktop/DBus',interface='org.freedesktop."
	    "DBus',member='NameOwnerChanged',arg0='" RESOLVE1 "'",
	    on_owner_changed, NULL);
	if (r < 0)
		return r;
	if ((poller = calloc(1, sizeof(*poller))) == NULL)
		return -ENOMEM;
	if ((r = uv_poll_init(loop, poller, sd_bus_get_fd(bus))) < 0) {
		free(poller);
		poller = NULL;
		return r == UV_ENOMEM ? -ENOMEM : -EIO;
	}
	uv_poll_start(poller, UV_READABLE, on_bus);
	return 0;
}

static int
connect_bus(void)
{
	int r;

	/* The system bus at its fixed path, not sd_bus_open_system(): that
	 * honours DBUS_SYSTEM_BUS_ADDRESS, whose "unixexec:" would have privd
	 * run a program. */
	if ((r = sd_bus_new(&bus)) < 0)
		return r;
	if ((r = sd_bus_set_address(bus, SYSTEM_BUS)) < 0 ||
	    (r = sd_bus_set_bus_client(bus, 1)) < 0 ||
	    (r = sd_bus_start(bus)) < 0) {
		bus = sd_bus_unref(bus);
		return r;
	}
	(void)sd_bus_set_method_call_timeout(bus, CALL_TIMEOUT_US);
	if (loop != NULL && (r = watch_bus()) < 0) {
		close_bus();
		return r;
	}
	return 0;
}

static void
on_retry(uv_timer_t *t)
{
	int r;

	(void)t;
	if ((r = connect_bus()) < 0) {
		retry_ms = retry_ms * 2 > RETRY_MAX_MS ? RETRY_MAX_MS :
		    retry_ms * 2;
		log_warnx("resolved: system bus: %s; trying again in %u s",
		    strerror(-r), retry_ms / 1000);
		uv_timer_start(&retry, on_retry, retry_ms, 0);
		return;
	}
	log_info("resolved: connected to the system bus again");
	retry_ms = RETRY_MIN_MS;
	apply();
}

static void
lost_bus(const char *why)
{
	log_warnx("resolved: lost the system bus (%s); trying again in %u s",
	    why, retry_ms / 1000);
	close_bus();
	if (loop != NULL && !uv_is_active((uv_handle_t *)&retry))
		uv_timer_start(&retry, on_retry, retry_ms, 0);
}

void
dns_resolved_attach(uv_loop_t *l, unsigned idx)
{
	int r;

	loop = l;
	ifindex = (int)idx;
	uv_timer_init(loop, &retry);
	if (bus == NULL)
		return;
	if ((r = watch_bus()) < 0)
		log_warnx("resolved: cannot watch the bus for resolved "
		    "restarts: %s", strerror(-r));
	/* Before dnsd's first settings: no LLMNR/mDNS probes on the TUN. */
	set_modes();
	touched = true;
}

static int
append_server(sd_bus_message *m, int family, const char *text)
{
	unsigned char a[16];
	int r;

	if (inet_pton(family, text, a) != 1)
		return -EINVAL;
	if ((r = sd_bus_message_open_container(m, 'r', "iay")) < 0 ||
	    (r = sd_bus_message_append(m, "i", family)) < 0 ||
	    (r = sd_bus_message_append_array(m, 'y', a, family == AF_INET ?
	    4 : 16)) < 0)
		return r;
	return sd_bus_message_close_container(m);
}

/* quad-100 on both families, as tailscale's serviceIPs; none when
 * nothing is routed to it (only search domains). */
static int
set_dns(bool servers, sd_bus_error *err)
{
	sd_bus_message *m;
	int r;

	if ((r = new_call("SetLinkDNS", &m)) < 0)
		return r;
	if ((r = sd_bus_message_append(m, "i", ifindex)) < 0 ||
	    (r = sd_bus_message_open_container(m, 'a', "(iay)")) < 0 ||
	    (servers && ((r = append_server(m, AF_INET,
	    "100.100.100.100")) < 0 || (r = append_server(m, AF_INET6,
	    "fd7a:115c:a1e0::53")) < 0)) ||
	    (r = sd_bus_message_close_container(m)) < 0) {
		sd_bus_message_unref(m);
		return r;
	}
	return call(m, err);
}

static bool
in_search(const char *d)
{
	for (size_t i = 0; i < cur.nsearch; i++)
		if (strcasecmp(cur.search[i], d) == 0)
			return true;
	return false;
}

static int
append_domain(sd_bus_message *m, const char *d, bool routing_only)
{
	char fqdn[NAME_TEXT + 1];
	size_t n = strlen(d);

	/* resolved takes either form; tailscale sends the trailing dot. */
	snprintf(fqdn, sizeof(fqdn), "%s%s", d, n > 0 && d[n - 1] == '.' ?
	    "" : ".");
	return sd_bus_message_append(m, "(sb)", fqdn, routing_only);
}

/* Search domains (search and route), then the match domains routing-only
 * or, when quad-100 takes every name, the routing-only root "~.". */
static int
set_domains(bool servers, sd_bus_error *err)
{
	sd_bus_message *m;
	int r;

	if ((r = new_call("SetLinkDomains", &m)) < 0)
		return r;
	if ((r = sd_bus_message_append(m, "i", ifindex)) < 0 ||
	    (r = sd_bus_message_open_container(m, 'a', "(sb)")) < 0)
		goto fail;
	for (size_t i = 0; i < cur.nsearch; i++)
		if ((r = append_domain(m, cur.search[i], false)) < 0)
			goto fail;
	for (size_t i = 0; !cur.default_route && i < cur.nmatch; i++)
		if (!in_search(cur.match[i]) &&
		    (r = append_domain(m, cur.match[i], true)) < 0)
			goto fail;
	if (servers && cur.default_route &&
	    (r = sd_bus_message_append(m, "(sb)", ".", 1)) < 0)
		goto fail;
	if ((r = sd_bus_message_close_container(m)) < 0)
		goto fail;
	return call(m, err);
fail:
	sd_bus_message_unref(m);
	return r;
}

static int
set_link(const char *member, const char *types, sd_bus_error *err, ...)
{
	sd_bus_message *m;
	va_list ap;
	int r;

	if ((r = new_call(member, &m)) < 0)
		return r;
	va_start(ap, err);
	r = sd_bus_message_appendv(m, types, ap);
	va_end(ap);
	if (r < 0) {
		sd_bus_message_unref(m);
		return r;
	}
	return call(m, err);
}

static const char *
why(sd_bus_error *err, int r)
{
	return err->message != NULL ? err->message : strerror(-r);
}

/* What tailscale sets best-effort: no multicast name protocols on the
 * TUN, and no DNSSEC or DoT towards quad-100. */
static void
set_modes(void)
{
	static const char *const members[] = { "SetLinkLLMNR",
	    "SetLinkMulticastDNS", "SetLinkDNSSEC", "SetLinkDNSOverTLS" };
	sd_bus_error err = SD_BUS_ERROR_NULL;
	int r;

	for (size_t i = 0; i < sizeof(members) / sizeof(members[0]); i++) {
		if ((r = set_link(members[i], "is", &err, ifindex, "no")) < 0)
			log_info("resolved: %s: %s, ignoring", members[i],
			    why(&err, r));
		sd_bus_error_free(&err);
		/* Not answering: the rest would each wait as long. */
		if (r == -ETIMEDOUT)
			return;
	}
	r = sd_bus_call_method(bus, RESOLVE1, RESOLVE1_PATH, RESOLVE1_MANAGER,
	    "FlushCaches", &err, NULL, "");
	if (r < 0)
		log_info("resolved: FlushCaches: %s, ignoring", why(&err, r));
	sd_bus_error_free(&err);
}

static void
apply(void)
{
	sd_bus_error err = SD_BUS_ERROR_NULL;
	bool servers = cur.default_route || cur.nmatch > 0;
	const char *step;
	int r;

	if (!cur.have || ifindex <= 0 || bus == NULL)
		return;
	touched = true;
	step = "SetLinkDNS";
	if ((r = set_dns(servers, &err)) < 0)
		goto fail;
	step = "SetLinkDomains";
	if ((r = set_domains(servers, &err)) < 0)
		goto fail;
	step = "SetLinkDefaultRoute";
	if ((r = set_link(step, "ib", &err, ifindex,
	    (int)(cur.default_route || cur.nmatch == 0))) < 0)
		goto fail;
	set_modes();
	log_info("resolved: link %d: DNS %s, %zu search and %zu match "
	    "domain(s)%s", ifindex, servers ? "100.100.100.100 "
	    "fd7a:115c:a1e0::53" : "none", cur.nsearch, cur.nmatch,
	    cur.default_route ? ", default route (~.)" : "");
	drain();
	return;
fail:
	log_warnx("resolved: %s on link %d: %s; MagicDNS names do not resolve "
	    "through systemd-resolved until it accepts them", step, ifindex,
	    why(&err, r));
	sd_bus_error_free(&err);
	drain();
}

static void
copy_names(char (*dst)[NAME_TEXT], size_t *n, size_t max, char **src,
    size_t nsrc)
{
	*n = 0;
	for (size_t i = 0; i < nsrc && *n < max; i++)
		if (dns_hostname_ok(src[i]))
			snprintf(dst[(*n)++], NAME_TEXT, "%s", src[i]);
}

void
dns_resolved_set(char **search, size_t nsearch, char **match,
    size_t nmatch, bool default_route)
{
	copy_names(cur.search, &cur.nsearch, SEARCH_MAX, search, nsearch);
	copy_names(cur.match, &cur.nmatch, MATCH_MAX, match, nmatch);
	cur.default_route = default_route;
	cur.have = true;
	apply();
}

void
dns_resolved_stop(void)
{
	sd_bus_error err = SD_BUS_ERROR_NULL;
	int r;

	if (bus != NULL && ifindex > 0 && touched) {
		r = set_link("RevertLink", "i", &err, ifindex);
		if (r < 0)
			log_warnx("resolved: RevertLink on link %d: %s",
			    ifindex, why(&err, r));
		else
			log_info("resolved: link %d reverted", ifindex);
		sd_bus_error_free(&err);
	}
	close_bus();
}
