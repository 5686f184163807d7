#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <linux/rtnetlink.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dns_os.h"
#include "dns_resolved.h"
#include "log.h"
#include "netlink.h"
#include "netstate.h"
#include "privd.h"
#include "check.h"
#include "dnsd_to_privd.pb-c.h"
#include "privd_to_dnsd.pb-c.h"

#define RESOLV_MAX	65536
#define DNS_NAME_TEXT	254	/* 253 and the NUL */
#define DNS_HOST_SEARCH_MAX 8
#define DNS_TAIL_SEARCH_MAX 16	/* ipc/check_dns.c OS_SEARCH_MAX */
/* Marker, comments, two nameservers, 24 names of up to 253 bytes. */
#define RESOLV_OURS_MAX	8192

static char backup_path[PATH_MAX];
static char host_res[DNS_HOST_RESOLVERS_MAX][INET6_ADDRSTRLEN];
static unsigned nhost_res;
static bool took_over;
static bool resolved_mode;	/* systemd-resolved per-link, not the file */
/* resolv.conf's search line: the tailnet's domains (from dnsd), then the
 * host's own, as tailscale's direct mode appends the base config's. */
static char host_search[DNS_HOST_SEARCH_MAX][DNS_NAME_TEXT];
static unsigned nhost_search;
static char tail_search[DNS_TAIL_SEARCH_MAX][DNS_NAME_TEXT];
static unsigned ntail_search;

static bool
dns_on(const struct privd *pd)
{
	/* A tailnet node always answers MagicDNS at quad-100, as tailscaled
	 * does; plain WireGuard only when asked to. */
	return pd->opt.wg_config == NULL || pd->opt.dns_config != NULL ||
	    pd->opt.accept_dns;
}

static void
set_backup_path(const char *resolv)
{
	char tmp[PATH_MAX];

	snprintf(tmp, sizeof(tmp), "%s", resolv);
	snprintf(backup_path, sizeof(backup_path),
	    "%s/resolv.pre-privmesh-backup.conf", dirname(tmp));
}

static ssize_t
read_file(const char *path, char *buf, size_t cap)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n, off = 0;

	if (fd < 0)
		return -errno;
	while ((size_t)off < cap - 1 && (n = read(fd, buf + off,
	    cap - 1 - (size_t)off)) > 0)
		off += n;
	close(fd);
	buf[off] = '\0';
	return off;
}

/* Ours if it starts with the marker line we write. */
static bool
is_ours(const char *path)
{
	char buf[128];

	return read_file(path, buf, sizeof(buf)) > 0 &&
	    strncmp(buf, DNS_RESOLV_MARK "\n", strlen(DNS_RESOLV_MARK) + 1) == 0;
}

static bool
exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

/* Puts the host's file back: the backup if there is one, else nothing
 * was there before us.  Only ever replaces a file we wrote. */
static int
restore(const char *resolv)
{
	if (exists(backup_path)) {
		if (exists(resolv) && !is_ours(resolv)) {
			log_warnx("%s was changed by someone else since privmesh "
			    "took it over; keeping it and removing %s",
			    resolv, backup_path);
			return unlink(backup_path) == 0 ? 0 : -errno;
		}
		if (rename(backup_path, resolv) != 0)
			return -errno;
		return 0;
	}
	if (exists(resolv) && is_ours(resolv) && unlink(resolv) != 0)
		return -errno;
	return 0;
}

/* Strips one trailing dot, as tailscale writes names; 0 if already listed
 * or the list is full. */
static int
add_name(char (*v)[DNS_NAME_TEXT], unsigned *n, unsigned max, const char *d)
{
	size_t len = strlen(d);

	if (len > 0 && d[len - 1] == '.')
		len--;
	for (unsigned i = 0; i < *n; i++)
		if (strlen(v[i]) == len && strncasecmp(v[i], d, len) == 0)
			return 0;
	if (*n == max)
		return 0;
	snprintf(v[(*n)++], DNS_NAME_TEXT, "%.*s", (int)len, d);
	return 1;
}

/* The last search line counts (resolv.conf(5)); names we could not write
 * back safely are left out. */
static void
read_host_search(char *rest)
{
	char *save = NULL;

	nhost_search = 0;
	for (char *d = strtok_r(rest, " \t\r", &save); d != NULL;
	    d = strtok_r(NULL, " \t\r", &save)) {
		if (!dns_hostname_ok(d)) {
			log_info("host search domain \"%.64s\": not a host "
			    "name, not carried over", d);
			continue;
		}
		add_name(host_search, &nhost_search, DNS_HOST_SEARCH_MAX, d);
	}
}

static void
read_host_resolvers(const char *resolv)
{
	static char buf[RESOLV_MAX];
	char *save = NULL;

	if (read_file(resolv, buf, sizeof(buf)) < 0)
		return;
	for (char *line = strtok_r(buf, "\n", &save); line != NULL &&
	    nhost_res < DNS_HOST_RESOLVERS_MAX; line = strtok_r(NULL, "\n",
	    &save)) {
		char addr[INET6_ADDRSTRLEN];
		unsigned char bin[16];
		if (strncmp(line, "search", 6) == 0 && (line[6] == ' ' ||
		    line[6] == '\t')) {
			read_host_search(line + 6);
			continue;
		}
		if (sscanf(line, " nameserver %45s", addr) != 1)
			continue;
		/* An IPv6 zone ("%eth0") cannot be passed on; skip those. */
		if (inet_pton(AF_INET, addr, bin) != 1 &&
		    inet_pton(AF_INET6, addr, bin) != 1)
			continue;
		memcpy(host_res[nhost_res++], addr, INET6_ADDRSTRLEN);
	}
}

static bool
in_tail(const char *d)
{
	for (unsigned i = 0; i < ntail_search; i++)
		if (strcasecmp(tail_search[i], d) == 0)
			return true;
	return false;
}

static bool
tail_same(char (*old)[DNS_NAME_TEXT], unsigned nold)
{
	if (nold != ntail_search)
		return false;
	for (unsigned i = 0; i < nold; i++)
		if (strcmp(old[i], tail_search[i]) != 0)
			return false;
	return true;
}

static size_t
render(char *out, size_t cap)
{
	size_t o;

	o = (size_t)snprintf(out, cap, "%s\n"
	    "# privd --accept-dns: the original is "
	    "resolv.pre-privmesh-backup.conf and comes back when privd stops.\n"
	    "\n"
	    "nameserver 100.100.100.100\n"
	    "nameserver fd7a:115c:a1e0::53\n", DNS_RESOLV_MARK);
	if (ntail_search + nhost_search == 0)
		return o;
	o += (size_t)snprintf(out + o, cap - o, "search");
	for (unsigned i = 0; i < ntail_search; i++)
		o += (size_t)snprintf(out + o, cap - o, " %s", tail_search[i]);
	for (unsigned i = 0; i < nhost_search; i++)
		if (!in_tail(host_search[i]))
			o += (size_t)snprintf(out + o, cap - o, " %s",
			    host_search[i]);
	o += (size_t)snprintf(out + o, cap - o, "\n");
	return o;
}

static int
write_ours(const char *resolv)
{
	char tmp[PATH_MAX];
	static char text[RESOLV_OURS_MAX];
	size_t len = render(text, sizeof(text));
	int fd, r = 0;

	snprintf(tmp, sizeof(tmp), "%s.privmesh-tmp", resolv);
	unlink(tmp);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644)) < 0)
		return -errno;
	if (write(fd, text, len) != (ssize_t)len || fsync(fd) != 0)
		r = -errno;
	close(fd);
	if (r == 0 && rename(tmp, resolv) != 0)
		r = -errno;
	if (r < 0)
		unlink(tmp);
	return r;
}

static void
take_over(const char *resolv)
{
	int r;

	if (exists(resolv) && rename(resolv, backup_path) != 0)
		fatal("accept-dns: cannot move %s to %s", resolv, backup_path);
	if ((r = write_ours(resolv)) < 0) {
		errno = -r;
		log_warn("accept-dns: cannot write %s", resolv);
		if (exists(backup_path))
			(void)rename(backup_path, resolv);
		fatalx("accept-dns: %s left as it was", resolv);
	}
	took_over = true;
	log_info("accept-dns: %s now points at 100.100.100.100 (original "
	    "kept as %s)", resolv, backup_path);
}

/* tailscale's dnsMode: systemd-resolved when it wrote resolv.conf, is the
 * only nameserver there and answers on the bus; the file otherwise. */
static bool
use_resolved(const char *resolv)
{
	static char buf[RESOLV_MAX];

	if (read_file(resolv, buf, sizeof(buf)) < 0 || !dns_resolved_owns(buf))
		return false;
	if (!dns_resolved_detect())
		return false;
	resolved_mode = true;
	log_info("accept-dns: systemd-resolved owns %s; setting the TUN's DNS "
	    "over D-Bus, the file stays as it is", resolv);
	return true;
}

void
dns_os_start(struct privd *pd)
{
	const char *resolv = pd->opt.resolv_conf;
	struct stat st;
	int r;

	pd->dns_fd = -1;
	set_backup_path(resolv);
	/* A previous run that crashed left its file: put the host's back
	 * first, whatever this run is asked to do. */
	if (exists(backup_path) || is_ours(resolv)) {
		if ((r = restore(resolv)) < 0) {
			errno = -r;
			fatal("cannot restore %s from %s", resolv, backup_path);
		}
		log_info("restored %s left by an earlier run", resolv);
	}
	read_host_resolvers(resolv);
	if (pd->opt.dns_config != NULL) {
		pd->dns_fd = open(pd->opt.dns_config, O_RDONLY | O_CLOEXEC);
		if (pd->dns_fd < 0 || fstat(pd->dns_fd, &st) != 0)
			fatal("dns-config %s", pd->opt.dns_config);
		if (!S_ISREG(st.st_mode))
			fatalx("dns-config %s: not a regular file",
			    pd->opt.dns_config);
	}
	if (pd->opt.accept_dns && !use_resolved(resolv))
		take_over(resolv);
}

void
dns_os_routes(struct privd *pd)
{
	static const char *const dsts[] = { "100.100.100.100/32",
	    "fd7a:115c:a1e0::53/128" };
	struct prefix p;
	int r;

	if (resolved_mode)
		dns_resolved_attach(pd->loop, pd->tun_ifindex);
	if (!dns_on(pd))
		return;
	if ((r = nl_link_set(&pd->nl, pd->tun_ifindex, true,
	    pd->opt.tun_mtu)) < 0)
		log_warnx("dns: link up: %s", strerror(-r));
	for (size_t i = 0; i < 2; i++) {
		if (prefix_parse(dsts[i], true, &p) < 0)
			continue;
		r = nl_route(&pd->nl, true, RT_TABLE_MAIN, &p, pd->tun_ifindex,
		    RTN_UNICAST);
		if (r < 0 && r != -EEXIST)
			log_warnx("dns: route %s: %s, ignoring", dsts[i],
			    strerror(-r));
	}
}

void
dns_os_dnsd_ready(struct child *k)
{
	struct privd *pd = k->pd;
	Pm__PrivdToDnsd env = PM__PRIVD_TO_DNSD__INIT;
	Pm__HostResolvers hr = PM__HOST_RESOLVERS__INIT;
	char *addrs[DNS_HOST_RESOLVERS_MAX];
	int r;

	for (unsigned i = 0; i < nhost_res; i++)
		addrs[i] = host_res[i];
	hr.n_addrs = nhost_res;
	hr.addrs = addrs;
	env.msg_case = PM__PRIVD_TO_DNSD__MSG_HOST_RESOLVERS;
	env.host_resolvers = &hr;
	if ((r = ipc_send(&k->chan, &env.base, -1)) < 0)
		log_warnx("dnsd: cannot send host resolvers: %s", strerror(-r));
	if (pd->dns_fd >= 0) {
		Pm__DnsConfigFile f = PM__DNS_CONFIG_FILE__INIT;
		f.path = (char *)pd->opt.dns_config;
		env.msg_case = PM__PRIVD_TO_DNSD__MSG_DNS_CONFIG_FILE;
		env.dns_config_file = &f;
		if ((r = ipc_send(&k->chan, &env.base, pd->dns_fd)) < 0)
			log_warnx("dnsd: cannot send the DNS config: %s",
			    strerror(-r));
	}
}

void
dns_os_stop(struct privd *pd)
{
	int r;

	if (resolved_mode)
		dns_resolved_stop();
	if (!took_over)
		return;
	if ((r = restore(pd->opt.resolv_conf)) < 0)
		log_warnx("cannot restore %s from %s: %s", pd->opt.resolv_conf,
		    backup_path, strerror(-r));
	else
		log_info("restored %s", pd->opt.resolv_conf);
}

static void
dns_os_search(struct privd *pd, char **domains, size_t n)
{
	char old[DNS_TAIL_SEARCH_MAX][DNS_NAME_TEXT];
	unsigned nold = ntail_search;
	int r;

	if (!took_over)
		return;
	memcpy(old, tail_search, sizeof(old));
	ntail_search = 0;
	for (size_t i = 0; i < n; i++)
		if (dns_hostname_ok(domains[i]))
			add_name(tail_search, &ntail_search,
			    DNS_TAIL_SEARCH_MAX, domains[i]);
	if (tail_same(old, nold))
		return;
	if ((r = write_ours(pd->opt.resolv_conf)) < 0) {
		log_warnx("accept-dns: cannot rewrite %s: %s",
		    pd->opt.resolv_conf, strerror(-r));
		return;
	}
	log_info("accept-dns: %s: %u tailnet search domain(s)",
	    pd->opt.resolv_conf, ntail_search);
}

/* dnsd's model changed.  The names passed ipc/check_dns.c check_os_dns
 * (host names only, at most 16 search and 256 match domains): they are
 * checked again here, where they are written.  With systemd-resolved they
 * go to the TUN's link; otherwise resolv.conf is rewritten (atomically),
 * only when the search line changes. */
void
dns_os_config(struct privd *pd, const Pm__OsDns *o)
{
	if (resolved_mode)
		dns_resolved_set(o->search_domains, o->n_search_domains,
		    o->match_domains, o->n_match_domains, o->default_route);
	else
		dns_os_search(pd, o->search_domains, o->n_search_domains);
}

/* One socket dnsd asked for: marked so that its packets take the main
 * table (rule 5210) and never an exit node's default route in table 52.
 * dnsd binds (port 0) or connects it itself. */
static int
marked_socket(int family, bool tcp)
{
	int fd, mark = PM_FWMARK;

	fd = socket(family, (tcp ? SOCK_STREAM : SOCK_DGRAM) | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (setsockopt(fd, SOL_SOCKET, SO_MARK, &mark, sizeof(mark)) != 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	return fd;
}

/* At most DNS_UPSTREAM_SOCKS_PER_S sockets a second, whatever dnsd asks:
 * a dnsd gone wrong cannot make privd open sockets without end.  dnsd
 * forgets requests that were not answered and asks again later. */
void
dns_os_upstream_sockets(struct child *k, const Pm__UpstreamSocketsRequest *rq)
{
	static struct ratelimit rl = RATELIMIT_INIT(1000,
	    DNS_UPSTREAM_SOCKS_PER_S);
	static struct ratelimit logrl = RATELIMIT_INIT(10000, 1);
	Pm__PrivdToDnsd env = PM__PRIVD_TO_DNSD__INIT;
	Pm__UpstreamSocket us = PM__UPSTREAM_SOCKET__INIT;
	unsigned missed;
	int fd, r;

	us.family = rq->family;
	us.tcp = rq->tcp;
	env.msg_case = PM__PRIVD_TO_DNSD__MSG_UPSTREAM_SOCKET;
	env.upstream_socket = &us;
	for (uint32_t i = 0; i < rq->count; i++) {
		if (!ratelimit_ok(&rl, now_ms(), &missed)) {
			if (ratelimit_ok(&logrl, now_ms(), &missed))
				log_warnx("dnsd asks for upstream sockets faster "
				    "than %u/s; not all are given",
				    DNS_UPSTREAM_SOCKS_PER_S);
			return;
		}
		if ((fd = marked_socket((int)rq->family, rq->tcp)) < 0) {
			log_warnx("dnsd: upstream socket: %s", strerror(-fd));
			return;
		}
		r = ipc_send(&k->chan, &env.base, fd);
		close(fd);
		if (r < 0) {
			log_warnx("dnsd: cannot send an upstream socket: %s",
			    strerror(-r));
			return;
		}
	}
}
