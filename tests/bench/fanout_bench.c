/*
 * fanout_bench: what ctrld's fan-out (ctrld/fanout.c) costs on a large
 * tailnet, through real IPC channels (SOCK_SEQPACKET pairs whose other
 * ends this program drains, as netd, privd and dnsd would): the first
 * fan-out of an N-peer netmap (default 10000), then a one-peer endpoint
 * change.  Prints the time per fan-out and the datagrams and bytes each
 * sibling received: a one-peer change must send one peer, not the map.
 * Then end to end, as ctrld handles a MapResponse: apply + fan-out of the
 * full map, and of DELTAS one-peer deltas (PeersChanged and
 * PeersChangedPatch in turn), mean and max (issue 5: < 5 ms).
 *
 *	usage: fanout_bench [peers]
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "ctrld.h"
#include "fanout.h"
#include "netmap.h"
#include "prefs.h"

static double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static size_t
node(char *out, int id)
{
	return (size_t)sprintf(out, "{\"ID\":%d,\"Name\":\"peer-%d.tailnet.test.\","
	    "\"Key\":\"nodekey:%064x\",\"DiscoKey\":\"discokey:%064x\","
	    "\"Addresses\":[\"100.%d.%d.%d/32\",\"fd7a:115c:a1e0::%x/128\"],"
	    "\"Endpoints\":[\"198.51.100.%d:41641\"],\"HomeDERP\":999,"
	    "\"Hostinfo\":{\"Hostname\":\"peer-%d\",\"OS\":\"linux\"},"
	    "\"Online\":true}", id, id, id, id, 64 + (id >> 16),
	    (id >> 8) & 255, id & 255, id, id & 255, id);
}

static int
no_dispatch(struct ipc_chan *ch, struct ipc_msg *m, void *arg)
{
	(void)ch;
	(void)m;
	(void)arg;
	return 0;
}

#define DELTAS	300

struct sink {
	int		 fd;
	unsigned long	 msgs, bytes;
};

/* Runs the loop (queued datagrams) and reads every sibling's end dry. */
static void
drain(struct ctrld *cd, struct sink *s, int n)
{
	static uint8_t buf[70000];
	bool more = true;

	while (more) {
		more = false;
		uv_run(cd->c.loop, UV_RUN_NOWAIT);
		for (int i = 0; i < n; i++) {
			ssize_t r;

			while ((r = recv(s[i].fd, buf, sizeof(buf),
			    MSG_DONTWAIT)) > 0) {
				s[i].msgs++;
				s[i].bytes += (unsigned long)r;
				more = true;
			}
		}
		for (int p = 1; p <= PM_NPROC; p++)
			if (cd->c.chans[p].open && cd->c.chans[p].txq_len > 0)
				more = true;
	}
}

static void
report(const char *what, double ms, struct sink *s)
{
	static const char *names[] = { "netd", "privd", "dnsd" };

	printf("  %-26s %8.2f ms;", what, ms);
	for (int i = 0; i < 3; i++) {
		printf(" %s %lu msg %lu B%s", names[i], s[i].msgs, s[i].bytes,
		    i < 2 ? "," : "\n");
		s[i].msgs = s[i].bytes = 0;
	}
}

int
main(int argc, char **argv)
{
	static struct ctrld cd;
	int peers = argc > 1 ? atoi(argv[1]) : 10000;
	static const Pm__Proc procs[3] = { PM__PROC__PROC_NETD,
	    PM__PROC__PROC_PRIVD, PM__PROC__PROC_DNSD };
	struct sink s[3];
	size_t cap = (size_t)peers * 512 + 4096, len = 0;
	char *json = malloc(cap), one[512], err[256];
	struct netmap nm;
	struct prefs p;
	double t, t_apply, sum = 0, max = 0;

	if (peers < 1 || peers > NM_MAX_PEERS || json == NULL)
		return 2;
	cd.c.self = PM__PROC__PROC_CTRLD;
	cd.c.loop = uv_default_loop();
	for (int i = 0; i < 3; i++) {
		int sv[2], big = 4 << 20;

		if (socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv) != 0)
			return 1;
		(void)setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
		if (ipc_chan_open(&cd.c.chans[procs[i]], cd.c.loop, sv[0],
		    PM__PROC__PROC_CTRLD, procs[i], no_dispatch, NULL, &cd) < 0)
			return 1;
		s[i] = (struct sink){ sv[1], 0, 0 };
	}
	len += (size_t)sprintf(json, "{\"Node\":");
	len += node(json + len, 1);
	len += (size_t)sprintf(json + len, ",\"DNSConfig\":{\"Proxied\":true,"
	    "\"Domains\":[\"tailnet.test\"]},\"Peers\":[");
	for (int i = 0; i < peers; i++) {
		if (i)
			json[len++] = ',';
		len += node(json + len, i + 2);
	}
	len += (size_t)sprintf(json + len, "]}");
	netmap_init(&nm);
	t_apply = now_ms();
	if (netmap_apply(&nm, json, len, true, err, sizeof(err)) != NM_APPLIED) {
		fprintf(stderr, "apply: %s\n", err);
		return 1;
	}
	t_apply = now_ms() - t_apply;
	free(json);
	prefs_default(&p);
	printf("fan-out of a netmap with %zu peers\n", nm.npeers);
	t = now_ms();
	fanout_apply(&cd, &nm, &p);
	t = now_ms() - t;
	t_apply += t;
	drain(&cd, s, 3);
	report("first (everything):", t, s);
	len = (size_t)sprintf(one, "{\"PeersChangedPatch\":[{\"NodeID\":%d,"
	    "\"Endpoints\":[\"203.0.113.9:41641\"]}]}", peers / 2);
	if (netmap_apply(&nm, one, len, false, err, sizeof(err)) != NM_APPLIED)
		return 1;
	t = now_ms();
	fanout_apply(&cd, &nm, &p);
	t = now_ms() - t;
	drain(&cd, s, 3);
	report("one peer's endpoints:", t, s);
	len = (size_t)sprintf(one, "{\"PeersRemoved\":[%d]}", peers / 3);
	if (netmap_apply(&nm, one, len, false, err, sizeof(err)) != NM_APPLIED)
		return 1;
	t = now_ms();
	fanout_apply(&cd, &nm, &p);
	t = now_ms() - t;
	drain(&cd, s, 3);
	report("one peer removed:", t, s);
	t = now_ms();
	fanout_apply(&cd, &nm, &p);
	t = now_ms() - t;
	drain(&cd, s, 3);
	report("nothing changed:", t, s);
	for (int i = 0; i < DELTAS; i++) {
		int id = 2 + (i * 7919) % peers;

		if (i % 2 == 0) {
			len = (size_t)sprintf(one, "{\"PeersChanged\":[");
			len += node(one + len, id);
			len += (size_t)sprintf(one + len, "]}");
			/* A new endpoint, so that netd has something to hear. */
			memcpy(strstr(one, "198.51.100."), "203.0.113.", 10);
			memmove(strstr(one, "203.0.113.") + 10,
			    strstr(one, "203.0.113.") + 11,
			    strlen(strstr(one, "203.0.113.") + 11) + 1);
			len = strlen(one);
		} else
			len = (size_t)sprintf(one, "{\"PeersChangedPatch\":[{"
			    "\"NodeID\":%d,\"Endpoints\":[\"203.0.113.%d:%d\"]}]}",
			    id, i & 255, 1024 + i);
		t = now_ms();
		if (netmap_apply(&nm, one, len, false, err, sizeof(err)) !=
		    NM_APPLIED) {
			fprintf(stderr, "delta: %s\n", err);
			return 1;
		}
		fanout_apply(&cd, &nm, &p);
		t = now_ms() - t;
		drain(&cd, s, 3);
		sum += t;
		if (t > max)
			max = t;
	}
	printf("end to end (apply + fan-out):\n");
	printf("  full map:                  %8.2f ms\n", t_apply);
	report("one-peer delta, mean:", sum / DELTAS, s);
	printf("  one-peer delta, max:       %8.2f ms (%d deltas; target "
	    "< 5 ms)\n", max, DELTAS);
	prefs_free(&p);
	netmap_free(&nm);
	return 0;
}
