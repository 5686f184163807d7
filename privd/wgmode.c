#include <errno.h>
#include <fcntl.h>
#include <linux/fib_rules.h>
#include <linux/rtnetlink.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "netlink.h"
#include "privd.h"
#include "wgmode.h"
#include "netd_to_privd.pb-c.h"
#include "privd_to_netd.pb-c.h"

#define MAX_ADDRESSES	64
#define MAX_ROUTES	4096

int
wgmode_ifname(const char *path, char *out, unsigned len)
{
	const char *base = strrchr(path, '/');
	size_t n;

	base = base ? base + 1 : path;
	n = strlen(base);
	if (n > 5 && strcmp(base + n - 5, ".conf") == 0)
		n -= 5;
	if (n == 0 || n > 15 || n >= len)
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		    "0123456789_=+.-", base[i]))
			return -EINVAL;
	memcpy(out, base, n);
	out[n] = '\0';
	return 0;
}

void
wgmode_open(struct privd *pd)
{
	struct stat st;

	pd->wg_fd = open(pd->opt.wg_config, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (pd->wg_fd < 0 || fstat(pd->wg_fd, &st) != 0)
		fatal("wg-config %s", pd->opt.wg_config);
	if (!S_ISREG(st.st_mode))
		fatalx("wg-config %s: not a regular file", pd->opt.wg_config);
	if (st.st_mode & (S_IRWXG | S_IRWXO))
		log_warnx("wg-config %s is accessible by group or others; it "
		    "holds a private key (chmod 600)", pd->opt.wg_config);
}

static int
send_netd(struct child *k, Pm__PrivdToNetd *env, int fd)
{
	int r = ipc_send(&k->chan, &env->base, fd);

	if (r < 0)
		log_warnx("netd: cannot send: %s", strerror(-r));
	return r;
}

static void
send_udp_socket(struct child *k)
{
	Pm__PrivdToNetd env = PM__PRIVD_TO_NETD__INIT;
	Pm__UdpSocket us = PM__UDP_SOCKET__INIT;

	us.port = k->pd->udp_port;
	us.fwmark = PM_FWMARK;
	env.msg_case = PM__PRIVD_TO_NETD__MSG_UDP_SOCKET;
	env.udp_socket = &us;
	send_netd(k, &env, k->pd->udp_fd);
}

void
wgmode_netd_ready(struct child *k)
{
	Pm__PrivdToNetd env = PM__PRIVD_TO_NETD__INIT;
	Pm__WgConfigFile wc = PM__WG_CONFIG_FILE__INIT;

	if (k->pd->wg_fd < 0)
		return;
	wc.path = (char *)k->pd->opt.wg_config;
	env.msg_case = PM__PRIVD_TO_NETD__MSG_WG_CONFIG_FILE;
	env.wg_config_file = &wc;
	send_netd(k, &env, k->pd->wg_fd);
}

/* One dual-stack socket, marked so its packets take the main table. */
static int
open_udp(unsigned port, unsigned *bound)
{
	struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6 };
	socklen_t len = sizeof(sin6);
	int fd, off = 0, mark = PM_FWMARK, r, bufsz = 4 << 20;

	if ((fd = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0)
		return -errno;
	/* Room for bursts of GRO trains past net.core.[rw]mem_max, which
	 * netd (no CAP_NET_ADMIN) could not ask for; best effort. */
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &bufsz, sizeof(bufsz));
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &bufsz, sizeof(bufsz));
	sin6.sin6_port = htons((uint16_t)port);
	if (setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off)) != 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_MARK, &mark, sizeof(mark)) != 0 ||
	    bind(fd, (struct sockaddr *)&sin6, sizeof(sin6)) != 0 ||
	    getsockname(fd, (struct sockaddr *)&sin6, &len) != 0) {
		r = -errno;
		close(fd);
		return r;
	}
	*bound = ntohs(sin6.sin6_port);
	return fd;
}

/* Every string netd sent must be a well-formed prefix; routes exactly. */
static int
parse_all(char **in, size_t n, size_t max, bool strict, struct prefix *out)
{
	if (n > max)
		return -E2BIG;
	for (size_t i = 0; i < n; i++)
		if (prefix_parse(in[i], strict, &out[i]) < 0)
			return -EINVAL;
	return 0;
}

static struct rule
make_rule(uint8_t family, uint32_t prio)
{
	struct rule r = { .family = family, .priority = prio,
	    .type = FR_ACT_TO_TBL, .suppress_prefixlen = -1 };

	switch (prio) {
	case PM_PRIO_BYPASS:
		r.table = RT_TABLE_MAIN;
		r.fwmark = PM_FWMARK;
		r.fwmask = PM_FWMASK;
		break;
	case PM_PRIO_SUPPRESS:
		r.table = RT_TABLE_MAIN;
		r.suppress_prefixlen = 0;
		break;
	default:
		r.table = PM_TABLE;
	}
	return r;
}

static const uint32_t prios[] = { PM_PRIO_BYPASS, PM_PRIO_SUPPRESS,
    PM_PRIO_TABLE };

/* Deletes every rule at our priorities, whoever left it. */
void
wgmode_flush_rules(struct privd *pd)
{
	static const uint8_t fams[] = { AF_INET, AF_INET6 };

	for (size_t f = 0; f < 2; f++)
		for (size_t i = 0; i < 3; i++) {
			struct rule r = make_rule(fams[f], prios[i]);
			while (nl_rule(&pd->nl, false, &r) == 0)
				;
		}
}

static int
add_default_rules(struct privd *pd, uint8_t family)
{
	int r;

	for (size_t i = 0; i < 3; i++) {
		struct rule ru = make_rule(family, prios[i]);
		if ((r = nl_rule(&pd->nl, true, &ru)) < 0 && r != -EEXIST)
			return r;
	}
	return 0;
}

static int
add_route(struct privd *pd, const struct prefix *p, bool *rules4, bool *rules6)
{
	int r;

	if (p->len == 0) {
		bool *done = p->family == AF_INET ? rules4 : rules6;
		if (!*done && (r = add_default_rules(pd, p->family)) < 0)
			return r;
		*done = true;
	}
	r = nl_route(&pd->nl, true, p->len == 0 ? PM_TABLE : RT_TABLE_MAIN, p,
	    pd->tun_ifindex, RTN_UNICAST);
	return r == -EEXIST ? 0 : r;
}

static int
apply(struct privd *pd, const struct prefix *addrs, size_t naddrs,
    const struct prefix *routes, size_t nroutes, unsigned mtu)
{
	bool rules4 = false, rules6 = false;
	char buf[64];
	int r;

	if ((r = nl_link_set(&pd->nl, pd->tun_ifindex, true, mtu)) < 0) {
		log_warnx("link up: %s", strerror(-r));
		return r;
	}
	for (size_t i = 0; i < naddrs; i++) {
		r = nl_addr(&pd->nl, true, pd->tun_ifindex, &addrs[i]);
		if (r < 0 && r != -EEXIST) {
			log_warnx("address %s: %s", prefix_fmt(&addrs[i], buf,
			    sizeof(buf)), strerror(-r));
			return r;
		}
	}
	for (size_t i = 0; i < nroutes; i++)
		if ((r = add_route(pd, &routes[i], &rules4, &rules6)) < 0) {
			log_warnx("route %s: %s", prefix_fmt(&routes[i], buf,
			    sizeof(buf)), strerror(-r));
			return r;
		}
	return 0;
}

static int
apply_interface(struct privd *pd, const Pm__WgInterface *wi)
{
	static struct prefix addrs[MAX_ADDRESSES], routes[MAX_ROUTES];
	int r;

	if (parse_all(wi->addresses, wi->n_addresses, MAX_ADDRESSES, false,
	    addrs) < 0 || parse_all(wi->routes, wi->n_routes, MAX_ROUTES, true,
	    routes) < 0 || (wi->mtu != 0 && (wi->mtu < 1280 || wi->mtu > 65535)))
		return -EINVAL;
	if ((r = apply(pd, addrs, wi->n_addresses, routes, wi->n_routes,
	    wi->mtu)) < 0)
		return r;
	if ((pd->udp_fd = open_udp(wi->listen_port, &pd->udp_port)) < 0) {
		r = pd->udp_fd;
		log_warnx("UDP port %u: %s", wi->listen_port, strerror(-r));
		return r;
	}
	log_info("%s: %zu address(es), %zu route(s), listening on UDP %u",
	    pd->opt.tun_name, wi->n_addresses, wi->n_routes, pd->udp_port);
	/* Said plainly rather than dropped silently: resolv.conf management
	 * comes with dnsd's OS integration. */
	if (wi->n_dns > 0)
		log_warnx("wg-config %s: DNS= is not applied yet; the host's "
		    "resolver is unchanged", pd->opt.wg_config);
	return 0;
}

void
wgmode_apply(struct child *k, const Pm__WgInterface *wi)
{
	struct privd *pd = k->pd;

	/* A restarted netd parses the same file again; the interface is
	 * already in place and the socket is kept, so it only needs that. */
	if (!pd->wg_applied) {
		if (apply_interface(pd, wi) < 0) {
			log_warnx("wg-config %s: cannot apply the interface; "
			    "stopping", pd->opt.wg_config);
			pd->exit_code = 1;
			privd_stop(pd);
			return;
		}
		pd->wg_applied = true;
	}
	send_udp_socket(k);
}

void
wgmode_config_error(struct child *k, const char *msg)
{
	log_warnx("wg-config %s: %s", k->pd->opt.wg_config, msg);
	k->pd->exit_code = 1;
	privd_stop(k->pd);
}
