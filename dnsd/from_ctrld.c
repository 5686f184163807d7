/* ctrld -> dnsd: the one dispatch function for this channel. */
#include "dnsd.h"
#include "log.h"
#include "ctrld_to_dnsd.pb-c.h"

int
dnsd_dispatch_ctrld(struct ipc_chan *ch, struct ipc_msg *m, void *arg)
{
	const Pm__CtrldToDnsd *env = (const Pm__CtrldToDnsd *)m->env;
	struct child_ctx *c = arg;

	(void)ch;
	switch (env->msg_case) {
	case PM__CTRLD_TO_DNSD__MSG_PROC_INFO_REQUEST:
		return child_reply_proc_info(c, env->proc_info_request);
	case PM__CTRLD_TO_DNSD__MSG_DNS_CONFIG:
		dnsd_config_part(c->arg, env->dns_config);
		return 0;
#ifdef PM_TEST_HOOKS
	case PM__CTRLD_TO_DNSD__MSG_TEST_FORBIDDEN_SYSCALL:
		child_test_forbidden_syscall(c);
#endif
	default:
		fatalx("%s: kind %u passed the allow-list but has no handler",
		    __func__, m->kind);
	}
}

