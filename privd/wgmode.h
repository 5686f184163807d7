/*
 * Plain-WireGuard mode (privd --wg-config FILE): privd opens the wg-quick
 * file and passes it to netd, which parses it and keeps the keys; netd
 * sends back only the interface half (addresses, MTU, port, routes), which
 * privd validates and turns into an intent for the same desired-state code
 * ctrld's requests use (netstate.h): addresses on the TUN, MTU, link up,
 * every AllowedIPs route in privmesh's table behind its rules.  privd also
 * opens the UDP socket, bound to ListenPort and marked 0x80000 so that its
 * packets take the main table (rule 5210), and passes it to netd.
 */
#ifndef PM_PRIVD_WGMODE_H
#define PM_PRIVD_WGMODE_H

#include <stdbool.h>

struct privd;
struct child;
typedef struct Pm__WgInterface Pm__WgInterface;

/* Derives the interface name from the file name as wg-quick does. */
int	wgmode_ifname(const char *path, char *out, unsigned len);
/* Opens the config file (fatal on error). */
void	wgmode_open(struct privd *);
/* Sends netd the config file, and the UDP socket once it exists. */
void	wgmode_netd_ready(struct child *netd);
void	wgmode_apply(struct child *netd, const Pm__WgInterface *);
void	wgmode_config_error(struct child *netd, const char *msg);
/* The marked dual-stack UDP socket; fd or -errno, *bound = its port. */
int	wgmode_open_udp(unsigned port, unsigned *bound);

/*
 * Tailnet mode (no --wg-config): the same marked socket, opened at start
 * on --port (41641) and passed to every netd that starts, with the host's
 * addresses at that moment as its direct endpoints (tailnet_udp.c).
 */
#define PM_TAILNET_PORT	41641
void	tailnet_udp_open(struct privd *);
void	tailnet_udp_netd_ready(struct child *netd);

#endif
