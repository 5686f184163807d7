/*
 * ctrld: the control plane client, the brain, and the local API server.
 * Runs as _pm-ctrl with no capabilities; privd hands it the API socket.
 */
#include "ctrld.h"

int
main(int argc, char **argv)
{
	static struct ctrld cd;

	child_init(&cd.c, PM__PROC__PROC_CTRLD, SANDBOX_CTRLD, argc, argv);
	cd.c.arg = &cd;
	cd.c.dispatch[PM__PROC__PROC_PRIVD] = ctrld_dispatch_privd;
	cd.c.dispatch[PM__PROC__PROC_NETD] = ctrld_dispatch_netd;
	cd.c.dispatch[PM__PROC__PROC_DNSD] = ctrld_dispatch_dnsd;
	child_sandbox(&cd.c);
	child_start(&cd.c);
	return child_run(&cd.c);
}
