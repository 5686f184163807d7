/*
 * dnsd: MagicDNS and split-DNS forwarder.  Runs as _pm-dns with no
 * capabilities; queries reach it from netd over IPC, never on port 53.
 */
#include "dnsd.h"
#include "log.h"

int
main(int argc, char **argv)
{
	static struct dnsd dd;

	child_init(&dd.c, PM__PROC__PROC_DNSD, SANDBOX_DNSD, argc, argv);
	dd.c.arg = &dd;
	dd.c.dispatch[PM__PROC__PROC_PRIVD] = dnsd_dispatch_privd;
	dd.c.dispatch[PM__PROC__PROC_CTRLD] = dnsd_dispatch_ctrld;
	dd.c.dispatch[PM__PROC__PROC_NETD] = dnsd_dispatch_netd;
	zone_init(&dd.zone);
	zone_init(&dd.staged);
	cache_init(&dd.cache);
	child_sandbox(&dd.c);
	/* Upstream sockets are made inside the sandbox: the udp_socket and
	 * tcp_client groups allow exactly these. */
	if (fwd_init(&dd.fwd, dd.c.loop, &dd) < 0)
		fatalx("cannot set up the forwarder");
	child_start(&dd.c);
	return child_run(&dd.c);
}
