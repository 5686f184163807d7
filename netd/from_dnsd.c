/* dnsd -> netd: the one dispatch function for this channel. */
#include "dns_intercept.h"
#include "log.h"
#include "netd.h"
#include "dnsd_to_netd.pb-c.h"

int
netd_dispatch_dnsd(struct ipc_chan *ch, struct ipc_msg *m, void *arg)
{
	const Pm__DnsdToNetd *env = (const Pm__DnsdToNetd *)m->env;
	struct child_ctx *c = arg;

	(void)ch;
	switch (env->msg_case) {
	case PM__DNSD_TO_NETD__MSG_REPLIES:
		dns_intercept_replies(c->arg, env->replies);
		return 0;
	default:
		fatalx("%s: kind %u passed the allow-list but has no handler",
		    __func__, m->kind);
	}
}
