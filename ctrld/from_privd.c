/* privd -> ctrld: the one dispatch function for this channel. */
#include "ctrld.h"
#include "fanout.h"
#include "log.h"
#include "privd_to_ctrld.pb-c.h"

int
ctrld_dispatch_privd(struct ipc_chan *ch, struct ipc_msg *m, void *arg)
{
	const Pm__PrivdToCtrld *env = (const Pm__PrivdToCtrld *)m->env;
	struct child_ctx *c = arg;
	struct ctrld *cd = c->arg;

	(void)ch;
	switch (env->msg_case) {
	case PM__PRIVD_TO_CTRLD__MSG_PEER_CHANNEL:
		child_handle_peer_channel(c, env->peer_channel, m);
		/* A restarted sibling has none of the fanned-out state. */
		fanout_sibling_restarted(env->peer_channel->peer);
		fanout_apply(cd, &cd->ctl.nm, &cd->ctl.prefs);
		return 0;
	case PM__PRIVD_TO_CTRLD__MSG_API_LISTENER:
		api_listen(cd, m->fd, env->api_listener->has_operator_gid,
		    env->api_listener->operator_gid);
		m->fd = -1;
		return 0;
	case PM__PRIVD_TO_CTRLD__MSG_STATUS_REPLY:
		status_privd_reply(cd, env->status_reply);
		return 0;
	case PM__PRIVD_TO_CTRLD__MSG_NET_STATE_REPLY:
		/* Nothing sends NetState yet; the answer is logged. */
		if (env->net_state_reply->ok)
			log_info("privd applied net state %llu", (unsigned long long)
			    env->net_state_reply->id);
		else
			log_warnx("privd refused net state %llu: %s",
			    (unsigned long long)env->net_state_reply->id,
			    env->net_state_reply->error);
		return 0;
	default:
		fatalx("%s: kind %u passed the allow-list but has no handler",
		    __func__, m->kind);
	}
}
