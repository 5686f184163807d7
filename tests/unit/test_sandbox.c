/*
 * sandbox/: root-dir checks, then every role entered for real in a forked
 * child (tests run as root).  The child is not exec'd, so it shares the
 * parent's cmocka state: it never asserts, it reports through its exit
 * status (and a line on stderr), and leaves with _exit() so no atexit
 * handler -- LeakSanitizer's included -- runs inside the sandbox.
 *
 *   parent (cmocka)
 *     `-- fork: set up fds + libuv loop, sandbox_enter(role), probe, _exit
 *   parent: waitpid, exit 0 / killed by SIGSYS / killed by SIGABRT
 *
 * With -DPM_SECCOMP_LOG=1 forbidden syscalls fail with ENOSYS instead of
 * killing, and the expectations follow.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/capability.h>

#include <setjmp.h>
#include <cmocka.h>
#include <seccomp.h>
#include <uv.h>

#include "log.h"
#include "roles.h"	/* PM_SANITIZER_BUILD only */
#include "sandbox.h"
#include "statefile.h"

#if defined(PM_SECCOMP_LOG) && PM_SECCOMP_LOG
#define SECCOMP_LOG_BUILD 1
#else
#define SECCOMP_LOG_BUILD 0
#endif

#define NOBODY_UID	65534
#define NOBODY_GID	65534
#define FORBIDDEN	INT_MIN		/* probe.want: the filter must stop it */

/* privd's capabilities, written out independently of roles.c. */
#define PRIVD_CAPS							\
	((1ULL << CAP_NET_ADMIN) | (1ULL << CAP_SETUID) |		\
	 (1ULL << CAP_SETGID) | (1ULL << CAP_SYS_CHROOT) |		\
	 (1ULL << CAP_SETPCAP) | (1ULL << CAP_KILL) |			\
	 (1ULL << CAP_CHOWN) | (1ULL << CAP_FOWNER))

struct fix {
	enum sandbox_role role;
	char		 root[64];
};

typedef int (*child_fn)(const struct fix *, const void *);

struct probe {
	const char	*name;
	int		(*op)(void);	/* 0 or -errno of the one syscall */
	int		 want;		/* FORBIDDEN or the expected result */
};

/* ------------------------------------------------------------------ */
/* Child side: no cmocka, report through the exit status. */

static int
child_fail(int line, const char *what)
{
	char buf[200];
	int n;

	n = snprintf(buf, sizeof(buf), "test_sandbox child %d: line %d: %s\n",
	    (int)getpid(), line, what);
	if (n > 0)
		(void)!write(STDERR_FILENO, buf, (size_t)n);
	return 1;
}

#define CHILD_CHECK(c)							\
	do {								\
		if (!(c))						\
			return child_fail(__LINE__, #c);		\
	} while (0)

static void
enter(const struct fix *f)
{
	struct sandbox_params p = {
		.role = f->role, .user = "nobody",
		.uid = NOBODY_UID, .gid = NOBODY_GID, .root_dir = f->root,
	};

	log_init(sandbox_role_name(f->role), false);
	sandbox_enter(&p);
}

static ssize_t
read_status(int fd, char *buf, size_t len)
{
	size_t off = 0;
	ssize_t n;

	while (off < len - 1 && (n = pread(fd, buf + off, len - 1 - off,
	    (off_t)off)) > 0)
		off += (size_t)n;
	buf[off] = '\0';
	return (ssize_t)off;
}

static bool
has_line(const char *status, const char *line)
{
	char want[128];

	snprintf(want, sizeof(want), "\n%s\n", line);
	return strstr(status, want) != NULL;
}

/* The Groups: line lists nothing but blanks. */
static bool
no_groups(const char *status)
{
	const char *p = strstr(status, "\nGroups:\t");

	if (p == NULL)
		return false;
	for (p += strlen("\nGroups:\t"); *p == ' '; p++)
		;
	return *p == '\n';
}

static int
check_child_status(int fd)
{
	char buf[4096];

	CHILD_CHECK(read_status(fd, buf, sizeof(buf)) > 0);
	CHILD_CHECK(has_line(buf, "Seccomp:\t2"));
	CHILD_CHECK(has_line(buf, "NoNewPrivs:\t1"));
	CHILD_CHECK(has_line(buf, "CapEff:\t0000000000000000"));
	CHILD_CHECK(has_line(buf, "CapPrm:\t0000000000000000"));
	CHILD_CHECK(has_line(buf, "CapBnd:\t0000000000000000"));
	CHILD_CHECK(has_line(buf, "CapAmb:\t0000000000000000"));
	CHILD_CHECK(has_line(buf, "Uid:\t65534\t65534\t65534\t65534"));
	CHILD_CHECK(has_line(buf, "Gid:\t65534\t65534\t65534\t65534"));
	CHILD_CHECK(no_groups(buf));
	return 0;
}

static int
check_limit(int res, rlim_t want)
{
	struct rlimit rl;

	CHILD_CHECK(getrlimit(res, &rl) == 0);
	CHILD_CHECK(rl.rlim_cur == want && rl.rlim_max == want);
	return 0;
}

static int
check_limits(enum sandbox_role role)
{
	struct rlimit rl;
	bool ctrld = role == SANDBOX_CTRLD;

	if (check_limit(RLIMIT_CORE, 0) || check_limit(RLIMIT_NPROC, 0) ||
	    check_limit(RLIMIT_NOFILE, ctrld ? 4096 : 1024))
		return 1;
	/* ctrld and netd write their state files, dnsd nothing. */
	if (role == SANDBOX_NETD)
		return check_limit(RLIMIT_FSIZE, 4096);
	if (!ctrld)
		return check_limit(RLIMIT_FSIZE, 0);
	CHILD_CHECK(getrlimit(RLIMIT_FSIZE, &rl) == 0 && rl.rlim_cur > 0);
	return 0;
}

static int
send_fd(int sock, int fd)
{
	char data[] = "fd";
	union {
		struct cmsghdr	hdr;
		char		buf[CMSG_SPACE(sizeof(int))];
	} c;
	struct iovec iov = { .iov_base = data, .iov_len = sizeof(data) };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = c.buf, .msg_controllen = sizeof(c.buf),
	};
	struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);

	memset(&c, 0, sizeof(c));
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	return sendmsg(sock, &msg, MSG_DONTWAIT | MSG_NOSIGNAL) ==
	    (ssize_t)sizeof(data) ? 0 : -errno;
}

static int
recv_fd(int sock)
{
	char data[16];
	union {
		struct cmsghdr	hdr;
		char		buf[CMSG_SPACE(sizeof(int))];
	} c;
	struct iovec iov = { .iov_base = data, .iov_len = sizeof(data) };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = c.buf, .msg_controllen = sizeof(c.buf),
	};
	struct cmsghdr *cm;
	int fd;

	if (recvmsg(sock, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT) < 0)
		return -errno;
	if ((cm = CMSG_FIRSTHDR(&msg)) == NULL || cm->cmsg_type != SCM_RIGHTS)
		return -EBADMSG;
	memcpy(&fd, CMSG_DATA(cm), sizeof(int));
	return fd;
}

/* A child's loop as the daemons build it: timer, SIGTERM, a channel. */
struct uvt {
	uv_loop_t	 loop;
	uv_poll_t	 poll;
	uv_timer_t	 timer;
	uv_signal_t	 sig;
	int		 sp[2];
	int		 status_fd;
	int		 fail;		/* a callback failed */
	bool		 received, ticked;
};

static void
on_signal(uv_signal_t *h, int signum)
{
	(void)signum;
	uv_stop(h->loop);
}

static void
on_timer(uv_timer_t *h)
{
	struct uvt *t = h->loop->data;

	t->ticked = true;
	uv_close((uv_handle_t *)&t->timer, NULL);
	uv_close((uv_handle_t *)&t->sig, NULL);
	uv_close((uv_handle_t *)&t->poll, NULL);
}

static int
handle_fd(struct uvt *t)
{
	int fd = recv_fd(t->sp[1]);

	CHILD_CHECK(fd >= 0);
	CHILD_CHECK((fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0);
	if (check_child_status(fd) != 0)
		return 1;
	CHILD_CHECK(close(fd) == 0);
	return 0;
}

static void
on_readable(uv_poll_t *h, int status, int events)
{
	struct uvt *t = h->loop->data;

	(void)events;
	t->received = true;
	if (status < 0 || handle_fd(t) != 0)
		t->fail = 1;
	uv_poll_stop(h);
	uv_timer_start(&t->timer, on_timer, 1, 0);
}

static int
uvt_init(struct uvt *t)
{
	CHILD_CHECK((t->status_fd = open("/proc/self/status",
	    O_RDONLY | O_CLOEXEC)) >= 0);
	CHILD_CHECK(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0,
	    t->sp) == 0);
	CHILD_CHECK(uv_loop_init(&t->loop) == 0);
	t->loop.data = t;
	CHILD_CHECK(uv_timer_init(&t->loop, &t->timer) == 0);
	CHILD_CHECK(uv_signal_init(&t->loop, &t->sig) == 0);
	CHILD_CHECK(uv_signal_start(&t->sig, on_signal, SIGTERM) == 0);
	CHILD_CHECK(uv_poll_init(&t->loop, &t->poll, t->sp[1]) == 0);
	return 0;
}

/* (1) The whole life of a sandboxed child, all of it inside the filter. */
static int
child_runs(const struct fix *f, const void *arg)
{
	struct uvt t;

	(void)arg;
	memset(&t, 0, sizeof(t));
	if (uvt_init(&t) != 0)
		return 1;
	enter(f);
	CHILD_CHECK(send_fd(t.sp[0], t.status_fd) == 0);
	CHILD_CHECK(uv_poll_start(&t.poll, UV_READABLE, on_readable) == 0);
	CHILD_CHECK(uv_run(&t.loop, UV_RUN_DEFAULT) == 0);
	CHILD_CHECK(t.received && t.ticked && t.fail == 0);
	CHILD_CHECK(uv_loop_close(&t.loop) == 0);
	CHILD_CHECK(check_child_status(t.status_fd) == 0);
	CHILD_CHECK(kill(getpid(), 0) == 0);
	return check_limits(f->role);
}

/* (2), (3) One syscall after entering, judged by probe.want. */
static int
child_probe(const struct fix *f, const void *arg)
{
	const struct probe *pr = arg;
	int rc;

	enter(f);
	rc = pr->op();
	if (pr->want == FORBIDDEN && SECCOMP_LOG_BUILD)
		CHILD_CHECK(rc == -ENOSYS);
	else if (pr->want == FORBIDDEN)
		return child_fail(__LINE__, pr->name);	/* survived */
	else
		CHILD_CHECK(rc == pr->want);
	return 0;
}

static int
child_abort(const struct fix *f, const void *arg)
{
	(void)arg;
	enter(f);
	abort();
}

/* ctrld's API path: accept a client on a listener opened beforehand and
 * learn its credentials. */
static int
child_unix_server(const struct fix *f, const void *arg)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct ucred cr;
	socklen_t len = sizeof(cr);
	int lfd, cfd, afd;

	(void)arg;
	snprintf(sun.sun_path + 1, sizeof(sun.sun_path) - 1, "pm-sbx-%d",
	    (int)getpid());
	CHILD_CHECK((lfd = socket(AF_UNIX, SOCK_STREAM, 0)) >= 0);
	CHILD_CHECK(bind(lfd, (struct sockaddr *)&sun, sizeof(sun)) == 0);
	CHILD_CHECK(listen(lfd, 4) == 0);
	CHILD_CHECK((cfd = socket(AF_UNIX, SOCK_STREAM, 0)) >= 0);
	CHILD_CHECK(connect(cfd, (struct sockaddr *)&sun, sizeof(sun)) == 0);
	enter(f);
	CHILD_CHECK((afd = accept4(lfd, NULL, NULL,
	    SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0);
	CHILD_CHECK(getsockopt(afd, SOL_SOCKET, SO_PEERCRED, &cr, &len) == 0);
	CHILD_CHECK(cr.pid == getpid() && cr.uid == 0);
	CHILD_CHECK(shutdown(afd, SHUT_RDWR) == 0);
	return 0;
}

static int
udp_loopback(int fd)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof(sin);
	int one = 1, pmtu = IP_PMTUDISC_DO, buf = 1 << 16;
	char rx[8];

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	CHILD_CHECK(setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf,
	    sizeof(buf)) == 0);
	CHILD_CHECK(setsockopt(fd, IPPROTO_IP, IP_MTU_DISCOVER, &pmtu,
	    sizeof(pmtu)) == 0);
	CHILD_CHECK(setsockopt(fd, SOL_UDP, UDP_GRO, &one, sizeof(one)) == 0);
	CHILD_CHECK(bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0);
	CHILD_CHECK(getsockname(fd, (struct sockaddr *)&sin, &len) == 0);
	CHILD_CHECK(sendto(fd, "ping", 4, 0, (struct sockaddr *)&sin,
	    sizeof(sin)) == 4);
	CHILD_CHECK(recvfrom(fd, rx, sizeof(rx), 0, NULL, NULL) == 4);
	return 0;
}

/* netd and dnsd: their own UDP sockets, within the listed options. */
static int
child_udp(const struct fix *f, const void *arg)
{
	int fd, fd6, off = 0;

	(void)arg;
	enter(f);
	CHILD_CHECK((fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC,
	    IPPROTO_UDP)) >= 0);
	if (udp_loopback(fd) != 0)
		return 1;
	/* The filter must let AF_INET6 through; the host may lack IPv6. */
	fd6 = socket(AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	CHILD_CHECK(fd6 >= 0 || errno == EAFNOSUPPORT);
	if (fd6 >= 0)
		CHILD_CHECK(setsockopt(fd6, IPPROTO_IPV6, IPV6_V6ONLY, &off,
		    sizeof(off)) == 0);
	return 0;
}

/* dnsd: DNS over TCP to an upstream (a listener opened beforehand). */
static int
child_tcp(const struct fix *f, const void *arg)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof(sin), elen = sizeof(int);
	int lfd, fd, err = -1;

	(void)arg;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	CHILD_CHECK((lfd = socket(AF_INET, SOCK_STREAM, 0)) >= 0);
	CHILD_CHECK(bind(lfd, (struct sockaddr *)&sin, sizeof(sin)) == 0);
	CHILD_CHECK(listen(lfd, 4) == 0);
	CHILD_CHECK(getsockname(lfd, (struct sockaddr *)&sin, &len) == 0);
	enter(f);
	CHILD_CHECK((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC,
	    IPPROTO_TCP)) >= 0);
	CHILD_CHECK(connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0);
	CHILD_CHECK(getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) == 0);
	CHILD_CHECK(err == 0);
	CHILD_CHECK(write(fd, "\0\0", 2) == 2);
	return 0;
}

static int
child_privd(const struct fix *f, const void *arg)
{
	char buf[4096], want[64];
	int fd;

	(void)arg;
	log_init("privd", false);
	sandbox_enter(&(struct sandbox_params){ .role = f->role });
	CHILD_CHECK((fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC)) >= 0);
	CHILD_CHECK(read_status(fd, buf, sizeof(buf)) > 0);
	snprintf(want, sizeof(want), "CapEff:\t%016llx", PRIVD_CAPS);
	CHILD_CHECK(has_line(buf, want));
	snprintf(want, sizeof(want), "CapPrm:\t%016llx", PRIVD_CAPS);
	CHILD_CHECK(has_line(buf, want));
	snprintf(want, sizeof(want), "CapBnd:\t%016llx", PRIVD_CAPS);
	CHILD_CHECK(has_line(buf, want));
	CHILD_CHECK(has_line(buf, "CapInh:\t0000000000000000"));
	CHILD_CHECK(has_line(buf, "CapAmb:\t0000000000000000"));
	CHILD_CHECK(has_line(buf, "NoNewPrivs:\t1"));
	CHILD_CHECK(has_line(buf, "Seccomp:\t2"));
	CHILD_CHECK(has_line(buf, "Uid:\t0\t0\t0\t0"));
	return check_limit(RLIMIT_CORE, 0);
}

/* privd's filter: what the suite never needs as root kills it. */
static int
child_privd_forbidden(const struct fix *f, const void *arg)
{
	long which = (long)(intptr_t)arg;

	log_init("privd", false);
	sandbox_enter(&(struct sandbox_params){ .role = f->role });
	switch (which) {
	case 0:
		(void)syscall(SYS_ptrace, 0 /* PTRACE_TRACEME */, 0, 0, 0);
		break;
	case 1:
		(void)syscall(SYS_unshare, CLONE_NEWNET);
		break;
	case 2:
		(void)syscall(SYS_mount, "none", "/mnt", "tmpfs", 0, NULL);
		break;
	default:
		(void)syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0);
		break;
	}
	return 0;
}

/* Must die in sandbox_enter(): exit status 1 from fatal(). */
static int
child_enter_only(const struct fix *f, const void *arg)
{
	const struct sandbox_params *p = arg;
	struct sandbox_params q = *p;

	q.root_dir = q.root_dir != NULL ? q.root_dir : f->root;
	sandbox_enter(&q);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Probes: one syscall each, returning 0 or -errno. */

#define RET(x)	((x) < 0 ? -errno : 0)

static int
op_mmap_exec(void)
{
	void *p = mmap(NULL, 4096, PROT_READ | PROT_EXEC,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? -errno : 0;
}

static int
op_mprotect_exec(void)
{
	void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return -errno;
	return RET(mprotect(p, 4096, PROT_READ | PROT_EXEC));
}

static int
op_execve(void)
{
	char *const argv[] = { (char *)"sh", NULL };
	char *const envp[] = { NULL };

	return RET(execve("/bin/sh", argv, envp));
}

static int
op_fork(void)
{
	pid_t pid = fork();

	if (pid == 0)
		_exit(0);
	return RET(pid);
}

static int op_openat(void) { return RET(openat(AT_FDCWD, "/etc/passwd", O_RDONLY)); }
static int op_open(void) { return RET(open("/etc/passwd", O_RDONLY)); }
static int op_access(void) { return RET(access("/etc/passwd", R_OK)); }

static int
op_stat(void)
{
	struct stat st;

	return RET(stat("/etc/passwd", &st));
}

static int
op_fstat(void)
{
	struct stat st;

	return RET(fstat(STDERR_FILENO, &st));
}

static int
op_readlink(void)
{
	char buf[64];

	return RET(readlink("/proc/self/exe", buf, sizeof(buf)));
}

static int op_kill_parent(void) { return RET(kill(getppid(), 0)); }

static int
op_setrlimit(void)
{
	struct rlimit rl = { 16, 16 };

	return RET(setrlimit(RLIMIT_NOFILE, &rl));
}

static int
op_getrlimit(void)
{
	struct rlimit rl;

	return RET(getrlimit(RLIMIT_NOFILE, &rl));
}

static int op_ptrace(void) { return RET(ptrace(PTRACE_TRACEME, 0, NULL, NULL)); }
static int op_prctl_name(void) { return RET(prctl(PR_SET_NAME, "x", 0, 0, 0)); }
static int op_tiocsti(void) { return RET(ioctl(STDERR_FILENO, TIOCSTI, "x")); }
static int op_fcntl_dup(void) { return RET(fcntl(STDERR_FILENO, F_DUPFD, 10)); }
static int op_unix_socket(void) { return RET(socket(AF_UNIX, SOCK_DGRAM, 0)); }
static int op_raw_socket(void) { return RET(socket(AF_INET, SOCK_RAW, IPPROTO_UDP)); }
static int op_tcp_socket(void) { return RET(socket(AF_INET, SOCK_STREAM, 0)); }
static int op_udp_socket(void) { return RET(socket(AF_INET, SOCK_DGRAM, 0)); }

static int
udp_sockopt(int level, int name)
{
	int fd = socket(AF_INET, SOCK_DGRAM, 0), one = 1;

	if (fd < 0)
		return -errno;
	return RET(setsockopt(fd, level, name, &one, sizeof(one)));
}

static int op_reuseaddr(void) { return udp_sockopt(SOL_SOCKET, SO_REUSEADDR); }
static int op_so_mark(void) { return udp_sockopt(SOL_SOCKET, SO_MARK); }
static int op_rcvbufforce(void) { return udp_sockopt(SOL_SOCKET, SO_RCVBUFFORCE); }

static int
op_getsockopt_type(void)
{
	int type;
	socklen_t len = sizeof(type);

	return RET(getsockopt(STDERR_FILENO, SOL_SOCKET, SO_TYPE, &type, &len));
}

/* Forbidden in every child. */
static const struct probe child_probes[] = {
	{ "mmap PROT_EXEC", op_mmap_exec, FORBIDDEN },
	{ "mprotect PROT_EXEC", op_mprotect_exec, FORBIDDEN },
	{ "execve", op_execve, FORBIDDEN },
	{ "kill(parent)", op_kill_parent, FORBIDDEN },
	{ "setrlimit", op_setrlimit, FORBIDDEN },
	{ "ptrace", op_ptrace, FORBIDDEN },
	{ "prctl(PR_SET_NAME)", op_prctl_name, FORBIDDEN },
	{ "ioctl(TIOCSTI)", op_tiocsti, FORBIDDEN },
	{ "fcntl(F_DUPFD)", op_fcntl_dup, FORBIDDEN },
	{ "socket(AF_UNIX)", op_unix_socket, FORBIDDEN },
	{ "socket(SOCK_RAW)", op_raw_socket, FORBIDDEN },
	{ "getsockopt(SO_TYPE)", op_getsockopt_type, FORBIDDEN },
	{ "access", op_access, -EACCES },
	{ "stat", op_stat, -EACCES },
	{ "readlink", op_readlink, -EACCES },
	{ "fstat", op_fstat, 0 },
	{ "getrlimit", op_getrlimit, 0 },
};

/* Forbidden in netd and dnsd: UDP, but only with the listed options. */
static const struct probe udp_probes[] = {
	{ "SO_REUSEADDR", op_reuseaddr, FORBIDDEN },
	{ "SO_MARK", op_so_mark, FORBIDDEN },
	{ "SO_RCVBUFFORCE", op_rcvbufforce, FORBIDDEN },
};

/* dnsd has no files at all; ctrld and netd may open files, but only in
 * their root (here empty, so /etc/passwd is not there). */
static const struct probe nofile_probes[] = {
	{ "openat", op_openat, -EACCES },
	{ "open", op_open, -EACCES },
};
static const struct probe statefile_probes[] = {
	{ "openat", op_openat, -ENOENT },
	{ "open", op_open, -ENOENT },
};

static const struct probe netd_probes[] = {
	{ "socket(SOCK_STREAM)", op_tcp_socket, FORBIDDEN },
};

/* ctrld: TCP (and TLS) to the control server, UDP to a nameserver for
 * its name, but no UDP options (no server sockets). */
static const struct probe ctrld_probes[] = {
	{ "socket(AF_INET, SOCK_DGRAM)", op_udp_socket, 0 },
	{ "socket(AF_INET, SOCK_STREAM)", op_tcp_socket, 0 },
	{ "SO_REUSEADDR", op_reuseaddr, FORBIDDEN },
};

/* ------------------------------------------------------------------ */
/* Parent side. */

static int
run_child(const struct fix *f, child_fn fn, const void *arg)
{
	pid_t pid;
	int st;

	fflush(NULL);
	if ((pid = fork()) == 0)
		_exit(fn(f, arg));
	assert_true(pid > 0);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	return st;
}

static void
expect_exit(int st, int code, const char *what)
{
	if (WIFEXITED(st) && WEXITSTATUS(st) == code)
		return;
	fail_msg("%s: wanted exit %d, got status 0x%x (signal %d)", what,
	    code, st, WIFSIGNALED(st) ? WTERMSIG(st) : 0);
}

static void
expect_signal(int st, int sig, const char *what)
{
	if (WIFSIGNALED(st) && WTERMSIG(st) == sig)
		return;
	fail_msg("%s: wanted signal %d, got status 0x%x", what, sig, st);
}

static void
run_probes(const struct fix *f, const struct probe *pr, size_t n)
{
	char what[96];

	for (size_t i = 0; i < n; i++) {
		int st = run_child(f, child_probe, &pr[i]);

		snprintf(what, sizeof(what), "%s: %s",
		    sandbox_role_name(f->role), pr[i].name);
		if (pr[i].want == FORBIDDEN && !SECCOMP_LOG_BUILD)
			expect_signal(st, SIGSYS, what);
		else
			expect_exit(st, 0, what);
	}
}

#define NPROBES(a)	(sizeof(a) / sizeof((a)[0]))

static int
make_root(void **state)
{
	struct fix *f = *state;

	snprintf(f->root, sizeof(f->root), "/tmp/pm-sbx-root-XXXXXX");
	if (mkdtemp(f->root) == NULL || chmod(f->root, 0755) != 0)
		return -1;
	return 0;
}

static int
remove_root(void **state)
{
	struct fix *f = *state;

	return rmdir(f->root);
}

static void
test_root_dir_good(void **state)
{
	struct fix *f = *state;

	assert_int_equal(sandbox_check_root_dir(f->root), 0);
}

static void
test_root_dir_bad(void **state)
{
	struct fix *f = *state;
	static const mode_t bad[] = { 0777, 0775, 0757, 01777 };
	char file[96];
	int fd;

	for (size_t i = 0; i < NPROBES(bad); i++) {
		assert_int_equal(chmod(f->root, bad[i]), 0);
		assert_int_equal(sandbox_check_root_dir(f->root), -EPERM);
	}
	assert_int_equal(chmod(f->root, 0755), 0);
	assert_int_equal(chown(f->root, NOBODY_UID, NOBODY_GID), 0);
	assert_int_equal(sandbox_check_root_dir(f->root), -EPERM);
	assert_int_equal(chown(f->root, 0, 0), 0);

	snprintf(file, sizeof(file), "%s/file", f->root);
	assert_true((fd = open(file, O_CREAT | O_WRONLY, 0644)) >= 0);
	close(fd);
	assert_int_equal(sandbox_check_root_dir(file), -ENOTDIR);
	assert_int_equal(unlink(file), 0);
	assert_int_equal(sandbox_check_root_dir(file), -ENOENT);
}

static void
test_seccomp_build(void **state)
{
	(void)state;
	for (int role = SANDBOX_PRIVD; role < SANDBOX_NROLES; role++) {
		void *ctx = sandbox_seccomp_build((enum sandbox_role)role);
		int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);

		assert_non_null(ctx);
		assert_int_equal(seccomp_export_bpf(ctx, fd), 0);
		close(fd);
		seccomp_release(ctx);
	}
	assert_null(sandbox_seccomp_build(SANDBOX_NROLES));
	assert_int_equal(errno, EINVAL);
}

static void
test_child_runs(void **state)
{
	const struct fix *f = *state;

	expect_exit(run_child(f, child_runs, NULL), 0,
	    sandbox_role_name(f->role));
}

static void
test_child_probes(void **state)
{
	const struct fix *f = *state;

	run_probes(f, child_probes, NPROBES(child_probes));
	if (f->role == SANDBOX_DNSD)
		run_probes(f, nofile_probes, NPROBES(nofile_probes));
	else
		run_probes(f, statefile_probes, NPROBES(statefile_probes));
	if (f->role == SANDBOX_NETD || f->role == SANDBOX_DNSD)
		run_probes(f, udp_probes, NPROBES(udp_probes));
	if (f->role == SANDBOX_NETD)
		run_probes(f, netd_probes, NPROBES(netd_probes));
	if (f->role == SANDBOX_CTRLD)
		run_probes(f, ctrld_probes, NPROBES(ctrld_probes));
}

/* No fork, not even for threads (seccomp and RLIMIT_NPROC); sanitizer
 * builds answer clone with EPERM instead, for the symbolizer's sake. */
static void
test_child_no_fork(void **state)
{
	const struct fix *f = *state;
#ifdef PM_SANITIZER_BUILD
	const struct probe pr = { "fork", op_fork, -EPERM };
#else
	const struct probe pr = { "fork", op_fork, FORBIDDEN };
#endif

	run_probes(f, &pr, 1);
}

/* abort() must still work: it signals only ourselves. */
static void
test_child_abort(void **state)
{
	const struct fix *f = *state;

	expect_signal(run_child(f, child_abort, NULL), SIGABRT, "abort");
}

static void
test_udp(void **state)
{
	const struct fix *f = *state;

	expect_exit(run_child(f, child_udp, NULL), 0, "udp");
}

static void
test_dnsd_tcp(void **state)
{
	const struct fix *f = *state;

	expect_exit(run_child(f, child_tcp, NULL), 0, "dnsd tcp");
}

static void
test_ctrld_unix_server(void **state)
{
	const struct fix *f = *state;

	expect_exit(run_child(f, child_unix_server, NULL), 0, "ctrld api");
}

static void
test_privd(void **state)
{
	const struct fix *f = *state;

	expect_exit(run_child(f, child_privd, NULL), 0, "privd");
	for (long i = 0; i < 4; i++)
		expect_signal(run_child(f, child_privd_forbidden,
		    (const void *)(intptr_t)i), SIGSYS, "privd forbidden call");
}

/* Refusals are fatal: uid 0, a writable root dir, a relative path. */
static void
test_enter_refuses(void **state)
{
	struct fix *f = *state;
	const struct sandbox_params as_root = {
		.role = SANDBOX_NETD, .user = "root", .uid = 0, .gid = 0,
	};
	const struct sandbox_params nobody = {
		.role = SANDBOX_NETD, .user = "nobody",
		.uid = NOBODY_UID, .gid = NOBODY_GID,
	};
	const struct sandbox_params relative = {
		.role = SANDBOX_NETD, .user = "nobody",
		.uid = NOBODY_UID, .gid = NOBODY_GID, .root_dir = "tmp",
	};

	expect_exit(run_child(f, child_enter_only, &as_root), 1, "uid 0");
	expect_exit(run_child(f, child_enter_only, &relative), 1, "relative");
	assert_int_equal(chmod(f->root, 0777), 0);
	expect_exit(run_child(f, child_enter_only, &nobody), 1, "0777 root");
	assert_int_equal(chmod(f->root, 0755), 0);
}

/* ctrld and netd may use their own 0700 directory as root (it holds their
 * keys) and write a state file there; dnsd may not, nor may a role use a
 * directory another user owns or one with group/other bits. */
static int
child_state_root(const struct fix *f, const void *arg)
{
	char buf[8];

	(void)arg;
	enter(f);
	CHILD_CHECK(statefile_write("k", "x\n", 2) == 0);
	CHILD_CHECK(statefile_read("/k", buf, sizeof(buf)) == 2);
	CHILD_CHECK(statefile_read("k.tmp", buf, sizeof(buf)) == -ENOENT);
	return 0;
}

static void
test_state_root(void **state)
{
	struct fix *f = *state, own = *f;
	const struct sandbox_params p = {
		.role = f->role, .user = "nobody", .uid = NOBODY_UID,
		.gid = NOBODY_GID, .root_dir = f->root,
	};
	char file[PATH_MAX + 8], buf[8];

	assert_int_equal(chown(f->root, NOBODY_UID, NOBODY_GID), 0);
	assert_int_equal(chmod(f->root, 0700), 0);
	if (f->role == SANDBOX_DNSD)
		expect_exit(run_child(f, child_enter_only, &p), 1,
		    "dnsd in a writable root");
	else {
		expect_exit(run_child(&own, child_state_root, NULL), 0,
		    "state root");
		snprintf(file, sizeof(file), "%s/k", f->root);
		assert_int_equal(statefile_read(file, buf, sizeof(buf)), 2);
		assert_int_equal(unlink(file), 0);
		assert_int_equal(chmod(f->root, 0750), 0);
		expect_exit(run_child(f, child_enter_only, &p), 1,
		    "state root with group bits");
	}
	assert_int_equal(chown(f->root, 0, 0), 0);
	assert_int_equal(chmod(f->root, 0755), 0);
}

static struct fix fx_privd = { .role = SANDBOX_PRIVD };
static struct fix fx_netd = { .role = SANDBOX_NETD };
static struct fix fx_ctrld = { .role = SANDBOX_CTRLD };
static struct fix fx_dnsd = { .role = SANDBOX_DNSD };

#define T(fn, fx)							\
	cmocka_unit_test_prestate_setup_teardown(fn, make_root,	\
	    remove_root, &fx)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_root_dir_good, fx_netd),
		T(test_root_dir_bad, fx_netd),
		T(test_seccomp_build, fx_netd),
		T(test_enter_refuses, fx_netd),
		T(test_privd, fx_privd),
		T(test_child_runs, fx_netd),
		T(test_child_runs, fx_ctrld),
		T(test_child_runs, fx_dnsd),
		T(test_child_probes, fx_netd),
		T(test_child_probes, fx_ctrld),
		T(test_child_probes, fx_dnsd),
		T(test_child_no_fork, fx_netd),
		T(test_child_no_fork, fx_ctrld),
		T(test_child_no_fork, fx_dnsd),
		T(test_child_abort, fx_netd),
		T(test_child_abort, fx_ctrld),
		T(test_child_abort, fx_dnsd),
		T(test_udp, fx_netd),
		T(test_udp, fx_dnsd),
		T(test_dnsd_tcp, fx_dnsd),
		T(test_ctrld_unix_server, fx_ctrld),
		T(test_state_root, fx_ctrld),
		T(test_state_root, fx_netd),
		T(test_state_root, fx_dnsd),
	};

	if (geteuid() != 0) {
		fprintf(stderr, "test_sandbox: needs root, skipping\n");
		return 77;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
