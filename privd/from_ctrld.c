/* ctrld -> privd: the one dispatch function for this channel. */
#include "log.h"
#include "netreq.h"
#include "privd.h"
#include "ctrld_to_privd.pb-c.h"

static int handle_status_request(struct child *, const Pm__StatusRequest *);

int
privd_dispatch_ctrld(struct ipc_chan *c, struct ipc_msg *m, void *arg)
{
	const Pm__CtrldToPrivd *env = (const Pm__CtrldToPrivd *)m->env;
	struct child *k = arg;

	(void)c;
	switch (env->msg_case) {
	case PM__CTRLD_TO_PRIVD__MSG_READY:
		privd_handle_ready(k, env->ready);
		return 0;
	case PM__CTRLD_TO_PRIVD__MSG_PEER_MISBEHAVED:
		privd_handle_peer_misbehaved(k, env->peer_misbehaved);
		return 0;
	case PM__CTRLD_TO_PRIVD__MSG_STATUS_REQUEST:
		return handle_status_request(k, env->status_request);
	case PM__CTRLD_TO_PRIVD__MSG_NET_STATE:
		privd_handle_net_state(k, env->net_state);
		return 0;
	default:
		fatalx("%s: kind %u passed the allow-list but has no handler",
		    __func__, m->kind);
	}
}

static int
handle_status_request(struct child *k, const Pm__StatusRequest *req)
{
	return privd_send_status(k->pd, req->id);
}
