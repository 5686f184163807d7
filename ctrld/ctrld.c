/*
 * ctrld: the control plane client, the brain, and the local API server.
 * Runs as _pm-ctrl with no capabilities; privd hands it the API socket.
 */
#include "aead.h"
#include "ctrld.h"
#include "log.h"

int
main(int argc, char **argv)
{
	static struct ctrld cd;

	child_init(&cd.c, PM__PROC__PROC_CTRLD, SANDBOX_CTRLD, argc, argv);
	cd.c.arg = &cd;
	cd.c.dispatch[PM__PROC__PROC_PRIVD] = ctrld_dispatch_privd;
	cd.c.dispatch[PM__PROC__PROC_NETD] = ctrld_dispatch_netd;
	cd.c.dispatch[PM__PROC__PROC_DNSD] = ctrld_dispatch_dnsd;
	/* TLS roots and the crypto providers, before the chroot. */
	if (aead_global_init() < 0)
		fatalx("cannot initialise the crypto libraries");
	control_preinit(&cd.ctl);
	child_sandbox(&cd.c);
	child_start(&cd.c);
	control_init(&cd.ctl, &cd, cd.c.loop);
	return child_run(&cd.c);
}
