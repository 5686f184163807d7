/*
 * Tailnet mode's UDP socket: opened once at start (so it survives netd
 * restarts and keeps its port), passed to each netd that starts together
 * with the host's usable addresses as "ip:port" direct endpoints.  privd
 * lists them (netd has no rtnetlink), before its sandbox: an address added
 * later is not reported yet (STUN and NAT traversal come with issue 6).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "privd.h"
#include "wgmode.h"
#include "privd_to_netd.pb-c.h"

#define EP_MAX		16
#define EP_TEXT		64

static char ep_txt[EP_MAX][EP_TEXT], *ep_ptr[EP_MAX];
static size_t nep;

static size_t list_endpoints(const struct privd *, char (*)[EP_TEXT],
    char **);

void
tailnet_udp_open(struct privd *pd)
{
	int fd = wgmode_open_udp(pd->opt.port, &pd->udp_port);

	/* As tailscaled: the default port taken (another instance in this
	 * namespace) means any free port, not failure. */
	if (fd == -EADDRINUSE && pd->opt.port == PM_TAILNET_PORT) {
		log_warnx("tailnet UDP port %u in use; using a free one",
		    pd->opt.port);
		fd = wgmode_open_udp(0, &pd->udp_port);
	}
	if (fd < 0) {
		errno = -fd;
		fatal("tailnet UDP port %u", pd->opt.port);
	}
	pd->udp_fd = fd;
	nep = list_endpoints(pd, ep_txt, ep_ptr);
	log_info("tailnet: listening on UDP %u, %zu direct endpoints",
	    pd->udp_port, nep);
}

/* Not the tunnel's own ranges, loopback or link-local: peers could not
 * reach us there. */
static bool
usable(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET) {
		uint32_t a = ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr);

		return (a >> 24) != 127 && (a & 0xffc00000) != 0x64400000 &&
		    (a >> 16) != 0xa9fe && a != 0;
	}
	if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a =
		    &((const struct sockaddr_in6 *)sa)->sin6_addr;
		static const uint8_t ula[6] = { 0xfd, 0x7a, 0x11, 0x5c, 0xa1, 0xe0 };

		return !IN6_IS_ADDR_LOOPBACK(a) && !IN6_IS_ADDR_LINKLOCAL(a) &&
		    !IN6_IS_ADDR_UNSPECIFIED(a) && !IN6_IS_ADDR_V4MAPPED(a) &&
		    memcmp(a->s6_addr, ula, sizeof(ula)) != 0;
	}
	return false;
}

static size_t
list_endpoints(const struct privd *pd, char (*txt)[EP_TEXT], char **ptr)
{
	struct ifaddrs *ifa, *i;
	char a[INET6_ADDRSTRLEN];
	size_t n = 0;

	if (getifaddrs(&ifa) != 0) {
		log_warn("getifaddrs: no direct endpoints for netd");
		return 0;
	}
	for (i = ifa; i != NULL && n < EP_MAX; i = i->ifa_next) {
		if (i->ifa_addr == NULL || !(i->ifa_flags & IFF_UP) ||
		    strcmp(i->ifa_name, pd->opt.tun_name) == 0 ||
		    !usable(i->ifa_addr))
			continue;
		if (i->ifa_addr->sa_family == AF_INET) {
			inet_ntop(AF_INET, &((struct sockaddr_in *)
			    i->ifa_addr)->sin_addr, a, sizeof(a));
			snprintf(txt[n], EP_TEXT, "%s:%u", a, pd->udp_port);
		} else {
			inet_ntop(AF_INET6, &((struct sockaddr_in6 *)
			    i->ifa_addr)->sin6_addr, a, sizeof(a));
			snprintf(txt[n], EP_TEXT, "[%s]:%u", a, pd->udp_port);
		}
		ptr[n] = txt[n];
		n++;
	}
	freeifaddrs(ifa);
	return n;
}

void
tailnet_udp_netd_ready(struct child *k)
{
	Pm__PrivdToNetd env = PM__PRIVD_TO_NETD__INIT;
	Pm__UdpSocket us = PM__UDP_SOCKET__INIT;
	int r;

	if (k->pd->udp_fd < 0)
		return;
	us.port = k->pd->udp_port;
	us.fwmark = PM_FWMARK;
	us.n_endpoints = nep;
	us.endpoints = ep_ptr;
	env.msg_case = PM__PRIVD_TO_NETD__MSG_UDP_SOCKET;
	env.udp_socket = &us;
	if ((r = ipc_send(&k->chan, &env.base, k->pd->udp_fd)) < 0)
		log_warnx("netd: cannot send the UDP socket: %s", strerror(-r));
}
