/* ctrld -> dnsd: the one dispatch function for this channel. */
#include "dnsd.h"
#include "log.h"
#include "ctrld_to_dnsd.pb-c.h"
#include "dnsd_to_ctrld.pb-c.h"

static int handle_proc_info_request(struct child_ctx *,
    const Pm__ProcInfoRequest *);

int
dnsd_dispatch_ctrld(struct ipc_chan *ch, struct ipc_msg *m, void *arg)
{
	const Pm__CtrldToDnsd *env = (const Pm__CtrldToDnsd *)m->env;
	struct child_ctx *c = arg;

	(void)ch;
	switch (env->msg_case) {
	case PM__CTRLD_TO_DNSD__MSG_PROC_INFO_REQUEST:
		return handle_proc_info_request(c, env->proc_info_request);
#ifdef PM_TEST_HOOKS
	case PM__CTRLD_TO_DNSD__MSG_TEST_FORBIDDEN_SYSCALL:
		child_test_forbidden_syscall(c);
#endif
	default:
		fatalx("%s: kind %u passed the allow-list but has no handler",
		    __func__, m->kind);
	}
}

static int
handle_proc_info_request(struct child_ctx *c, const Pm__ProcInfoRequest *req)
{
	Pm__DnsdToCtrld env = PM__DNSD_TO_CTRLD__INIT;
	Pm__ProcInfoReply rep = PM__PROC_INFO_REPLY__INIT;
	Pm__ProcInfo pi;
	Pm__ChannelStats st[PM_NPROC], *stp[PM_NPROC];
	struct ipc_chan *ch = child_chan(c, PM__PROC__PROC_CTRLD);

	child_procinfo(c, &pi, st, stp);
	rep.id = req->id;
	rep.info = &pi;
	env.msg_case = PM__DNSD_TO_CTRLD__MSG_PROC_INFO_REPLY;
	env.proc_info_reply = &rep;
	return ch != NULL ? ipc_send(ch, &env.base, -1) : 0;
}
