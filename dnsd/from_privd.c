/* privd -> dnsd: the one dispatch function for this channel. */
#include "dnsd.h"
#include "log.h"
#include "privd_to_dnsd.pb-c.h"

int
dnsd_dispatch_privd(struct ipc_chan *ch, struct ipc_msg *m, void *arg)
{
	const Pm__PrivdToDnsd *env = (const Pm__PrivdToDnsd *)m->env;
	struct child_ctx *c = arg;

	(void)ch;
	switch (env->msg_case) {
	case PM__PRIVD_TO_DNSD__MSG_PEER_CHANNEL:
		child_handle_peer_channel(c, env->peer_channel, m);
		return 0;
	case PM__PRIVD_TO_DNSD__MSG_DNS_CONFIG_FILE:
		dnsd_config_file(c->arg, m->fd, env->dns_config_file->path);
		return 0;
	case PM__PRIVD_TO_DNSD__MSG_HOST_RESOLVERS:
		dnsd_host_resolvers(c->arg, env->host_resolvers->addrs,
		    env->host_resolvers->n_addrs);
		return 0;
	case PM__PRIVD_TO_DNSD__MSG_UPSTREAM_SOCKET:
		fwd_marked_socket(&((struct dnsd *)c->arg)->fwd,
		    (int)env->upstream_socket->family,
		    env->upstream_socket->tcp, m->fd);
		m->fd = -1;
		return 0;
	default:
		fatalx("%s: kind %u passed the allow-list but has no handler",
		    __func__, m->kind);
	}
}
