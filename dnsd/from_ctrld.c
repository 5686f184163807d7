/* ctrld -> dnsd: the one dispatch function for this channel. */
#include "dnsd.h"
#include "log.h"
#include "ctrld_to_dnsd.pb-c.h"
#include "dnsd_to_ctrld.pb-c.h"

/* The resolver's counters go first, on the same channel, so they are in
 * when ctrld has the ProcInfoReply that completes dnsd's part. */
static void
send_status(struct dnsd *dd, uint64_t id)
{
	Pm__DnsdToCtrld env = PM__DNSD_TO_CTRLD__INIT;
	Pm__DnsStatus st = PM__DNS_STATUS__INIT;
	Pm__DnsCounters c = PM__DNS_COUNTERS__INIT;
	struct ipc_chan *ch;

	c.queries = dd->ctr.queries;
	c.local = dd->ctr.local;
	c.forwarded = dd->fwd.ctr.queries - dd->fwd.ctr.cache_hits;
	c.cache_hits = dd->fwd.ctr.cache_hits;
	c.nxdomain = dd->ctr.nxdomain;
	c.formerr = dd->ctr.formerr;
	c.spoofed = dd->fwd.ctr.spoofed;
	c.upstream_timeouts = dd->fwd.ctr.timeouts;
	c.servfail = dd->ctr.servfail;
	c.dropped = dd->ctr.dropped;
	st.id = id;
	st.counters = &c;
	env.msg_case = PM__DNSD_TO_CTRLD__MSG_DNS_STATUS;
	env.dns_status = &st;
	if ((ch = child_chan(&dd->c, PM__PROC__PROC_CTRLD)) != NULL)
		(void)ipc_send(ch, &env.base, -1);
}

int
dnsd_dispatch_ctrld(struct ipc_chan *ch, struct ipc_msg *m, void *arg)
{
	const Pm__CtrldToDnsd *env = (const Pm__CtrldToDnsd *)m->env;
	struct child_ctx *c = arg;

	(void)ch;
	switch (env->msg_case) {
	case PM__CTRLD_TO_DNSD__MSG_PROC_INFO_REQUEST:
		send_status(c->arg, env->proc_info_request->id);
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

