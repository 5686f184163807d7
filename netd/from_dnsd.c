/* dnsd -> netd: the one dispatch function for this channel.  Its allow-list
 * is empty until DNS interception arrives, so ipc_decode() drops every
 * datagram before this could be reached. */
#include "log.h"
#include "netd.h"

int
netd_dispatch_dnsd(struct ipc_chan *ch, struct ipc_msg *m, void *arg)
{
	(void)ch;
	(void)arg;
	fatalx("%s: kind %u passed an empty allow-list", __func__, m->kind);
}
