/*
 * netd's DERP connections: privd opens each TCP socket and marks it with
 * PM_FWMARK so that it takes the main table (rule 5210), never the tunnel
 * or an exit node's default route; netd connects it itself.  At most
 * DERP_SOCKS_PER_S a second, whatever netd asks: netd retries with a
 * backoff and asks again.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "netstate.h"
#include "privd.h"
#include "netd_to_privd.pb-c.h"
#include "privd_to_netd.pb-c.h"

#define DERP_SOCKS_PER_S	8

void
privd_derp_socket(struct child *k, const Pm__DerpSocketRequest *rq)
{
	static struct ratelimit rl = RATELIMIT_INIT(1000, DERP_SOCKS_PER_S);
	static struct ratelimit logrl = RATELIMIT_INIT(10000, 1);
	Pm__PrivdToNetd env = PM__PRIVD_TO_NETD__INIT;
	Pm__DerpSocket ds = PM__DERP_SOCKET__INIT;
	int fd, r, mark = PM_FWMARK, one = 1;
	unsigned missed;

	if (!ratelimit_ok(&rl, now_ms(), &missed)) {
		if (ratelimit_ok(&logrl, now_ms(), &missed))
			log_warnx("netd asks for DERP sockets faster than "
			    "%u/s; not all are given", DERP_SOCKS_PER_S);
		return;
	}
	fd = socket((int)rq->family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0);
	/* TCP_NODELAY as Go's net package sets it on every connection:
	 * small DERP frames and netcheck's HTTPS request go out at once. */
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_MARK, &mark,
	    sizeof(mark)) != 0 || setsockopt(fd, IPPROTO_TCP, TCP_NODELAY,
	    &one, sizeof(one)) != 0) {
		log_warnx("netd: DERP socket: %s", strerror(errno));
		if (fd >= 0)
			close(fd);
		return;
	}
	ds.family = rq->family;
	env.msg_case = PM__PRIVD_TO_NETD__MSG_DERP_SOCKET;
	env.derp_socket = &ds;
	r = ipc_send(&k->chan, &env.base, fd);
	close(fd);
	if (r < 0)
		log_warnx("netd: cannot send a DERP socket: %s", strerror(-r));
}
