/* netd -> ctrld: the one dispatch function for this channel. */
#include "ctrld.h"
#include "log.h"
#include "netd_to_ctrld.pb-c.h"

int
ctrld_dispatch_netd(struct ipc_chan *ch, struct ipc_msg *m, void *arg)
{
	const Pm__NetdToCtrld *env = (const Pm__NetdToCtrld *)m->env;
	struct child_ctx *c = arg;
	struct ctrld *cd = c->arg;

	(void)ch;
	switch (env->msg_case) {
	case PM__NETD_TO_CTRLD__MSG_PROC_INFO_REPLY:
		status_child_reply(cd, env->proc_info_reply->id,
		    env->proc_info_reply->info);
		return 0;
	case PM__NETD_TO_CTRLD__MSG_NODE_KEYS:
		control_node_keys(&cd->ctl, env->node_keys->id,
		    env->node_keys->node_public.data,
		    env->node_keys->disco_public.data,
		    env->node_keys->old_node_public.len == 32 ?
		    env->node_keys->old_node_public.data : NULL);
		return 0;
	case PM__NETD_TO_CTRLD__MSG_ENDPOINTS:
		control_endpoints(&cd->ctl, env->endpoints->endpoints,
		    env->endpoints->n_types ? env->endpoints->types : NULL,
		    env->endpoints->n_endpoints, env->endpoints->changed_only);
		return 0;
	case PM__NETD_TO_CTRLD__MSG_NET_INFO:
		control_net_info(&cd->ctl, env->net_info);
		return 0;
	case PM__NETD_TO_CTRLD__MSG_NETCHECK_REPORT:
		netcheck_reply(cd, env->netcheck_report);
		return 0;
	case PM__NETD_TO_CTRLD__MSG_PING_REPLY:
		ping_netd_reply(cd, env->ping_reply);
		return 0;
	case PM__NETD_TO_CTRLD__MSG_WG_STATUS_REPLY:
		status_wg_reply(cd, env->wg_status_reply);
		return 0;
#ifdef PM_TEST_HOOKS
	case PM__NETD_TO_CTRLD__MSG_TEST_FORBIDDEN_SYSCALL:
		child_test_forbidden_syscall(c);
#endif
	default:
		fatalx("%s: kind %u passed the allow-list but has no handler",
		    __func__, m->kind);
	}
}
