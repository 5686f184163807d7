/*
 * Starting children.  Every (re)start is the same path: fresh socketpairs,
 * fork, descriptors moved to their fixed numbers (ipc/fds.h), everything
 * else closed, exec of the child binary.  The child enters its sandbox
 * itself and then sends Ready; only after privd checked that sandbox from
 * /proc does it hand the child its resources (TUN, API socket).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "pm_config.h"
#include "dns_os.h"
#include "privd.h"
#include "procinfo.h"
#include "wgmode.h"
#include "privd_to_ctrld.pb-c.h"
#include "privd_to_dnsd.pb-c.h"
#include "privd_to_netd.pb-c.h"

static const char *const env_pass[] = {
	/* Only sanitizer settings reach the children. */
	"ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS",
};

struct child *
privd_child(struct privd *pd, Pm__Proc p)
{
	for (int i = 0; i < PRIVD_NCHILD; i++)
		if (pd->kids[i].proc == p)
			return &pd->kids[i];
	return NULL;
}

struct child *
privd_child_by_pid(struct privd *pd, pid_t pid)
{
	for (int i = 0; i < PRIVD_NCHILD; i++)
		if (pd->kids[i].pid == pid && pid > 0)
			return &pd->kids[i];
	return NULL;
}

/* A binary root will exec must not be writable by anyone but root. */
static int
binary_ok(const char *path)
{
	struct stat st;

	if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
		return -ENOENT;
	if (st.st_uid != 0 || (st.st_mode & (S_IWGRP | S_IWOTH)))
		return -EPERM;
	return access(path, X_OK) == 0 ? 0 : -EACCES;
}

/*
 * Installed: <libexecdir>/privmesh/<name>.  Build tree: ../<name>/<name>
 * next to privd.  --libexec-dir overrides both.
 */
static void
locate(struct child *k, const char *exedir, const char *override)
{
	char cand[2][PATH_MAX + 32];
	int n = 0, r = -ENOENT;

	if (override != NULL)
		snprintf(cand[n++], sizeof(cand[0]), "%s/%s", override, k->name);
	else {
		snprintf(cand[n++], sizeof(cand[0]), "%s/%s", PM_LIBEXECDIR,
		    k->name);
		snprintf(cand[n++], sizeof(cand[0]), "%s/../%s/%s", exedir,
		    k->name, k->name);
	}
	for (int i = 0; i < n; i++) {
		if ((r = binary_ok(cand[i])) == 0 &&
		    realpath(cand[i], k->bin) != NULL)
			return;
		if (r == -EPERM)
			fatalx("%s: refusing to exec %s: not owned by root or "
			    "writable by group/others", k->name, cand[i]);
	}
	fatalx("cannot find the %s binary (tried %s%s%s); use --libexec-dir",
	    k->name, cand[0], n > 1 ? " and " : "", n > 1 ? cand[1] : "");
}

void
privd_locate_binaries(struct privd *pd, const char *argv0)
{
	char exe[PATH_MAX - 64];
	ssize_t n;

	(void)argv0;
	if ((n = readlink("/proc/self/exe", exe, sizeof(exe) - 1)) < 0)
		fatal("readlink /proc/self/exe");
	exe[n] = '\0';
	*strrchr(exe, '/') = '\0';
	for (int i = 0; i < PRIVD_NCHILD; i++)
		locate(&pd->kids[i], exe, pd->opt.libexec_dir);
}

/* Gives `k` a fresh channel to every other child that lacks one. */
static int
make_peer_ends(struct child *k)
{
	struct privd *pd = k->pd;

	for (int i = 0; i < PRIVD_NCHILD; i++) {
		struct child *j = &pd->kids[i];
		int sv[2];

		if (j == k || k->ends[j->proc] >= 0)
			continue;
		if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0)
			return -errno;
		k->ends[j->proc] = sv[0];
		if (j->ends[k->proc] >= 0)
			close(j->ends[k->proc]);
		j->ends[k->proc] = sv[1];
	}
	return 0;
}

int
privd_send_peer_channel(struct child *j, Pm__Proc peer, int fd)
{
	Pm__PeerChannel pc = PM__PEER_CHANNEL__INIT;

	pc.peer = peer;
	switch (j->proc) {
	case PM__PROC__PROC_NETD: {
		Pm__PrivdToNetd env = PM__PRIVD_TO_NETD__INIT;
		env.msg_case = PM__PRIVD_TO_NETD__MSG_PEER_CHANNEL;
		env.peer_channel = &pc;
		return ipc_send(&j->chan, &env.base, fd);
	}
	case PM__PROC__PROC_CTRLD: {
		Pm__PrivdToCtrld env = PM__PRIVD_TO_CTRLD__INIT;
		env.msg_case = PM__PRIVD_TO_CTRLD__MSG_PEER_CHANNEL;
		env.peer_channel = &pc;
		return ipc_send(&j->chan, &env.base, fd);
	}
	case PM__PROC__PROC_DNSD: {
		Pm__PrivdToDnsd env = PM__PRIVD_TO_DNSD__INIT;
		env.msg_case = PM__PRIVD_TO_DNSD__MSG_PEER_CHANNEL;
		env.peer_channel = &pc;
		return ipc_send(&j->chan, &env.base, fd);
	}
	default:
		return -EINVAL;
	}
}

/* Passes j's pending end of its channel to `peer` and forgets it. */
static void
pass_end(struct child *j, Pm__Proc peer)
{
	int fd = j->ends[peer], r;

	if ((r = privd_send_peer_channel(j, peer, fd)) < 0)
		log_warnx("%s: cannot pass new %s channel: %s, ignoring",
		    j->name, pm_proc_name(peer), strerror(-r));
	close(fd);
	j->ends[peer] = -1;
}

/*
 * Once `k` is confirmed sandboxed, every channel end created while it or a
 * peer restarted is handed over: k's own pending ends to k, and each
 * running peer's pending end towards k to that peer.  Peers not running
 * get theirs at exec.
 */
static void
deliver_peer_ends(struct child *k)
{
	for (int i = 0; i < PRIVD_NCHILD; i++) {
		struct child *j = &k->pd->kids[i];

		if (j == k)
			continue;
		if (k->ends[j->proc] >= 0)
			pass_end(k, j->proc);
		if (j->ends[k->proc] >= 0 &&
		    j->state == PM__CHILD_STATE__CHILD_RUNNING)
			pass_end(j, k->proc);
	}
}

/* In the forked child: place descriptors, close the rest, exec. */
static void __attribute__((noreturn))
exec_child(struct child *k, int privd_end, int log_end)
{
	char uid[16], gid[16], root[PATH_MAX];
	char *argv[16], *envp[4];
	int src[PM_FD_LAST + 1], n = 0, e = 0, devnull;
	sigset_t none;

	for (int fd = 0; fd <= PM_FD_LAST; fd++)
		src[fd] = -1;
	/* Lift every source above the fixed range first so dup2 cannot
	 * clobber a source that happens to sit on a target number. */
	src[PM_FD_PRIVD] = fcntl(privd_end, F_DUPFD_CLOEXEC, 64);
	for (int p = PM__PROC__PROC_CTRLD; p <= PM__PROC__PROC_DNSD; p++)
		if (k->ends[p] >= 0)
			src[pm_proc_fd((Pm__Proc)p)] =
			    fcntl(k->ends[p], F_DUPFD_CLOEXEC, 64);
	/* stdin is /dev/null; stdout and stderr go to privd, which relays
	 * them, so a child never writes to a file. */
	if ((devnull = open("/dev/null", O_RDWR)) < 0 || dup2(devnull, 0) < 0 ||
	    dup2(log_end, 1) < 0 || dup2(log_end, 2) < 0)
		_exit(126);
	for (int fd = PM_FD_PRIVD; fd <= PM_FD_LAST; fd++)
		if (src[fd] >= 0 && dup2(src[fd], fd) < 0)
			_exit(126);
	closefrom(PM_FD_LAST + 1);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	snprintf(uid, sizeof(uid), "%u", (unsigned)k->uid);
	snprintf(gid, sizeof(gid), "%u", (unsigned)k->gid);
	argv[n++] = (char *)k->name;
	argv[n++] = "--user";
	argv[n++] = (char *)k->user;
	argv[n++] = "--uid";
	argv[n++] = uid;
	argv[n++] = "--gid";
	argv[n++] = gid;
	/* ctrld and netd live in their own state directory (keys, prefs);
	 * dnsd keeps the empty root. */
	if (k->proc == PM__PROC__PROC_CTRLD || k->proc == PM__PROC__PROC_NETD)
		snprintf(root, sizeof(root), "%s/%s", k->pd->opt.state_dir,
		    k->name);
	else
		snprintf(root, sizeof(root), "%s", k->pd->root_dir);
	argv[n++] = "--root";
	argv[n++] = root;
	if (k->pd->opt.debug)
		argv[n++] = "--debug";
	argv[n] = NULL;
	for (size_t i = 0; i < sizeof(env_pass) / sizeof(env_pass[0]); i++) {
		const char *v = getenv(env_pass[i]);
		static char buf[3][512];
		if (v != NULL) {
			snprintf(buf[e], sizeof(buf[e]), "%s=%s", env_pass[i], v);
			envp[e] = buf[e];
			e++;
		}
	}
	envp[e] = NULL;
	execve(k->bin, argv, envp);
	_exit(127);
}

static void close_ends(struct child *k)
{
	for (int p = 0; p <= PM_NPROC; p++)
		if (k->ends[p] >= 0) {
			close(k->ends[p]);
			k->ends[p] = -1;
		}
}

int
privd_spawn(struct child *k)
{
	struct privd *pd = k->pd;
	int sv[2], lp[2], r;
	pid_t pid;

	if ((r = make_peer_ends(k)) < 0)
		return r;
	if (pipe2(lp, O_CLOEXEC) != 0)
		return -errno;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
		r = -errno;
		close(lp[0]);
		close(lp[1]);
		return r;
	}
	if ((pid = fork()) < 0) {
		r = -errno;
		close(sv[0]);
		close(sv[1]);
		close(lp[0]);
		close(lp[1]);
		return r;
	}
	if (pid == 0)
		exec_child(k, sv[1], lp[1]);
	close(sv[1]);
	close(lp[1]);
	if (logpipe_open(k, lp[0]) < 0)
		close(lp[0]);
	close_ends(k);
	k->pid = pid;
	k->state = PM__CHILD_STATE__CHILD_STARTING;
	k->started_ms = now_ms();
	if ((r = ipc_chan_open(&k->chan, pd->loop, sv[0], PM__PROC__PROC_PRIVD,
	    k->proc, privd_dispatch_for(k->proc), privd_chan_event, k)) < 0) {
		close(sv[0]);
		kill(pid, SIGKILL);
		return r;
	}
	k->chan.phase = IPC_PHASE_START;
	log_info("started %s as pid %d (user %s)", k->name, (int)pid, k->user);
	return 0;
}

/* Confirms the sandbox from /proc before trusting the child with anything. */
static int
verify_sandbox(struct child *k)
{
	char path[64];
	struct procinfo pi;
	int fd, r;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)k->pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return -errno;
	r = procinfo_read_fd(fd, &pi);
	close(fd);
	if (r < 0)
		return r;
	if (pi.uid != k->uid || pi.uid == 0 || pi.cap_eff != 0 ||
	    pi.cap_prm != 0 || pi.cap_bnd != 0 || pi.seccomp != 2 ||
	    pi.no_new_privs != 1)
		return -EPERM;
	return 0;
}

static void
send_resources(struct child *k)
{
	struct privd *pd = k->pd;
	int r = 0;

	if (k->proc == PM__PROC__PROC_NETD && pd->tun_fd >= 0) {
		Pm__TunDevice t = PM__TUN_DEVICE__INIT;
		Pm__PrivdToNetd env = PM__PRIVD_TO_NETD__INIT;

		t.name = (char *)pd->opt.tun_name;
		t.ifindex = pd->tun_ifindex;
		t.mtu = pd->opt.tun_mtu;
		env.msg_case = PM__PRIVD_TO_NETD__MSG_TUN_DEVICE;
		env.tun_device = &t;
		r = ipc_send(&k->chan, &env.base, pd->tun_fd);
		wgmode_netd_ready(k);
	} else if (k->proc == PM__PROC__PROC_CTRLD && pd->api_fd >= 0) {
		Pm__ApiListener a = PM__API_LISTENER__INIT;
		Pm__PrivdToCtrld env = PM__PRIVD_TO_CTRLD__INIT;

		a.path = (char *)pd->opt.socket_path;
		a.has_operator_gid = pd->has_operator_gid;
		a.operator_gid = pd->operator_gid;
		env.msg_case = PM__PRIVD_TO_CTRLD__MSG_API_LISTENER;
		env.api_listener = &a;
		r = ipc_send(&k->chan, &env.base, pd->api_fd);
	} else if (k->proc == PM__PROC__PROC_DNSD)
		dns_os_dnsd_ready(k);
	if (r < 0)
		log_warnx("%s: cannot send resources: %s", k->name, strerror(-r));
}

void
privd_child_ready(struct child *k)
{
	int r;

	if ((r = verify_sandbox(k)) < 0) {
		log_warnx("%s (pid %d) is not sandboxed as required (%s); "
		    "killing it", k->name, (int)k->pid, strerror(-r));
		privd_cut_off(k, "sandbox not confirmed");
		return;
	}
	k->state = PM__CHILD_STATE__CHILD_RUNNING;
	k->chan.phase = IPC_PHASE_RUN;
	send_resources(k);
	deliver_peer_ends(k);
}
