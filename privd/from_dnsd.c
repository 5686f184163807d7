/* dnsd -> privd: the one dispatch function for this channel. */
#include "dns_os.h"
#include "log.h"
#include "privd.h"
#include "dnsd_to_privd.pb-c.h"

int
privd_dispatch_dnsd(struct ipc_chan *c, struct ipc_msg *m, void *arg)
{
	const Pm__DnsdToPrivd *env = (const Pm__DnsdToPrivd *)m->env;
	struct child *k = arg;

	(void)c;
	switch (env->msg_case) {
	case PM__DNSD_TO_PRIVD__MSG_READY:
		privd_handle_ready(k, env->ready);
		return 0;
	case PM__DNSD_TO_PRIVD__MSG_PEER_MISBEHAVED:
		privd_handle_peer_misbehaved(k, env->peer_misbehaved);
		return 0;
	case PM__DNSD_TO_PRIVD__MSG_OS_DNS:
		dns_os_config(k->pd, env->os_dns);
		return 0;
	case PM__DNSD_TO_PRIVD__MSG_UPSTREAM_SOCKETS:
		dns_os_upstream_sockets(k, env->upstream_sockets);
		return 0;
	default:
		fatalx("%s: kind %u passed the allow-list but has no handler",
		    __func__, m->kind);
	}
}
