/*
 * Login-server host names, resolved from inside ctrld's chroot without
 * NSS or threads: glibc's stub resolver state is read from
 * /etc/resolv.conf before the sandbox (res_ninit), queries are built with
 * res_nmkquery and answers read with ns_initparse/ns_parserr (libresolv),
 * and the UDP exchange runs on ctrld's libuv loop: A first, then AAAA,
 * each nameserver of resolv.conf in turn, 2 s each.
 */
#ifndef PM_CTRLD_RESOLVE_H
#define PM_CTRLD_RESOLVE_H

#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

struct resolve;

typedef void (*resolve_cb)(void *arg, const struct sockaddr_storage *addr,
    socklen_t len, const char *err);

/* Before the chroot. */
void	resolve_preinit(void);

/* Starts a lookup; the callback comes exactly once, from the loop, unless
 * resolve_cancel() is called first.  NULL if it could not start (the
 * callback has not been called). */
struct resolve *resolve_start(uv_loop_t *, const char *host, uint16_t port,
	    resolve_cb, void *arg);
void	resolve_cancel(struct resolve *);

/* Reads a DNS answer: the first address of `type` (ns_t_a or ns_t_aaaa)
 * for query `id`.  1 found, 0 none, -1 malformed. Pure; fuzzed. */
int	resolve_parse(const uint8_t *msg, int len, uint16_t id, int type,
	    uint8_t addr[16]);

#endif
