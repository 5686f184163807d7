#ifndef PM_DNSD_H
#define PM_DNSD_H

#include "child.h"

struct dnsd {
	struct child_ctx c;
};

int	dnsd_dispatch_privd(struct ipc_chan *, struct ipc_msg *, void *);
int	dnsd_dispatch_ctrld(struct ipc_chan *, struct ipc_msg *, void *);
int	dnsd_dispatch_netd(struct ipc_chan *, struct ipc_msg *, void *);

#endif
