/* netd -> dnsd: the one dispatch function for this channel. */
#include "dnsd.h"
#include "log.h"
#include "netd_to_dnsd.pb-c.h"

int
dnsd_dispatch_netd(struct ipc_chan *ch, struct ipc_msg *m, void *arg)
{
	const Pm__NetdToDnsd *env = (const Pm__NetdToDnsd *)m->env;
	struct child_ctx *c = arg;

	(void)ch;
	switch (env->msg_case) {
	case PM__NETD_TO_DNSD__MSG_QUERIES:
		dnsd_serve(c->arg, env->queries);
		return 0;
	default:
		fatalx("%s: kind %u passed the allow-list but has no handler",
		    __func__, m->kind);
	}
}
