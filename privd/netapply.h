/*
 * Desired state -> the minimal netlink, nftables and sysctl operations
 * from what privd recorded as installed.  Adds go before removals, so a
 * change never opens a window where traffic leaves outside the tunnel.
 * Applying the same state twice does nothing the second time.
 */
#ifndef PM_PRIVD_NETAPPLY_H
#define PM_PRIVD_NETAPPLY_H

#include <stddef.h>

#include "netstate.h"

struct privd;

/* At start, before anything else is installed: removes what an earlier
 * run left (its sysctls put back from the state file, its table, rule
 * priorities and nft table only). */
void	netapply_recover(struct privd *);
/* Builds the desired state from `in` and privd's options and applies it.
 * Returns 0 or -errno with `err` saying which step failed. */
int	netapply_intent(struct privd *, const struct intent *in, char *err,
	    size_t errlen);
/* Removes everything recorded as installed (at stop). */
int	netapply_clear(struct privd *);
/* Operations the last apply performed (0 when nothing had changed). */
unsigned netapply_last_ops(void);

#endif
