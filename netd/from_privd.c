/* privd -> netd: the one dispatch function for this channel. */
#include "log.h"
#include "netd.h"
#include "privd_to_netd.pb-c.h"

int
netd_dispatch_privd(struct ipc_chan *ch, struct ipc_msg *m, void *arg)
{
	const Pm__PrivdToNetd *env = (const Pm__PrivdToNetd *)m->env;
	struct child_ctx *c = arg;
	struct netd *nd = c->arg;

	(void)ch;
	switch (env->msg_case) {
	case PM__PRIVD_TO_NETD__MSG_PEER_CHANNEL:
		child_handle_peer_channel(c, env->peer_channel, m);
		if (env->peer_channel->peer == PM__PROC__PROC_CTRLD)
			peers_ctrld_channel(nd);
		return 0;
	case PM__PRIVD_TO_NETD__MSG_TUN_DEVICE:
		netd_tun_attach(nd, m->fd, env->tun_device->name);
		m->fd = -1;
		return 0;
	case PM__PRIVD_TO_NETD__MSG_WG_CONFIG_FILE:
		netd_wg_config(nd, m->fd);
		return 0;
	case PM__PRIVD_TO_NETD__MSG_DERP_SOCKET:
		derp_regions_socket(nd, m->fd);
		m->fd = -1;
		return 0;
	case PM__PRIVD_TO_NETD__MSG_UDP_SOCKET:
		peers_ctrld_udp(nd, m->fd, env->udp_socket);
		m->fd = -1;
		return 0;
	default:
		fatalx("%s: kind %u passed the allow-list but has no handler",
		    __func__, m->kind);
	}
}
