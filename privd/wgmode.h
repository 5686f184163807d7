/*
 * Plain-WireGuard mode (privd --wg-config FILE): privd opens the wg-quick
 * file and passes it to netd, which parses it and keeps the keys; netd
 * sends back only the interface half (addresses, MTU, port, routes), which
 * privd validates and applies:
 *
 *   addresses on the TUN, MTU, link up;
 *   routes for AllowedIPs: /0 routes in table PM_TABLE behind three rules,
 *   as wg-quick does with its fwmark table, everything else in main:
 *     5210  fwmark 0x80000/0xff0000 lookup main   (our own UDP socket)
 *     5230  lookup main suppress_prefixlength 0    (keep specific routes)
 *     5270  lookup 52                              (the tunnel's default)
 *   the UDP socket, bound to ListenPort and marked 0x80000, for netd.
 *
 * Routes and addresses leave with the TUN; rules do not, so privd removes
 * the rules at its priorities at start (left by a crash) and at stop.
 */
#ifndef PM_PRIVD_WGMODE_H
#define PM_PRIVD_WGMODE_H

#include <stdbool.h>

#define PM_TABLE	52
#define PM_FWMARK	0x80000
#define PM_FWMASK	0xff0000
#define PM_PRIO_BYPASS	5210
#define PM_PRIO_SUPPRESS 5230
#define PM_PRIO_TABLE	5270

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
/* Removes rules at privmesh's priorities (start and stop). */
void	wgmode_flush_rules(struct privd *);

#endif
