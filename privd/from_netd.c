/* netd -> privd: the one dispatch function for this channel. */
#include "log.h"
#include "privd.h"
#include "wgmode.h"
#include "netd_to_privd.pb-c.h"

int
privd_dispatch_netd(struct ipc_chan *c, struct ipc_msg *m, void *arg)
{
	const Pm__NetdToPrivd *env = (const Pm__NetdToPrivd *)m->env;
	struct child *k = arg;

	(void)c;
	switch (env->msg_case) {
	case PM__NETD_TO_PRIVD__MSG_READY:
		privd_handle_ready(k, env->ready);
		return 0;
	case PM__NETD_TO_PRIVD__MSG_PEER_MISBEHAVED:
		privd_handle_peer_misbehaved(k, env->peer_misbehaved);
		return 0;
	case PM__NETD_TO_PRIVD__MSG_WG_INTERFACE:
		wgmode_apply(k, env->wg_interface);
		return 0;
	case PM__NETD_TO_PRIVD__MSG_DERP_SOCKET_REQUEST:
		privd_derp_socket(k, env->derp_socket_request);
		return 0;
	case PM__NETD_TO_PRIVD__MSG_WG_CONFIG_ERROR:
		wgmode_config_error(k, env->wg_config_error->message);
		return 0;
	default:
		fatalx("%s: kind %u passed the allow-list but has no handler",
		    __func__, m->kind);
	}
}
