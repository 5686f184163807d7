#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "netapply.h"
#include "netlink.h"
#include "privd.h"
#include "wgmode.h"
#include "netd_to_privd.pb-c.h"
#include "privd_to_netd.pb-c.h"

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

	if (k->pd->wg_fd < 0) {
		tailnet_udp_netd_ready(k);
		return;
	}
	wc.path = (char *)k->pd->opt.wg_config;
	env.msg_case = PM__PRIVD_TO_NETD__MSG_WG_CONFIG_FILE;
	env.wg_config_file = &wc;
	send_netd(k, &env, k->pd->wg_fd);
}

/* One dual-stack socket, marked so its packets take the main table. */
int
wgmode_open_udp(unsigned port, unsigned *bound)
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

static int
to_intent(const Pm__WgInterface *wi, struct intent *in)
{
	memset(in, 0, sizeof(*in));
	if (parse_all(wi->addresses, wi->n_addresses, NS_MAX_ADDRS, false,
	    in->addrs) < 0 || parse_all(wi->routes, wi->n_routes, NS_MAX_ROUTES,
	    true, in->routes) < 0 || (wi->mtu != 0 && (wi->mtu < 1280 ||
	    wi->mtu > 65535)))
		return -EINVAL;
	in->naddrs = wi->n_addresses;
	in->nroutes = wi->n_routes;
	in->mtu = wi->mtu;
	return 0;
}

/*
 * The first WgInterface sets the interface up and opens the UDP socket; a
 * restarted netd parses the same file again and sends the same interface,
 * which then changes nothing (the TUN, routes and rules stayed in place
 * all along: fail closed), and gets the socket privd kept.
 */
static int
apply_interface(struct privd *pd, const Pm__WgInterface *wi,
    const struct intent *in)
{
	char err[256];
	int r;

	if ((r = netapply_intent(pd, in, err, sizeof(err))) < 0) {
		log_warnx("%s", err);
		return r;
	}
	if (pd->udp_fd >= 0)
		return 0;
	if ((pd->udp_fd = wgmode_open_udp(wi->listen_port, &pd->udp_port)) < 0) {
		r = pd->udp_fd;
		log_warnx("UDP port %u: %s", wi->listen_port, strerror(-r));
		return r;
	}
	log_info("%s: listening on UDP %u", pd->opt.tun_name, pd->udp_port);
	/* Said plainly rather than dropped silently: resolv.conf management
	 * comes with dnsd's OS integration. */
	if (wi->n_dns > 0)
		log_warnx("wg-config %s: DNS= is not applied yet; the host's "
		    "resolver is unchanged", pd->opt.wg_config);
	return 0;
}

/* netd's parser masks and bounds everything it sends: anything else here
 * comes from a netd that is not doing its job.  Refused and counted; the
 * installed state stays as it is (fail closed), and netd gets no socket. */
static bool
refused(struct child *k, const Pm__WgInterface *wi, struct intent *in)
{
	const char *why = NULL;

	if (k->pd->opt.wg_config == NULL)
		why = "not in plain-WireGuard mode";
	else if (to_intent(wi, in) < 0)
		why = "malformed address, route or MTU";
	if (why == NULL)
		return false;
	k->pd->netstate_refused++;
	ipc_chan_count_invalid(&k->chan);
	log_warnx("netd: WgInterface refused (%llu refused so far): %s",
	    (unsigned long long)k->pd->netstate_refused, why);
	return true;
}

void
wgmode_apply(struct child *k, const Pm__WgInterface *wi)
{
	static struct intent in;
	struct privd *pd = k->pd;

	if (refused(k, wi, &in))
		return;
	if (apply_interface(pd, wi, &in) < 0) {
		log_warnx("wg-config %s: cannot apply the interface; stopping",
		    pd->opt.wg_config);
		pd->exit_code = 1;
		privd_stop(pd);
		return;
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
