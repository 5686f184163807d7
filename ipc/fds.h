/*
 * Fixed descriptor numbers in every child of privd.
 *
 * privd dup2()s each channel socket to the number of the process at its far
 * end and closes everything else before exec, so a child finds its channel
 * to process P at fd PM_FD_<P>.  A child has no channel to itself: that
 * number is closed (e.g. netd has 3, 4 and 6; fd 5 is closed).
 *
 *   fd 0      /dev/null
 *   fd 1, 2   privd's stdout and stderr (logs go to stderr)
 *   fd 3      channel to privd
 *   fd 4      channel to ctrld
 *   fd 5      channel to netd
 *   fd 6      channel to dnsd
 *
 * A channel replaced later (after its peer restarted) arrives as a
 * PeerChannel message from privd instead, at whatever number it lands on.
 */
#ifndef PM_IPC_FDS_H
#define PM_IPC_FDS_H

#include "common.pb-c.h"

#define PM_FD_PRIVD	3
#define PM_FD_CTRLD	4
#define PM_FD_NETD	5
#define PM_FD_DNSD	6
#define PM_FD_LAST	PM_FD_DNSD

/* Number of processes, indexable by Pm__Proc - 1. */
#define PM_NPROC	4

static inline int
pm_proc_fd(Pm__Proc p)
{
	return PM_FD_PRIVD + (int)p - PM__PROC__PROC_PRIVD;
}

static inline int
pm_proc_valid(Pm__Proc p)
{
	return p >= PM__PROC__PROC_PRIVD && p <= PM__PROC__PROC_DNSD;
}

const char *pm_proc_name(Pm__Proc p);

#endif
