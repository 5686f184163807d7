/* dnsd -> ctrld: the one dispatch function for this channel. */
#include "ctrld.h"
#include "log.h"
#include "dnsd_to_ctrld.pb-c.h"

int
ctrld_dispatch_dnsd(struct ipc_chan *ch, struct ipc_msg *m, void *arg)
{
	const Pm__DnsdToCtrld *env = (const Pm__DnsdToCtrld *)m->env;
	struct child_ctx *c = arg;
	struct ctrld *cd = c->arg;

	(void)ch;
	switch (env->msg_case) {
	case PM__DNSD_TO_CTRLD__MSG_PROC_INFO_REPLY:
		status_child_reply(cd, env->proc_info_reply->id,
		    env->proc_info_reply->info);
		return 0;
	case PM__DNSD_TO_CTRLD__MSG_DNS_STATUS:
		status_dns_reply(cd, env->dns_status);
		return 0;
#ifdef PM_TEST_HOOKS
	case PM__DNSD_TO_CTRLD__MSG_TEST_FORBIDDEN_SYSCALL:
		child_test_forbidden_syscall(c);
#endif
	default:
		fatalx("%s: kind %u passed the allow-list but has no handler",
		    __func__, m->kind);
	}
}
