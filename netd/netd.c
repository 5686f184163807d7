/*
 * netd: the data plane (WireGuard, UDP, disco, STUN, DERP, packet filter).
 * Runs as _pm-net with no capabilities; privd hands it the TUN fd.
 */
#include <stdlib.h>

#include "aead.h"
#include "log.h"
#include "netd.h"

int
main(int argc, char **argv)
{
	static struct netd nd;

	nd.tun_fd = -1;
	nd.wg.udp_fd = -1;
	child_init(&nd.c, PM__PROC__PROC_NETD, SANDBOX_NETD, argc, argv);
	nd.c.arg = &nd;
	nd.c.dispatch[PM__PROC__PROC_PRIVD] = netd_dispatch_privd;
	nd.c.dispatch[PM__PROC__PROC_CTRLD] = netd_dispatch_ctrld;
	nd.c.dispatch[PM__PROC__PROC_DNSD] = netd_dispatch_dnsd;
	/* OpenSSL loads its provider while files are still reachable. */
	if (aead_global_init() < 0)
		fatalx("cannot initialise the crypto libraries");
	derp_regions_init();
	child_sandbox(&nd.c);
	child_start(&nd.c);
	return child_run(&nd.c);
}
