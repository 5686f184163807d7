#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "child.h"
#include "log.h"
#include "procinfo.h"
#include "ctrld_to_privd.pb-c.h"
#include "dnsd_to_ctrld.pb-c.h"
#include "dnsd_to_privd.pb-c.h"
#include "netd_to_ctrld.pb-c.h"
#include "netd_to_privd.pb-c.h"

static void __attribute__((noreturn))
usage(const char *name)
{
	fprintf(stderr, "usage: %s --user NAME --uid N --gid N --root DIR "
	    "[--debug]\n(started by privd; not meant to be run by hand)\n",
	    name);
	exit(2);
}

static unsigned
parse_id(const char *name, const char *s)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v == 0 || v > 0x7fffffff)
		usage(name);
	return (unsigned)v;
}

static void
parse_args(struct child_ctx *c, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "user", required_argument, NULL, 'u' },
		{ "uid", required_argument, NULL, 'U' },
		{ "gid", required_argument, NULL, 'G' },
		{ "root", required_argument, NULL, 'r' },
		{ "debug", no_argument, NULL, 'd' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (ch) {
		case 'u': c->user = optarg; break;
		case 'U': c->uid = parse_id(c->name, optarg); break;
		case 'G': c->gid = parse_id(c->name, optarg); break;
		case 'r': c->root = optarg; break;
		case 'd': c->debug = true; break;
		default: usage(c->name);
		}
	}
	if (optind != argc || c->user == NULL || c->uid == 0 || c->gid == 0 ||
	    c->root == NULL)
		usage(c->name);
}

static bool
is_seqpacket(int fd)
{
	int type;
	socklen_t len = sizeof(type);

	return getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0 &&
	    type == SOCK_SEQPACKET;
}

/*
 * privd placed one socket per peer at its fixed number and closed the rest.
 * Re-check that, mark them close-on-exec again as a safety belt, and close
 * anything beyond the fixed range that an unexpected parent left open.
 */
static void
check_fds(struct child_ctx *c)
{
	for (int p = PM__PROC__PROC_PRIVD; p <= PM__PROC__PROC_DNSD; p++) {
		int fd = pm_proc_fd((Pm__Proc)p);

		if (p == (int)c->self)
			continue;
		if (!is_seqpacket(fd))
			fatalx("fd %d (channel to %s) is not a SOCK_SEQPACKET "
			    "socket; %s must be started by privd", fd,
			    pm_proc_name((Pm__Proc)p), c->name);
		if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
			fatal("fcntl fd %d", fd);
	}
	closefrom(PM_FD_LAST + 1);
}

static void
on_signal(uv_signal_t *h, int signum)
{
	struct child_ctx *c = h->data;

	log_info("signal %d, exiting", signum);
	uv_stop(c->loop);
}

void
child_init(struct child_ctx *c, Pm__Proc self, enum sandbox_role role,
    int argc, char **argv)
{
	static const int sigs[2] = { SIGTERM, SIGINT };

	memset(c, 0, sizeof(*c));
	c->self = self;
	c->role = role;
	c->name = pm_proc_name(self);
	log_init(c->name, false);
	parse_args(c, argc, argv);
	log_set_debug(c->debug);
	check_fds(c);
	/* There is no /proc in the empty root: open it now. */
	if ((c->status_fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC)) < 0)
		fatal("open /proc/self/status");
	c->loop = uv_default_loop();
	for (int i = 0; i < 2; i++) {
		uv_signal_init(c->loop, &c->sig[i]);
		c->sig[i].data = c;
		uv_signal_start(&c->sig[i], on_signal, sigs[i]);
	}
}

void
child_sandbox(struct child_ctx *c)
{
	struct sandbox_params sp = {
		.role = c->role, .user = c->user, .uid = c->uid, .gid = c->gid,
		.root_dir = c->root,
	};

	sandbox_enter(&sp);
}

struct ipc_chan *
child_chan(struct child_ctx *c, Pm__Proc peer)
{
	if (!pm_proc_valid(peer) || peer == c->self || !c->chans[peer].open)
		return NULL;
	return &c->chans[peer];
}

static void
report_misbehaving(struct child_ctx *c, Pm__Proc peer, uint64_t dropped);

/*
 * Drops are logged at a limited rate.  A peer child that floods us is
 * reported to privd, which restarts it; privd itself is trusted, and its
 * channel closing means privd is gone, so we go too.
 */
static void
on_chan_event(struct ipc_chan *ch, enum ipc_event ev, int detail, void *arg)
{
	static struct ratelimit rl = RATELIMIT_INIT(1000, 10);
	struct child_ctx *c = arg;
	Pm__Proc peer = ch->rx_pol->from;
	unsigned missed;

	switch (ev) {
	case IPC_EV_DROP:
		if (ratelimit_ok(&rl, now_ms(), &missed))
			log_warnx("%s: dropped message: %s (%llu dropped so far)",
			    ch->rx_pol->name, ipc_drop_name((enum ipc_drop)detail),
			    (unsigned long long)ch->st.dropped);
		break;
	case IPC_EV_CUTOFF:
		log_warnx("%s: too many bad messages; cutting %s off",
		    ch->rx_pol->name, pm_proc_name(peer));
		if (peer != PM__PROC__PROC_PRIVD)
			report_misbehaving(c, peer, ch->st.dropped);
		break;
	case IPC_EV_EOF:
	case IPC_EV_ERROR:
		if (peer == PM__PROC__PROC_PRIVD) {
			log_warnx("privd went away; exiting");
			uv_stop(c->loop);
			break;
		}
		log_debug("%s closed; waiting for privd to restart it",
		    pm_proc_name(peer));
		ipc_chan_close(ch);
		break;
	case IPC_EV_TX_DROP:
		log_warnx("%s: send queue full, message dropped",
		    ch->tx_pol->name);
		break;
	}
}

/* Ready and PeerMisbehaved share their field numbers on all three
 * child->privd envelopes (1 and 2); the .proto files keep it so. */
#define KIND_READY		1
#define KIND_PEER_MISBEHAVED	2

#define SET_PAYLOAD(env, kind, payload) do {				\
	if ((kind) == KIND_READY)					\
		(env).ready = (payload);				\
	else								\
		(env).peer_misbehaved = (payload);			\
} while (0)

/* The envelope towards privd differs per child. */
static int
send_privd(struct child_ctx *c, uint32_t kind, void *payload)
{
	struct ipc_chan *ch = &c->chans[PM__PROC__PROC_PRIVD];

	switch (c->self) {
	case PM__PROC__PROC_NETD: {
		Pm__NetdToPrivd env = PM__NETD_TO_PRIVD__INIT;
		env.msg_case = (Pm__NetdToPrivd__MsgCase)kind;
		SET_PAYLOAD(env, kind, payload);
		return ipc_send(ch, &env.base, -1);
	}
	case PM__PROC__PROC_CTRLD: {
		Pm__CtrldToPrivd env = PM__CTRLD_TO_PRIVD__INIT;
		env.msg_case = (Pm__CtrldToPrivd__MsgCase)kind;
		SET_PAYLOAD(env, kind, payload);
		return ipc_send(ch, &env.base, -1);
	}
	case PM__PROC__PROC_DNSD: {
		Pm__DnsdToPrivd env = PM__DNSD_TO_PRIVD__INIT;
		env.msg_case = (Pm__DnsdToPrivd__MsgCase)kind;
		SET_PAYLOAD(env, kind, payload);
		return ipc_send(ch, &env.base, -1);
	}
	default:
		return -EINVAL;
	}
}

static void
report_misbehaving(struct child_ctx *c, Pm__Proc peer, uint64_t dropped)
{
	Pm__PeerMisbehaved pm = PM__PEER_MISBEHAVED__INIT;

	pm.peer = peer;
	pm.dropped = dropped;
	if (send_privd(c, KIND_PEER_MISBEHAVED, &pm) < 0)
		log_warnx("cannot report %s to privd", pm_proc_name(peer));
}

void
child_procinfo(struct child_ctx *c, Pm__ProcInfo *pi, Pm__ChannelStats *st,
    Pm__ChannelStats **stp)
{
	struct procinfo p;

	pm__proc_info__init(pi);
	pi->proc = c->self;
	pi->user = (char *)c->user;
	if (procinfo_read_fd(c->status_fd, &p) == 0) {
		pi->pid = p.pid;
		pi->uid = p.uid;
		pi->gid = p.gid;
		pi->cap_eff = p.cap_eff;
		pi->cap_prm = p.cap_prm;
		pi->cap_bnd = p.cap_bnd;
		pi->seccomp = p.seccomp;
		pi->no_new_privs = p.no_new_privs;
	}
	for (int peer = PM__PROC__PROC_PRIVD; peer <= PM__PROC__PROC_DNSD; peer++) {
		if (peer == (int)c->self || c->chans[peer].rx_pol == NULL)
			continue;
		pm__channel_stats__init(&st[pi->n_channels]);
		ipc_chan_stats(&c->chans[peer], &st[pi->n_channels]);
		stp[pi->n_channels] = &st[pi->n_channels];
		pi->n_channels++;
	}
	pi->channels = stp;
}

void
child_start(struct child_ctx *c)
{
	Pm__ProcInfo pi;
	Pm__ChannelStats st[PM_NPROC], *stp[PM_NPROC];
	Pm__Ready ready = PM__READY__INIT;

	for (int p = PM__PROC__PROC_PRIVD; p <= PM__PROC__PROC_DNSD; p++) {
		if (p == (int)c->self)
			continue;
		if (ipc_chan_open(&c->chans[p], c->loop, pm_proc_fd((Pm__Proc)p),
		    c->self, (Pm__Proc)p, c->dispatch[p], on_chan_event, c) < 0)
			fatalx("cannot open channel to %s",
			    pm_proc_name((Pm__Proc)p));
	}
	child_procinfo(c, &pi, st, stp);
	ready.info = &pi;
	if (send_privd(c, KIND_READY, &ready) < 0)
		fatalx("cannot send Ready to privd");
	log_debug("sandboxed: uid %u caps %#llx seccomp %u no_new_privs %u",
	    pi.uid, (unsigned long long)pi.cap_eff, pi.seccomp,
	    pi.no_new_privs);
}

int
child_run(struct child_ctx *c)
{
	uv_run(c->loop, UV_RUN_DEFAULT);
	return 0;
}

void
child_handle_peer_channel(struct child_ctx *c, const Pm__PeerChannel *pc,
    struct ipc_msg *m)
{
	struct ipc_chan *ch = &c->chans[pc->peer];
	int r;

	if (ch->rx_pol == NULL)
		r = ipc_chan_open(ch, c->loop, m->fd, c->self, pc->peer,
		    c->dispatch[pc->peer], on_chan_event, c);
	else
		r = ipc_chan_replace(ch, c->loop, m->fd);
	if (r < 0) {
		log_warnx("cannot use new %s channel: %s, ignoring",
		    pm_proc_name(pc->peer), strerror(-r));
		return;
	}
	m->fd = -1;	/* the channel owns it now */
	log_debug("new channel to %s", pm_proc_name(pc->peer));
}

/* netd and dnsd answer ctrld's status question the same way. */
int
child_reply_proc_info(struct child_ctx *c, const Pm__ProcInfoRequest *req)
{
	Pm__ProcInfoReply rep = PM__PROC_INFO_REPLY__INIT;
	Pm__ProcInfo pi;
	Pm__ChannelStats st[PM_NPROC], *stp[PM_NPROC];
	struct ipc_chan *ch = child_chan(c, PM__PROC__PROC_CTRLD);

	if (ch == NULL)
		return 0;
	child_procinfo(c, &pi, st, stp);
	rep.id = req->id;
	rep.info = &pi;
	if (c->self == PM__PROC__PROC_NETD) {
		Pm__NetdToCtrld env = PM__NETD_TO_CTRLD__INIT;
		env.msg_case = PM__NETD_TO_CTRLD__MSG_PROC_INFO_REPLY;
		env.proc_info_reply = &rep;
		return ipc_send(ch, &env.base, -1);
	}
	Pm__DnsdToCtrld env = PM__DNSD_TO_CTRLD__INIT;
	env.msg_case = PM__DNSD_TO_CTRLD__MSG_PROC_INFO_REPLY;
	env.proc_info_reply = &rep;
	return ipc_send(ch, &env.base, -1);
}

#ifdef PM_TEST_HOOKS
/* Test builds only: prove the seccomp filter kills (execve is forbidden). */
void
child_test_forbidden_syscall(struct child_ctx *c)
{
	char *const argv[] = { "/bin/sh", NULL };

	log_warnx("test hook: calling execve(), which %s's filter forbids",
	    c->name);
	execve(argv[0], argv, NULL);
	fatal("execve returned");
}
#endif
