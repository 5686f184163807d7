/*
 * STATE_DIR/privd.netstate: what privd has installed that would outlive
 * it (rules, the nft table, changed sysctls with their earlier values),
 * as a protobuf InstalledState (ipc/netstate.proto), replaced atomically
 * (write a temporary file, fsync, rename).  Read once at start: a run that
 * crashed is cleaned up after by the next one.
 */
#ifndef PM_PRIVD_STATEFILE_H
#define PM_PRIVD_STATEFILE_H

#include <stdbool.h>
#include <stdint.h>

#include "netstate.h"

struct saved_state {
	unsigned	 table;		/* 0: none recorded */
	bool		 nft;
	bool		 sysctl[NS_NSYSCTL];
	uint32_t	 original[NS_NSYSCTL];
};

int	statefile_write(const char *path, const char *ifname, unsigned table,
	    const struct netstate *have);
/* 0 and `out` filled, -ENOENT when there is no file, -EINVAL when it does
 * not parse (then it is ignored: the flushes at start still run). */
int	statefile_read(const char *path, struct saved_state *out);
/* Turns the file's bytes into `out`; the parser statefile_read() uses. */
int	statefile_parse(const uint8_t *buf, size_t len, struct saved_state *out);

#endif
