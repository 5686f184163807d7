/*
 * privmesh ping in netd: each PingRequest from ctrld becomes disco pings
 * (disco_peer_cli_ping) and waits here until the first pong answers it
 * or its timeout passes; either way ctrld gets one PingReply.
 */
#include <errno.h>
#include <string.h>

#include "disco_peer.h"
#include "log.h"
#include "netd.h"
#include "ctrld_to_netd.pb-c.h"
#include "netd_to_ctrld.pb-c.h"

#define PING_PENDING_MAX	16
#define PING_TIMEOUT_MS		5000

static struct {
	uint64_t id;
	uint64_t deadline;	/* 0: slot free */
} pend[PING_PENDING_MAX];

static void
reply(struct netd *nd, uint64_t id, const char *err, const char *ep,
    uint32_t region, uint64_t latency_ns)
{
	struct ipc_chan *ch = child_chan(&nd->c, PM__PROC__PROC_CTRLD);
	Pm__NetdToCtrld env = PM__NETD_TO_CTRLD__INIT;
	Pm__PingReply r = PM__PING_REPLY__INIT;
	int e;

	if (ch == NULL)
		return;
	r.id = id;
	r.error = (char *)(err != NULL ? err : "");
	r.endpoint = (char *)(ep != NULL ? ep : "");
	r.derp_region = region;
	r.latency_us = latency_ns / 1000;
	env.msg_case = PM__NETD_TO_CTRLD__MSG_PING_REPLY;
	env.ping_reply = &r;
	if ((e = ipc_send(ch, &env.base, -1)) < 0)
		log_warnx("ping: cannot answer ctrld: %s", strerror(-e));
}

int
ping_request(struct netd *nd, const Pm__PingRequest *req)
{
	uint64_t now = wg_now_ns();
	uint32_t ms = req->timeout_ms != 0 ? req->timeout_ms : PING_TIMEOUT_MS;
	size_t i;
	int r;

	for (i = 0; i < PING_PENDING_MAX && pend[i].deadline != 0; i++)
		;
	if (i == PING_PENDING_MAX) {
		reply(nd, req->id, "too many pings under way", NULL, 0, 0);
		return 0;
	}
	r = disco_peer_cli_ping(nd, req->node_key.data, req->id, now);
	if (r == -ENOENT || r == -EOPNOTSUPP || r < 0) {
		reply(nd, req->id, r == -ENOENT ? "no such peer" :
		    r == -EOPNOTSUPP ? "peer has no disco key" : "no memory",
		    NULL, 0, 0);
		return 0;
	}
	pend[i].id = req->id;
	pend[i].deadline = now + (uint64_t)ms * 1000000ULL;
	wg_io_flush(nd);
	return 0;
}

void
ping_answer(struct netd *nd, uint64_t id, const struct ipport *to,
    uint64_t latency_ns)
{
	char buf[IPPORT_STRLEN];
	uint32_t region;

	for (size_t i = 0; i < PING_PENDING_MAX; i++) {
		if (pend[i].deadline == 0 || pend[i].id != id)
			continue;
		pend[i].deadline = 0;
		if (dp_is_derp(to, &region))
			reply(nd, id, NULL, NULL, region, latency_ns);
		else
			reply(nd, id, NULL, ipport_str(to, buf), 0, latency_ns);
		return;
	}
}

void
ping_tick(struct netd *nd, uint64_t now)
{
	for (size_t i = 0; i < PING_PENDING_MAX; i++)
		if (pend[i].deadline != 0 && now >= pend[i].deadline) {
			pend[i].deadline = 0;
			reply(nd, pend[i].id, "timeout", NULL, 0, 0);
		}
}

bool
ping_pending(void)
{
	for (size_t i = 0; i < PING_PENDING_MAX; i++)
		if (pend[i].deadline != 0)
			return true;
	return false;
}
