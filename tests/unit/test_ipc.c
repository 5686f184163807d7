/*
 * IPC framing and validation: real socketpairs, real libuv loop, the real
 * channel policies.  Every drop reason is provoked and counted.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "ipc.h"
#include "ctrld_to_netd.pb-c.h"
#include "netd_to_ctrld.pb-c.h"
#include "netd_to_privd.pb-c.h"
#include "privd_to_ctrld.pb-c.h"
#include "privd_to_netd.pb-c.h"

/* ---- pure decode ---- */

static size_t
pack(const ProtobufCMessage *m, uint8_t *buf)
{
	return protobuf_c_message_pack(m, buf);
}

/* Length-delimited field `num` holding `len` bytes, appended at `out`. */
static size_t
wrap(uint32_t num, const uint8_t *in, size_t len, uint8_t *out)
{
	size_t n = 0;

	out[n++] = (uint8_t)((num << 3) | 2);
	out[n++] = (uint8_t)len;	/* tests keep len < 128 */
	memcpy(out + n, in, len);
	return n + len;
}

static size_t
ready_bytes(uint8_t *buf, Pm__Proc who, bool extra_unknown)
{
	Pm__ProcInfo pi = PM__PROC_INFO__INIT;
	uint8_t inner[128], ready[160];
	size_t n;

	pi.proc = who;
	pi.pid = 7;
	pi.uid = 994;
	pi.seccomp = 2;
	pi.no_new_privs = 1;
	n = pack(&pi.base, inner);
	if (extra_unknown) {	/* field 99, varint 1: unknown, nested deep */
		inner[n++] = 0x98;
		inner[n++] = 0x06;
		inner[n++] = 0x01;
	}
	n = wrap(1, inner, n, ready);		/* Ready.info */
	return wrap(1, ready, n, buf);		/* NetdToPrivd.ready */
}

static void
test_decode_ready(void **state)
{
	const struct ipc_policy *pol = ipc_policy(PM__PROC__PROC_NETD,
	    PM__PROC__PROC_PRIVD);
	struct ipc_msg m;
	enum ipc_drop why;
	uint8_t buf[256];
	size_t n = ready_bytes(buf, PM__PROC__PROC_NETD, false);

	(void)state;
	assert_int_equal(ipc_decode(pol, buf, n, false, IPC_PHASE_START, 0, &m,
	    &why), 0);
	assert_int_equal(m.kind, PM__NETD_TO_PRIVD__MSG_READY);
	ipc_msg_free(&m);
	/* Ready is legal only before the child is running, and only once. */
	assert_int_equal(ipc_decode(pol, buf, n, false, IPC_PHASE_RUN, 0, &m,
	    &why), -EBADMSG);
	assert_int_equal(why, IPC_DROP_PHASE);
	assert_int_equal(ipc_decode(pol, buf, n, false, IPC_PHASE_START, 1, &m,
	    &why), -EBADMSG);
	assert_int_equal(why, IPC_DROP_PHASE);
	/* An fd attached to a kind that carries none. */
	assert_int_equal(ipc_decode(pol, buf, n, true, IPC_PHASE_START, 0, &m,
	    &why), -EBADMSG);
	assert_int_equal(why, IPC_DROP_FD);
}

static void
test_decode_rejects(void **state)
{
	const struct ipc_policy *pol = ipc_policy(PM__PROC__PROC_NETD,
	    PM__PROC__PROC_PRIVD);
	struct ipc_msg m;
	enum ipc_drop why;
	uint8_t buf[8192];
	size_t n;

	(void)state;
	/* netd claiming to be dnsd fails the per-message check. */
	n = ready_bytes(buf, PM__PROC__PROC_DNSD, false);
	assert_int_equal(ipc_decode(pol, buf, n, false, IPC_PHASE_START, 0, &m,
	    &why), -EBADMSG);
	assert_int_equal(why, IPC_DROP_INVALID);
	/* Unknown field three levels down. */
	n = ready_bytes(buf, PM__PROC__PROC_NETD, true);
	assert_int_equal(ipc_decode(pol, buf, n, false, IPC_PHASE_START, 0, &m,
	    &why), -EBADMSG);
	assert_int_equal(why, IPC_DROP_UNKNOWN_FIELDS);
	/* Garbage. */
	memset(buf, 0xff, 16);
	assert_int_equal(ipc_decode(pol, buf, 16, false, IPC_PHASE_RUN, 0, &m,
	    &why), -EBADMSG);
	assert_int_equal(why, IPC_DROP_UNPACK);
	/* Empty envelope: no kind set. */
	assert_int_equal(ipc_decode(pol, buf, 0, false, IPC_PHASE_RUN, 0, &m,
	    &why), -EBADMSG);
	assert_int_equal(why, IPC_DROP_NOT_ALLOWED);
	/* Over the channel maximum. */
	uint8_t *big = calloc(1, pol->max_size + 1);
	assert_int_equal(ipc_decode(pol, big, pol->max_size + 1, false,
	    IPC_PHASE_RUN, 0, &m, &why), -EBADMSG);
	assert_int_equal(why, IPC_DROP_OVERSIZED);
	free(big);
}

static void
test_decode_kind_not_on_channel(void **state)
{
	/* StatusRequest (field 3) exists on ctrld->privd, not dnsd->ctrld. */
	const uint8_t status_req[] = { 0x1a, 0x02, 0x08, 0x01 };
	struct ipc_msg m;
	enum ipc_drop why;

	(void)state;
	assert_int_equal(ipc_decode(ipc_policy(PM__PROC__PROC_DNSD,
	    PM__PROC__PROC_CTRLD), status_req, sizeof(status_req), false,
	    IPC_PHASE_RUN, 0, &m, &why), -EBADMSG);
	/* Unknown at the envelope level: it is not in DnsdToCtrld at all. */
	assert_int_equal(why, IPC_DROP_UNKNOWN_FIELDS);
	assert_int_equal(ipc_decode(ipc_policy(PM__PROC__PROC_CTRLD,
	    PM__PROC__PROC_PRIVD), status_req, sizeof(status_req), false,
	    IPC_PHASE_RUN, 0, &m, &why), 0);
	ipc_msg_free(&m);
	/* An empty envelope is no kind on netd->dnsd either. */
	assert_int_equal(ipc_decode(ipc_policy(PM__PROC__PROC_NETD,
	    PM__PROC__PROC_DNSD), status_req, 0, false, IPC_PHASE_RUN, 0, &m,
	    &why), -EBADMSG);
	assert_int_equal(why, IPC_DROP_NOT_ALLOWED);
}

/* NodeKeys carries public keys of exactly 32 bytes, nothing else. */
static void
test_node_keys(void **state)
{
	const struct ipc_policy *pol = ipc_policy(PM__PROC__PROC_NETD,
	    PM__PROC__PROC_CTRLD);
	Pm__NetdToCtrld env = PM__NETD_TO_CTRLD__INIT;
	Pm__NodeKeys nk = PM__NODE_KEYS__INIT;
	uint8_t key[33] = { 1 }, buf[256];
	struct ipc_msg m;
	enum ipc_drop why;
	size_t n;

	(void)state;
	env.msg_case = PM__NETD_TO_CTRLD__MSG_NODE_KEYS;
	env.node_keys = &nk;
	nk.id = 9;
	nk.node_public = (ProtobufCBinaryData){ 32, key };
	nk.disco_public = (ProtobufCBinaryData){ 32, key };
	n = pack(&env.base, buf);
	assert_int_equal(ipc_decode(pol, buf, n, false, IPC_PHASE_RUN, 0, &m,
	    &why), 0);
	ipc_msg_free(&m);
	nk.old_node_public = (ProtobufCBinaryData){ 32, key };
	n = pack(&env.base, buf);
	assert_int_equal(ipc_decode(pol, buf, n, false, IPC_PHASE_RUN, 0, &m,
	    &why), 0);
	ipc_msg_free(&m);
	for (int bad = 0; bad < 3; bad++) {
		nk.node_public.len = bad == 0 ? 33 : 32;
		nk.disco_public.len = bad == 1 ? 0 : 32;
		nk.old_node_public.len = bad == 2 ? 16 : 32;
		n = pack(&env.base, buf);
		assert_int_equal(ipc_decode(pol, buf, n, false, IPC_PHASE_RUN,
		    0, &m, &why), -EBADMSG);
		assert_int_equal(why, IPC_DROP_INVALID);
	}
	/* ctrld may not send NodeKeys to netd; netd may not ask ctrld. */
	assert_int_equal(ipc_decode(ipc_policy(PM__PROC__PROC_CTRLD,
	    PM__PROC__PROC_NETD), buf, n, false, IPC_PHASE_RUN, 0, &m, &why),
	    -EBADMSG);
}

/* WgStatusReply.derp: region IDs fit the magic endpoint's port, one entry
 * per region, a bounded error text. */
static void
test_wg_status_derp(void **state)
{
	const struct ipc_policy *pol = ipc_policy(PM__PROC__PROC_NETD,
	    PM__PROC__PROC_CTRLD);
	Pm__NetdToCtrld env = PM__NETD_TO_CTRLD__INIT;
	Pm__WgStatusReply rep = PM__WG_STATUS_REPLY__INIT;
	Pm__DerpStatus ds = PM__DERP_STATUS__INIT;
	Pm__DerpRegionStatus r[2], *rp[2] = { &r[0], &r[1] };
	char longerr[200];
	static uint8_t buf[1024];
	struct ipc_msg m;
	enum ipc_drop why;
	size_t n;

	(void)state;
	memset(longerr, 'x', sizeof(longerr) - 1);
	longerr[sizeof(longerr) - 1] = '\0';
	env.msg_case = PM__NETD_TO_CTRLD__MSG_WG_STATUS_REPLY;
	env.wg_status_reply = &rep;
	rep.derp = &ds;
	ds.regions = rp;
	ds.n_regions = 2;
	for (int bad = -1; bad < 4; bad++) {
		for (int i = 0; i < 2; i++) {
			pm__derp_region_status__init(&r[i]);
			r[i].region = 901 + (uint32_t)i;
			r[i].last_error = "closed by the server";
		}
		if (bad == 0)
			r[1].region = 0;
		else if (bad == 1)
			r[1].region = 65536;
		else if (bad == 2)
			r[1].region = 901;	/* twice */
		else if (bad == 3)
			r[0].last_error = longerr;
		n = pack(&env.base, buf);
		assert_int_equal(ipc_decode(pol, buf, n, false, IPC_PHASE_RUN,
		    0, &m, &why), bad < 0 ? 0 : -EBADMSG);
		if (bad < 0)
			ipc_msg_free(&m);
		else
			assert_int_equal(why, IPC_DROP_INVALID);
	}
}

static int
decode_netd_ctrld(Pm__NetdToCtrld *env)
{
	const struct ipc_policy *pol = ipc_policy(PM__PROC__PROC_NETD,
	    PM__PROC__PROC_CTRLD);
	uint8_t buf[1024];
	struct ipc_msg m;
	enum ipc_drop why;
	size_t n = pack(&env->base, buf);
	int r = ipc_decode(pol, buf, n, false, IPC_PHASE_RUN, 0, &m, &why);

	if (r == 0)
		ipc_msg_free(&m);
	else
		assert_int_equal(why, IPC_DROP_INVALID);
	return r;
}

/* netcheck's messages: endpoint types match the endpoints and are
 * tailcfg.EndpointType values; NetInfo's latencies ascend by region,
 * opt.Bool is 0..2, strings and latencies are bounded. */
static void
test_netcheck_messages(void **state)
{
	Pm__NetdToCtrld env = PM__NETD_TO_CTRLD__INIT;
	Pm__Endpoints e = PM__ENDPOINTS__INIT;
	Pm__NetInfo ni = PM__NET_INFO__INIT;
	Pm__NetcheckReport rep = PM__NETCHECK_REPORT__INIT;
	Pm__RegionLatency l[2], *lp[2] = { &l[0], &l[1] };
	char *eps[2] = { "192.0.2.1:41641", "10.0.0.2:41641" };
	uint32_t types[2] = { 2, 1 };

	(void)state;
	env.msg_case = PM__NETD_TO_CTRLD__MSG_ENDPOINTS;
	env.endpoints = &e;
	e.endpoints = eps;
	e.n_endpoints = 2;
	assert_int_equal(decode_netd_ctrld(&env), 0);	/* no types: local */
	e.types = types;
	e.n_types = 2;
	assert_int_equal(decode_netd_ctrld(&env), 0);
	e.n_types = 1;
	assert_int_equal(decode_netd_ctrld(&env), -EBADMSG);
	e.n_types = 2;
	types[1] = 6;
	assert_int_equal(decode_netd_ctrld(&env), -EBADMSG);
	types[1] = 0;
	assert_int_equal(decode_netd_ctrld(&env), -EBADMSG);

	for (int i = 0; i < 2; i++) {
		pm__region_latency__init(&l[i]);
		l[i].region_id = 900 + (uint32_t)i;
		l[i].latency_us = l[i].v4_us = 1500;
	}
	ni.preferred_derp = 900;
	ni.mapping_varies_by_dest_ip = 2;
	ni.latencies = lp;
	ni.n_latencies = 2;
	env.msg_case = PM__NETD_TO_CTRLD__MSG_NET_INFO;
	env.net_info = &ni;
	assert_int_equal(decode_netd_ctrld(&env), 0);
	ni.mapping_varies_by_dest_ip = 3;
	assert_int_equal(decode_netd_ctrld(&env), -EBADMSG);
	ni.mapping_varies_by_dest_ip = 1;
	l[1].region_id = 900;		/* not ascending */
	assert_int_equal(decode_netd_ctrld(&env), -EBADMSG);
	l[1].region_id = 901;
	l[1].v6_us = 61000000;		/* over a minute */
	assert_int_equal(decode_netd_ctrld(&env), -EBADMSG);
	l[1].v6_us = 0;

	rep.id = 5;
	rep.info = &ni;
	rep.global_v4 = "192.0.2.1:41641";
	env.msg_case = PM__NETD_TO_CTRLD__MSG_NETCHECK_REPORT;
	env.netcheck_report = &rep;
	assert_int_equal(decode_netd_ctrld(&env), 0);
	rep.info = NULL;		/* a report always carries NetInfo */
	assert_int_equal(decode_netd_ctrld(&env), -EBADMSG);
}

static void
test_every_channel_has_a_policy(void **state)
{
	(void)state;
	for (int f = PM__PROC__PROC_PRIVD; f <= PM__PROC__PROC_DNSD; f++)
		for (int t = PM__PROC__PROC_PRIVD; t <= PM__PROC__PROC_DNSD; t++) {
			const struct ipc_policy *p = ipc_policy(f, t);
			if (f == t) {
				assert_null(p);
				continue;
			}
			assert_non_null(p);
			assert_true(p->max_size >= 1024);
			assert_true(p->nkinds < 64);	/* once_done bitmask */
		}
}

/* ---- channels over a real socketpair ---- */

struct rx {
	int		 got;
	uint32_t	 kind;
	int		 fd_ino_ok;
	ino_t		 want_ino;
	int		 cutoffs;
	int		 eofs;
	int		 drops;
};

static int
rx_dispatch(struct ipc_chan *c, struct ipc_msg *m, void *arg)
{
	struct rx *rx = arg;
	struct stat st;

	(void)c;
	rx->got++;
	rx->kind = m->kind;
	if (m->fd >= 0 && fstat(m->fd, &st) == 0 && st.st_ino == rx->want_ino)
		rx->fd_ino_ok = 1;
	return 0;
}

static void
rx_event(struct ipc_chan *c, enum ipc_event ev, int detail, void *arg)
{
	struct rx *rx = arg;

	(void)c;
	(void)detail;
	if (ev == IPC_EV_CUTOFF)
		rx->cutoffs++;
	else if (ev == IPC_EV_EOF)
		rx->eofs++;
	else if (ev == IPC_EV_DROP)
		rx->drops++;
}

static void
run_loop(uv_loop_t *loop)
{
	for (int i = 0; i < 20; i++)
		uv_run(loop, UV_RUN_NOWAIT);
}

static void
test_fd_passing_and_cutoff(void **state)
{
	uv_loop_t loop;
	struct ipc_chan netd_end, privd_end;
	struct rx rx = { 0 };
	Pm__PrivdToNetd env = PM__PRIVD_TO_NETD__INIT;
	Pm__TunDevice tun = PM__TUN_DEVICE__INIT;
	Pm__PrivdToNetd penv = PM__PRIVD_TO_NETD__INIT;
	Pm__PeerChannel pc = PM__PEER_CHANNEL__INIT;
	struct stat st;
	int sv[2], devnull;

	(void)state;
	uv_loop_init(&loop);
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
	assert_int_equal(ipc_chan_open(&privd_end, &loop, sv[0],
	    PM__PROC__PROC_PRIVD, PM__PROC__PROC_NETD, rx_dispatch, rx_event,
	    &rx), 0);
	assert_int_equal(ipc_chan_open(&netd_end, &loop, sv[1],
	    PM__PROC__PROC_NETD, PM__PROC__PROC_PRIVD, rx_dispatch, rx_event,
	    &rx), 0);
	devnull = open("/dev/null", O_RDWR);
	fstat(devnull, &st);
	rx.want_ino = st.st_ino;
	tun.name = "pm0";
	tun.ifindex = 3;
	tun.mtu = 1280;
	env.msg_case = PM__PRIVD_TO_NETD__MSG_TUN_DEVICE;
	env.tun_device = &tun;
	assert_int_equal(ipc_send(&privd_end, &env.base, devnull), 0);
	run_loop(&loop);
	assert_int_equal(rx.got, 1);
	assert_true(rx.fd_ino_ok);
	/* TunDevice is once-only: the second copy is dropped. */
	assert_int_equal(ipc_send(&privd_end, &env.base, devnull), 0);
	/* A kind that carries an fd arriving without one is dropped. */
	pc.peer = PM__PROC__PROC_DNSD;
	penv.msg_case = PM__PRIVD_TO_NETD__MSG_PEER_CHANNEL;
	penv.peer_channel = &pc;
	assert_int_equal(ipc_send(&privd_end, &penv.base, -1), 0);
	/* With one it passes. */
	assert_int_equal(ipc_send(&privd_end, &penv.base, devnull), 0);
	run_loop(&loop);
	assert_int_equal(rx.got, 2);
	assert_int_equal(rx.kind, PM__PRIVD_TO_NETD__MSG_PEER_CHANNEL);
	assert_int_equal(netd_end.st.drops[IPC_DROP_PHASE], 1);
	assert_int_equal(netd_end.st.drops[IPC_DROP_FD], 1);
	/* A flood of garbage cuts the sender off. */
	for (int i = 0; i < IPC_CUTOFF_COUNT; i++)
		(void)!write(sv[0], "\xff\xff\xff", 3);
	run_loop(&loop);
	assert_int_equal(rx.cutoffs, 1);
	assert_int_equal(netd_end.st.cutoffs, 1);
	assert_true(netd_end.cut_off);
	/* Wrong envelope type is refused by the sender. */
	assert_int_equal(ipc_send(&netd_end, &env.base, -1), -EINVAL);
	ipc_chan_close(&privd_end);
	ipc_chan_close(&netd_end);
	close(devnull);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&loop), 0);
}

static void
test_eof_and_replace(void **state)
{
	uv_loop_t loop;
	struct ipc_chan a, b;
	struct rx rx = { 0 };
	Pm__CtrldToNetd env = PM__CTRLD_TO_NETD__INIT;
	Pm__ProcInfoRequest req = PM__PROC_INFO_REQUEST__INIT;
	int sv[2], sv2[2];

	(void)state;
	uv_loop_init(&loop);
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
	assert_int_equal(ipc_chan_open(&a, &loop, sv[0], PM__PROC__PROC_CTRLD,
	    PM__PROC__PROC_NETD, rx_dispatch, rx_event, &rx), 0);
	assert_int_equal(ipc_chan_open(&b, &loop, sv[1], PM__PROC__PROC_NETD,
	    PM__PROC__PROC_CTRLD, rx_dispatch, rx_event, &rx), 0);
	ipc_chan_close(&a);
	run_loop(&loop);
	assert_int_equal(rx.eofs, 1);
	/* The peer restarted: a new socket, same counters. */
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv2), 0);
	assert_int_equal(ipc_chan_replace(&b, &loop, sv2[1]), 0);
	assert_int_equal(ipc_chan_open(&a, &loop, sv2[0], PM__PROC__PROC_CTRLD,
	    PM__PROC__PROC_NETD, rx_dispatch, rx_event, &rx), 0);
	env.msg_case = PM__CTRLD_TO_NETD__MSG_PROC_INFO_REQUEST;
	env.proc_info_request = &req;
	/* Fill the socket buffer: the rest must queue and still arrive. */
	for (int i = 0; i < 600; i++)
		assert_int_equal(ipc_send(&a, &env.base, -1), 0);
	for (int i = 0; i < 200; i++)
		uv_run(&loop, UV_RUN_NOWAIT);
	assert_int_equal(rx.got, 600);
	assert_int_equal(b.st.rx, 600);
	ipc_chan_close(&a);
	ipc_chan_close(&b);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&loop), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_decode_ready),
		cmocka_unit_test(test_decode_rejects),
		cmocka_unit_test(test_decode_kind_not_on_channel),
		cmocka_unit_test(test_node_keys),
		cmocka_unit_test(test_wg_status_derp),
		cmocka_unit_test(test_netcheck_messages),
		cmocka_unit_test(test_every_channel_has_a_policy),
		cmocka_unit_test(test_fd_passing_and_cutoff),
		cmocka_unit_test(test_eof_and_replace),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
