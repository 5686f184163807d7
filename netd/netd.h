#ifndef PM_NETD_H
#define PM_NETD_H

#include <stdint.h>
#include <uv.h>

#include "child.h"

struct netd {
	struct child_ctx c;
	int		 tun_fd;
	uv_poll_t	 tun_poll;
	uint64_t	 tun_rx_no_peer;	/* packets read with no peer to send to */
};

int	netd_dispatch_privd(struct ipc_chan *, struct ipc_msg *, void *);
int	netd_dispatch_ctrld(struct ipc_chan *, struct ipc_msg *, void *);
int	netd_dispatch_dnsd(struct ipc_chan *, struct ipc_msg *, void *);

void	netd_tun_attach(struct netd *, int fd, const char *name);

#endif
