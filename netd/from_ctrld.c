/* ctrld -> netd: the one dispatch function for this channel. */
#include "log.h"
#include "netcheck.h"
#include "netd.h"
#include "ctrld_to_netd.pb-c.h"

int
netd_dispatch_ctrld(struct ipc_chan *ch, struct ipc_msg *m, void *arg)
{
	const Pm__CtrldToNetd *env = (const Pm__CtrldToNetd *)m->env;
	struct child_ctx *c = arg;

	(void)ch;
	switch (env->msg_case) {
	case PM__CTRLD_TO_NETD__MSG_PROC_INFO_REQUEST:
		return child_reply_proc_info(c, env->proc_info_request);
	case PM__CTRLD_TO_NETD__MSG_NODE_KEYS_REQUEST:
		return netd_node_keys(c->arg, env->node_keys_request->id,
		    env->node_keys_request->rotate);
	case PM__CTRLD_TO_NETD__MSG_PEER_UPDATE:
		return peers_ctrld_update(c->arg, env->peer_update);
	case PM__CTRLD_TO_NETD__MSG_FILTER_UPDATE:
		if (!peers_ctrld_refuse(c->arg, "packet filter"))
			(void)filter_update(&((struct netd *)c->arg)->filter,
			    env->filter_update);
		return 0;
	case PM__CTRLD_TO_NETD__MSG_DERP_MAP_UPDATE:
		if (!peers_ctrld_refuse(c->arg, "DERP map") &&
		    derpmap_update(&((struct netd *)c->arg)->derp,
		    env->derp_map_update) == 1) {
			derp_regions_update(c->arg);
			netcheck_map_changed(c->arg);
		}
		return 0;
	case PM__CTRLD_TO_NETD__MSG_NETCHECK_REQUEST:
		return netcheck_request(c->arg, env->netcheck_request->id);
	case PM__CTRLD_TO_NETD__MSG_PING_REQUEST:
		return ping_request(c->arg, env->ping_request);
	case PM__CTRLD_TO_NETD__MSG_WG_STATUS_REQUEST:
		return netd_wg_status(c->arg, env->wg_status_request->id);
#ifdef PM_TEST_HOOKS
	case PM__CTRLD_TO_NETD__MSG_TEST_FORBIDDEN_SYSCALL:
		child_test_forbidden_syscall(c);
#endif
	default:
		fatalx("%s: kind %u passed the allow-list but has no handler",
		    __func__, m->kind);
	}
}

