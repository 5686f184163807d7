/*
 * Seccomp allow-lists for the sandboxed children, composed from small
 * named groups (systemd's syscall_filter_sets, OpenSSH's
 * sandbox-seccomp-filter.c).  roles.c says which groups a process gets.
 *
 *   default action      SCMP_ACT_KILL_PROCESS (SCMP_ACT_TRAP + a SIGSYS
 *                       reporter when built with -Dseccomp_log=true)
 *   foreign arch / ABI  libseccomp's default SCMP_ACT_KILL
 *   libc path probes    fail with EACCES so libc falls back quietly
 *   dangerous calls     allowed only for listed arguments (no PROT_EXEC,
 *                       listed socket families, sockopts, fcntl and ioctl
 *                       requests, signals only to ourselves)
 *
 * A child's event loop and every fd it needs exist before the filter is
 * loaded; afterwards it only moves bytes, fds and time.  Children are
 * single-threaded (RLIMIT_NPROC 0 forbids even threads), so libuv's
 * thread pool (filesystem, getaddrinfo) must not be used in them.  TSYNC
 * is set anyway: a thread some library started before sandbox_enter()
 * gets the same filter, or the load fails, instead of running unfiltered.
 */
#include <errno.h>
#include <linux/netlink.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <netinet/tcp.h>
#include <seccomp.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sched.h>
#include <sys/socket.h>
#include <ucontext.h>
#include <unistd.h>

#include "roles.h"
#include "sandbox.h"

struct sc_rule {
	int		 nr;		/* SCMP_SYS(); < 0 if not on this arch */
	int		 err;		/* 0: allow; else fail with this errno */
	bool		 self;		/* allow only if arg 0 is our own pid */
	struct scmp_arg_cmp arg[3];	/* .op 0 (unset) ends the list */
};

struct sc_set {
	const char	*name;
	const struct sc_rule *rules;
	size_t		 nrules;
};

#define EQ(n, v)	{ .arg = (n), .op = SCMP_CMP_EQ,		\
			  .datum_a = (scmp_datum_t)(v) }
#define MASKED(n, m, v)	{ .arg = (n), .op = SCMP_CMP_MASKED_EQ,		\
			  .datum_a = (scmp_datum_t)(m),			\
			  .datum_b = (scmp_datum_t)(v) }
#define CLEAR(n, bits)	MASKED(n, bits, 0)
#define SET(n, bits)	MASKED(n, bits, bits)

#define ALLOW(sc)		{ .nr = SCMP_SYS(sc) }
#define ALLOW_IF(sc, ...)	{ .nr = SCMP_SYS(sc), .arg = { __VA_ARGS__ } }
#define ALLOW_SELF(sc)		{ .nr = SCMP_SYS(sc), .self = true }
#define DENY(sc, e)		{ .nr = SCMP_SYS(sc), .err = (e) }
#define DENY_IF(sc, e, ...)	{ .nr = SCMP_SYS(sc), .err = (e),	\
				  .arg = { __VA_ARGS__ } }

/* The socket type without SOCK_NONBLOCK/SOCK_CLOEXEC; the kernel reads
 * only the low 32 bits of an int argument, so do we. */
#define SOCK_TYPE_MASK	(UINT32_MAX & ~(uint32_t)(SOCK_NONBLOCK | SOCK_CLOEXEC))
#define SOCKET_IF(dom, type, proto)					\
	ALLOW_IF(socket, EQ(0, dom), MASKED(1, SOCK_TYPE_MASK, type),	\
	    EQ(2, proto))

/* I/O on fds opened before the sandbox: socketpairs, TUN, stderr, and
 * /proc/self/status (pread64) for the self-check privd asks for. */
static const struct sc_rule basic_io[] = {
	ALLOW(read), ALLOW(write), ALLOW(readv), ALLOW(writev),
	ALLOW(pread64), ALLOW(lseek), ALLOW(close),
};

/* libuv and ipc/ toggle O_NONBLOCK and FD_CLOEXEC on fds they are given. */
static const struct sc_rule fd_ctl[] = {
	ALLOW_IF(fcntl, EQ(1, F_GETFD)), ALLOW_IF(fcntl, EQ(1, F_SETFD)),
	ALLOW_IF(fcntl, EQ(1, F_GETFL)), ALLOW_IF(fcntl, EQ(1, F_SETFL)),
	ALLOW_IF(fcntl64, EQ(1, F_GETFD)), ALLOW_IF(fcntl64, EQ(1, F_SETFD)),
	ALLOW_IF(fcntl64, EQ(1, F_GETFL)), ALLOW_IF(fcntl64, EQ(1, F_SETFL)),
	ALLOW_IF(ioctl, EQ(1, FIONBIO)), ALLOW_IF(ioctl, EQ(1, FIOCLEX)),
	ALLOW_IF(ioctl, EQ(1, FIONCLEX)),
};

/* The libuv loop: its epoll fd exists already, it only waits and edits
 * the interest list (epoll_pwait on arches without epoll_wait). */
static const struct sc_rule io_event[] = {
	ALLOW(epoll_ctl), ALLOW(epoll_wait), ALLOW(epoll_pwait),
};

/* IPC with privd and siblings: SOCK_SEQPACKET socketpairs, fds travel as
 * SCM_RIGHTS (recvmsg with MSG_CMSG_CLOEXEC|MSG_DONTWAIT). */
static const struct sc_rule ipc_seqpacket[] = {
	ALLOW(recvmsg), ALLOW(sendmsg),
};

/* malloc and libuv; never executable memory, so an attacker who controls
 * data cannot turn it into code. */
static const struct sc_rule memory[] = {
	ALLOW(brk),
	ALLOW_IF(mmap, CLEAR(2, PROT_EXEC)),
	ALLOW_IF(mmap2, CLEAR(2, PROT_EXEC)),
	ALLOW_IF(mprotect, CLEAR(2, PROT_EXEC)),
	ALLOW(munmap), ALLOW(mremap), ALLOW(madvise),
};

/* Timers and timestamps, for when the vDSO falls back to the syscall. */
static const struct sc_rule time_read[] = {
	ALLOW(clock_gettime), ALLOW(clock_getres), ALLOW(clock_nanosleep),
	ALLOW(nanosleep), ALLOW(gettimeofday), ALLOW(time),
};

/* libsodium's randombytes (keys, nonces, DNS query ids). */
static const struct sc_rule random_read[] = {
	ALLOW(getrandom),
};

/* Reads of our own identity: logging, libc, the self-checks. */
static const struct sc_rule identity[] = {
	ALLOW(getpid), ALLOW(gettid), ALLOW(getppid),
	ALLOW(getuid), ALLOW(geteuid), ALLOW(getgid), ALLOW(getegid),
	ALLOW(getresuid), ALLOW(getresgid), ALLOW(getgroups),
};

/* libuv's uv_signal handlers and masks, and abort(), which signals only
 * this process: kill/tgkill are checked against our pid at load time. */
static const struct sc_rule signals[] = {
	ALLOW(rt_sigaction), ALLOW(rt_sigprocmask), ALLOW(rt_sigreturn),
	ALLOW(sigaltstack), ALLOW_SELF(kill), ALLOW_SELF(tgkill),
};

/* Leaving, and what is left of libc locking in a single thread. */
static const struct sc_rule process[] = {
	ALLOW(exit), ALLOW(exit_group), ALLOW(restart_syscall),
	ALLOW(futex), ALLOW(sched_yield),
};

/* glibc's fstat() is newfstatat(fd, "", AT_EMPTY_PATH) (stdio on stderr);
 * a path lookup without AT_EMPTY_PATH is answered by fs_probe_deny. */
static const struct sc_rule stat_fd[] = {
	ALLOW(fstat),
	ALLOW_IF(newfstatat, SET(3, AT_EMPTY_PATH)),
	ALLOW_IF(statx, SET(2, AT_EMPTY_PATH)),
};

/* libc start-up and sizing questions that change nothing: prlimit64
 * only as a read (new_limit NULL), so limits stay where step (f) put
 * them; sysinfo because glibc's qsort() sizes its buffer by physical
 * memory (OpenSSL sorting the CA store, ctrld sorting a netmap). */
static const struct sc_rule sysinfo[] = {
	ALLOW(uname), ALLOW(getrlimit), ALLOW(sysinfo),
	ALLOW_IF(prlimit64, EQ(2, 0)),
};

/* Paths are not reachable (empty chroot); libc and libsodium probe files
 * and fall back on an error, where a kill would take the daemon down.
 * ctrld's state files via openat(dirfd) are not allowed yet either. */
static const struct sc_rule fs_probe_deny[] = {
	DENY(open, EACCES), DENY(openat, EACCES),
	DENY(readlink, EACCES), DENY(readlinkat, EACCES),
	DENY(access, EACCES), DENY(faccessat, EACCES),
	DENY(faccessat2, EACCES),
	DENY(stat, EACCES), DENY(lstat, EACCES),
	DENY_IF(newfstatat, EACCES, CLEAR(3, AT_EMPTY_PATH)),
	DENY_IF(statx, EACCES, CLEAR(2, AT_EMPTY_PATH)),
};

/* ctrld and netd keep small state files in their own directory, which
 * is their root: open/create, replace atomically (rename), fsync, remove a
 * failed temporary file.  Path probes still fail with EACCES as in
 * fs_probe_deny, which these roles do not get. */
static const struct sc_rule state_files[] = {
	ALLOW(open), ALLOW(openat), ALLOW(rename), ALLOW(renameat),
	ALLOW(renameat2), ALLOW(fsync), ALLOW(fdatasync), ALLOW(unlink),
	ALLOW(unlinkat),
	DENY(readlink, EACCES), DENY(readlinkat, EACCES),
	DENY(access, EACCES), DENY(faccessat, EACCES),
	DENY(faccessat2, EACCES),
	DENY(stat, EACCES), DENY(lstat, EACCES),
	DENY_IF(newfstatat, EACCES, CLEAR(3, AT_EMPTY_PATH)),
	DENY_IF(statx, EACCES, CLEAR(2, AT_EMPTY_PATH)),
};

/* ctrld's local API: listen on (libuv re-arms the backlog) and accept from
 * the listener privd passed, learn who the client is (peer uid/gid decide
 * what it may do), end the stream.  socket() stays forbidden, so listen()
 * can only touch sockets privd handed over. */
static const struct sc_rule unix_server[] = {
	ALLOW(listen), ALLOW(accept4), ALLOW(shutdown),
	ALLOW_IF(getsockopt, EQ(1, SOL_SOCKET), EQ(2, SO_PEERCRED)),
	ALLOW_IF(getsockopt, EQ(1, SOL_SOCKET), EQ(2, SO_PEERGROUPS)),
};

/* WireGuard/STUN/DNS over UDP: only AF_INET/AF_INET6 datagram sockets. */
static const struct sc_rule udp_socket[] = {
	SOCKET_IF(AF_INET, SOCK_DGRAM, 0),
	SOCKET_IF(AF_INET, SOCK_DGRAM, IPPROTO_UDP),
	SOCKET_IF(AF_INET6, SOCK_DGRAM, 0),
	SOCKET_IF(AF_INET6, SOCK_DGRAM, IPPROTO_UDP),
	ALLOW(bind), ALLOW(getsockname),
};

/* Datagram I/O, batched where the kernel allows. */
static const struct sc_rule udp_io[] = {
	ALLOW(sendto), ALLOW(recvfrom), ALLOW(sendmmsg), ALLOW(recvmmsg),
};

/* Buffer sizes, dual-stack off, GSO/GRO and path MTU discovery; no
 * *BUFFORCE (needs CAP_NET_ADMIN anyway), no SO_MARK, no SO_BINDTODEVICE. */
static const struct sc_rule udp_sockopt[] = {
	ALLOW_IF(setsockopt, EQ(1, SOL_SOCKET), EQ(2, SO_RCVBUF)),
	ALLOW_IF(setsockopt, EQ(1, SOL_SOCKET), EQ(2, SO_SNDBUF)),
	ALLOW_IF(setsockopt, EQ(1, IPPROTO_IPV6), EQ(2, IPV6_V6ONLY)),
	ALLOW_IF(setsockopt, EQ(1, SOL_UDP), EQ(2, UDP_SEGMENT)),
	ALLOW_IF(setsockopt, EQ(1, SOL_UDP), EQ(2, UDP_GRO)),
	ALLOW_IF(setsockopt, EQ(1, IPPROTO_IP), EQ(2, IP_MTU_DISCOVER)),
	ALLOW_IF(setsockopt, EQ(1, IPPROTO_IPV6), EQ(2, IPV6_MTU_DISCOVER)),
};

/* dnsd's DNS-over-TCP to upstreams (RFC 7766): a non-blocking connect
 * whose outcome is read back with SO_ERROR. */
static const struct sc_rule tcp_client[] = {
	SOCKET_IF(AF_INET, SOCK_STREAM, 0),
	SOCKET_IF(AF_INET, SOCK_STREAM, IPPROTO_TCP),
	SOCKET_IF(AF_INET6, SOCK_STREAM, 0),
	SOCKET_IF(AF_INET6, SOCK_STREAM, IPPROTO_TCP),
	ALLOW(connect),
	ALLOW_IF(getsockopt, EQ(1, SOL_SOCKET), EQ(2, SO_ERROR)),
};

/* netd's DERP connections: TCP sockets privd opened and marked (netd
 * opens none itself), connected non-blocking, the outcome read back with
 * SO_ERROR; data moves with sendto/recvfrom (udp_io). */
static const struct sc_rule tcp_connect[] = {
	ALLOW(connect),
	ALLOW_IF(getsockopt, EQ(1, SOL_SOCKET), EQ(2, SO_ERROR)),
};

/* ctrld's lookups of the login server's name: a UDP socket connected to
 * a nameserver from resolv.conf, then plain read/write (basic_io). */
static const struct sc_rule dns_client[] = {
	SOCKET_IF(AF_INET, SOCK_DGRAM, 0),
	SOCKET_IF(AF_INET, SOCK_DGRAM, IPPROTO_UDP),
	ALLOW(connect),
};

/*
 * privd's own filter.  privd execs its children, and a filter is inherited
 * across fork and exec, so privd's list also has to carry a freshly exec'd
 * child up to its own sandbox_enter() (where the child's much shorter list
 * is stacked on top).  What it shuts off is everything the suite never
 * needs as root: ptrace, mount, namespaces, bpf, modules, kexec, keyrings,
 * perf, io_uring, userfaultfd, process_vm_*, reboot, clock setting ...
 */

/* /proc/<pid>/status of children, /dev/null for them, the socket at exit. */
static const struct sc_rule privd_files[] = {
	ALLOW(open), ALLOW(openat), ALLOW(unlink), ALLOW(unlinkat),
	ALLOW(readlink), ALLOW(readlinkat), ALLOW(access), ALLOW(faccessat),
	ALLOW(faccessat2), ALLOW(stat), ALLOW(lstat), ALLOW(newfstatat),
	ALLOW(statx), ALLOW(fstatfs), ALLOW(statfs), ALLOW(getdents64),
	/* The state file (privd.netstate), replaced atomically; with
	 * --accept-dns, the resolv.conf backup moved back at stop; filters
	 * stack: ctrld's and netd's state files. */
	ALLOW(fsync), ALLOW(rename), ALLOW(renameat), ALLOW(renameat2),
	ALLOW(fdatasync),
};

/* fork + exec of the children: no namespace flags on clone (glibc's
 * clone3 attempt gets ENOSYS and falls back), signals to children only
 * to stop (0 probes, SIGTERM, SIGKILL), descriptors placed with dup2. */
#define CLONE_NS_FLAGS	(CLONE_NEWNS | CLONE_NEWUSER | CLONE_NEWPID |	\
			 CLONE_NEWNET | CLONE_NEWUTS | CLONE_NEWIPC |	\
			 CLONE_NEWCGROUP | CLONE_NEWTIME)
static const struct sc_rule privd_spawn[] = {
	ALLOW_IF(clone, CLEAR(0, CLONE_NS_FLAGS)), DENY(clone3, ENOSYS),
	ALLOW(fork), ALLOW(vfork), ALLOW(execve), ALLOW(wait4), ALLOW(waitid),
	ALLOW_IF(kill, EQ(1, 0)), ALLOW_IF(kill, EQ(1, SIGTERM)),
	ALLOW_IF(kill, EQ(1, SIGKILL)), ALLOW_SELF(tgkill),
	ALLOW_IF(tgkill, EQ(2, SIGABRT)),	/* abort() in a child */
	ALLOW_IF(socketpair, EQ(0, AF_UNIX)), ALLOW(pipe2), ALLOW(dup2),
	ALLOW(dup3), ALLOW(close_range),
	ALLOW_IF(fcntl, EQ(1, F_DUPFD_CLOEXEC)),
	ALLOW(rt_sigaction), ALLOW(rt_sigprocmask), ALLOW(rt_sigreturn),
	ALLOW(sigaltstack),
	/* The dynamic loader of an exec'd child maps code. */
	ALLOW(brk), ALLOW(mmap), ALLOW(mprotect), ALLOW(munmap),
	ALLOW(mremap), ALLOW(madvise),
};

/* rtnetlink on the socket opened at start, and the WireGuard UDP socket
 * privd binds and marks for netd. */
static const struct sc_rule privd_net[] = {
	ALLOW(sendto), ALLOW(recvfrom),
	SOCKET_IF(AF_INET6, SOCK_DGRAM, 0), SOCKET_IF(AF_INET, SOCK_DGRAM, 0),
	/* dnsd's marked TCP upstream sockets (dns_os.c), never connected
	 * here. */
	SOCKET_IF(AF_INET6, SOCK_STREAM, 0), SOCKET_IF(AF_INET, SOCK_STREAM, 0),
	ALLOW_IF(setsockopt, EQ(1, SOL_SOCKET), EQ(2, SO_MARK)),
	ALLOW_IF(setsockopt, EQ(1, IPPROTO_IPV6), EQ(2, IPV6_V6ONLY)),
	/* netd's DERP sockets (derp_socket.c), as Go's dialer sets it. */
	ALLOW_IF(setsockopt, EQ(1, IPPROTO_TCP), EQ(2, TCP_NODELAY)),
	/* 4 MiB socket buffers past net.core.[rw]mem_max for netd's GRO
	 * trains and GSO bursts (wgmode.c open_udp()). */
	ALLOW_IF(setsockopt, EQ(1, SOL_SOCKET), EQ(2, SO_RCVBUFFORCE)),
	ALLOW_IF(setsockopt, EQ(1, SOL_SOCKET), EQ(2, SO_SNDBUFFORCE)),
	ALLOW(bind), ALLOW(getsockname),
	/* libnftables, for privd's own table: a netfilter netlink socket
	 * per command batch, its buffer sizes, extended acks, a zero-timeout
	 * pselect to drain it, and an isatty() probe for colours. */
	SOCKET_IF(AF_NETLINK, SOCK_RAW, NETLINK_NETFILTER),
	ALLOW_IF(getsockopt, EQ(1, SOL_SOCKET), EQ(2, SO_RCVBUF)),
	ALLOW_IF(getsockopt, EQ(1, SOL_SOCKET), EQ(2, SO_SNDBUF)),
	ALLOW_IF(setsockopt, EQ(1, SOL_NETLINK), EQ(2, NETLINK_EXT_ACK)),
	ALLOW(pselect6), ALLOW(select),
	DENY_IF(ioctl, ENOTTY, EQ(1, TCGETS)),
};

/* sd-bus to systemd-resolved (privd/dns_resolved.c): the connection is
 * made before the sandbox; a method call waits for its reply in ppoll.
 * After a lost bus, the reconnection: an AF_UNIX stream socket (connect
 * is in tcp_client; buffer sizes, SO_PEERCRED and SO_PEERGROUPS in the
 * groups above) and the two peer queries sd-bus adds. */
static const struct sc_rule privd_bus[] = {
	ALLOW(ppoll),
	SOCKET_IF(AF_UNIX, SOCK_STREAM, 0),
	ALLOW_IF(getsockopt, EQ(1, SOL_SOCKET), EQ(2, SO_PEERSEC)),
	ALLOW_IF(getsockopt, EQ(1, SOL_SOCKET), EQ(2, SO_ACCEPTCONN)),
};

/* A child between exec and its own filter: libc start-up, then the
 * sandbox_enter() steps (chroot, libcap-ng, rlimits, prctl, seccomp). */
static const struct sc_rule child_setup[] = {
	ALLOW(arch_prctl), ALLOW(set_tid_address), ALLOW(set_robust_list),
	ALLOW(rseq), ALLOW(prlimit64), ALLOW(setrlimit),
	ALLOW(chroot), ALLOW(chdir), ALLOW(fchdir), ALLOW(setfsuid),
	ALLOW(capget), ALLOW(capset), ALLOW(setgroups), ALLOW(setresuid),
	ALLOW(setresgid), ALLOW(setuid), ALLOW(setgid),
	ALLOW_IF(prctl, EQ(0, PR_CAPBSET_READ)),
	ALLOW_IF(prctl, EQ(0, PR_CAPBSET_DROP)),
	ALLOW_IF(prctl, EQ(0, PR_CAP_AMBIENT)),
	ALLOW_IF(prctl, EQ(0, PR_GET_SECUREBITS)),
	ALLOW_IF(prctl, EQ(0, PR_SET_KEEPCAPS)),
	ALLOW_IF(prctl, EQ(0, PR_GET_KEEPCAPS)),
	ALLOW_IF(prctl, EQ(0, PR_SET_NO_NEW_PRIVS)),
	ALLOW_IF(prctl, EQ(0, PR_GET_NO_NEW_PRIVS)),
	ALLOW_IF(prctl, EQ(0, PR_SET_PDEATHSIG)),
	/* Every seccomp() operation only narrows the caller; libseccomp
	 * also probes with invalid ones to learn what the kernel has. */
	ALLOW(seccomp),
	ALLOW(epoll_create1), ALLOW(eventfd2),
	ALLOW_IF(getsockopt, EQ(1, SOL_SOCKET), EQ(2, SO_TYPE)),
};

/*
 * Only compiled into ASan/UBSan builds, which never ship, so it is
 * generous: what the runtimes do while running and while printing a
 * report.  Spawning the symbolizer fails with EPERM (the report then has
 * raw addresses) instead of killing the process mid-report.
 */
static const struct sc_rule sanitizer[] = {
	ALLOW(sched_getaffinity), ALLOW(getrlimit), ALLOW_IF(prlimit64, EQ(2, 0)),
	ALLOW_IF(prctl, EQ(0, PR_GET_DUMPABLE)),
	ALLOW_IF(prctl, EQ(0, PR_SET_DUMPABLE)),
	ALLOW_IF(prctl, EQ(0, PR_GET_NAME)), ALLOW_IF(prctl, EQ(0, PR_SET_VMA)),
	ALLOW_IF(mmap, CLEAR(2, PROT_EXEC)), ALLOW(munmap), ALLOW(madvise),
	ALLOW(mincore), ALLOW(pipe), ALLOW(pipe2), ALLOW(getrusage),
	ALLOW(write), ALLOW(close), ALLOW(sched_yield), ALLOW(nanosleep),
	ALLOW(gettid), ALLOW(getpid), ALLOW_SELF(tgkill), ALLOW(exit_group),
	ALLOW(sigaltstack),
	DENY(readlink, EACCES), DENY(readlinkat, EACCES),
	DENY_IF(ioctl, ENOTTY, EQ(1, TCGETS)),	/* isatty() for colours */
};

/* ... and in roles that never spawn, the symbolizer fork fails quietly
 * (privd spawns, and its own clone rules apply instead). */
static const struct sc_rule sanitizer_nospawn[] = {
	DENY(clone, EPERM), DENY(clone3, EPERM),
	DENY(fork, EPERM), DENY(vfork, EPERM),
};

#define GROUP(id, tbl) [id] = { #tbl, tbl, sizeof(tbl) / sizeof(tbl[0]) }

static const struct sc_set groups[SCG_COUNT] = {
	GROUP(SCG_BASIC_IO, basic_io),
	GROUP(SCG_FD_CTL, fd_ctl),
	GROUP(SCG_IO_EVENT, io_event),
	GROUP(SCG_IPC_SEQPACKET, ipc_seqpacket),
	GROUP(SCG_MEMORY, memory),
	GROUP(SCG_TIME, time_read),
	GROUP(SCG_RANDOM, random_read),
	GROUP(SCG_IDENTITY, identity),
	GROUP(SCG_SIGNAL, signals),
	GROUP(SCG_PROCESS, process),
	GROUP(SCG_STAT_FD, stat_fd),
	GROUP(SCG_SYSINFO, sysinfo),
	GROUP(SCG_FS_PROBE_DENY, fs_probe_deny),
	GROUP(SCG_UNIX_SERVER, unix_server),
	GROUP(SCG_UDP_SOCKET, udp_socket),
	GROUP(SCG_UDP_IO, udp_io),
	GROUP(SCG_UDP_SOCKOPT, udp_sockopt),
	GROUP(SCG_TCP_CLIENT, tcp_client),
	GROUP(SCG_PRIVD_FILES, privd_files),
	GROUP(SCG_PRIVD_SPAWN, privd_spawn),
	GROUP(SCG_PRIVD_NET, privd_net),
	GROUP(SCG_CHILD_SETUP, child_setup),
	GROUP(SCG_STATE_FILES, state_files),
	GROUP(SCG_DNS_CLIENT, dns_client),
	GROUP(SCG_TCP_CONNECT, tcp_connect),
	GROUP(SCG_PRIVD_BUS, privd_bus),
	GROUP(SCG_SANITIZER, sanitizer),
	GROUP(SCG_SANITIZER_NOSPAWN, sanitizer_nospawn),
};

static int
add_rule(scmp_filter_ctx ctx, const struct sc_rule *r)
{
	struct scmp_arg_cmp arg[4];
	unsigned n = 0;
	uint32_t action;
	int rc;

	if (r->nr < 0)
		return 0;	/* the syscall does not exist on this arch */
	action = r->err != 0 ? SCMP_ACT_ERRNO((uint32_t)r->err) :
	    SCMP_ACT_ALLOW;
	if (r->self)
		arg[n++] = (struct scmp_arg_cmp)EQ(0, getpid());
	for (size_t i = 0; i < 3 && r->arg[i].op != 0; i++)
		arg[n++] = r->arg[i];
	rc = seccomp_rule_add_array(ctx, action, r->nr, n, arg);
	return rc == -EDOM ? 0 : rc;	/* -EDOM: not on this arch either */
}

static int
add_group(scmp_filter_ctx ctx, enum sc_group id, const char **where)
{
	const struct sc_set *g = &groups[id];
	int rc;

	*where = g->name;
	for (size_t i = 0; i < g->nrules; i++)
		if ((rc = add_rule(ctx, &g->rules[i])) < 0)
			return rc;
	return 0;
}

static uint32_t
default_action(void)
{
#if defined(PM_SECCOMP_LOG) && PM_SECCOMP_LOG
	return SCMP_ACT_TRAP;
#else
	return SCMP_ACT_KILL_PROCESS;
#endif
}

static bool __attribute__((unused))
role_has_group(const struct role_desc *r, enum sc_group g)
{
	for (size_t i = 0; i < ROLE_MAX_GROUPS && r->groups[i] != SCG_NONE; i++)
		if (r->groups[i] == g)
			return true;
	return false;
}

int
sc_build(const struct role_desc *r, void **out, const char **where)
{
	scmp_filter_ctx ctx;
	int rc = 0;

	*where = "init";
	if (r->groups[0] == SCG_NONE)
		return -ENOENT;
	if ((ctx = seccomp_init(default_action())) == NULL)
		return -ENOMEM;
	/* All threads or none; children have one, see the top comment. */
	if ((rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1)) < 0)
		goto fail;
	for (size_t i = 0; i < ROLE_MAX_GROUPS && r->groups[i] != SCG_NONE; i++)
		if ((rc = add_group(ctx, r->groups[i], where)) < 0)
			goto fail;
#ifdef PM_SANITIZER_BUILD
	if ((rc = add_group(ctx, SCG_SANITIZER, where)) < 0 ||
	    (!role_has_group(r, SCG_PRIVD_SPAWN) &&
	    (rc = add_group(ctx, SCG_SANITIZER_NOSPAWN, where)) < 0))
		goto fail;
#endif
	*out = ctx;
	return 0;
fail:
	seccomp_release(ctx);
	return rc;
}

/* NULL with errno EINVAL for an unknown role, ENOENT for a role without
 * a filter, else what libseccomp reported. */
void *
sandbox_seccomp_build(enum sandbox_role role)
{
	const struct role_desc *r = role_get(role);
	const char *where;
	void *ctx = NULL;
	int rc;

	if (r == NULL) {
		errno = EINVAL;
		return NULL;
	}
	if ((rc = sc_build(r, &ctx, &where)) < 0) {
		errno = -rc;
		return NULL;
	}
	return ctx;
}

#if defined(PM_SECCOMP_LOG) && PM_SECCOMP_LOG
/*
 * Development only (meson -Dseccomp_log=true): a forbidden syscall is
 * reported on stderr and fails with ENOSYS instead of killing the process,
 * so one run lists everything a policy change has to consider.  Names are
 * resolved before the filter is loaded; the handler itself only formats
 * into a stack buffer and calls write(2).
 */
#define SC_NAMES_MAX	512
#define SC_NAME_LEN	28

static char sc_names[SC_NAMES_MAX][SC_NAME_LEN];
static const char *sc_procname = "privmesh";

static size_t
put_str(char *buf, size_t len, size_t off, const char *s)
{
	while (*s != '\0' && off < len)
		buf[off++] = *s++;
	return off;
}

static size_t
put_num(char *buf, size_t len, size_t off, long v)
{
	char tmp[24];
	size_t n = 0;
	unsigned long u = v < 0 ? 0UL - (unsigned long)v : (unsigned long)v;

	do {
		tmp[n++] = (char)('0' + u % 10);
		u /= 10;
	} while (u != 0 && n < sizeof(tmp));
	if (v < 0 && off < len)
		buf[off++] = '-';
	while (n > 0 && off < len)
		buf[off++] = tmp[--n];
	return off;
}

static void
sc_sigsys(int sig, siginfo_t *si, void *ucv)
{
	ucontext_t *uc = ucv;
	char buf[160];
	size_t off = 0;
	int nr = si->si_syscall, saved = errno;

	(void)sig;
	off = put_str(buf, sizeof(buf) - 1, off, sc_procname);
	off = put_str(buf, sizeof(buf) - 1, off,
	    ": seccomp: forbidden syscall ");
	off = put_num(buf, sizeof(buf) - 1, off, nr);
	if (nr >= 0 && nr < SC_NAMES_MAX && sc_names[nr][0] != '\0') {
		off = put_str(buf, sizeof(buf) - 1, off, " (");
		off = put_str(buf, sizeof(buf) - 1, off, sc_names[nr]);
		off = put_str(buf, sizeof(buf) - 1, off, ")");
	}
	buf[off++] = '\n';
	(void)!write(STDERR_FILENO, buf, off);
	/* The syscall was skipped; make it look like ENOSYS to the caller.
	 * On other arches the return value is whatever the register held. */
#if defined(__x86_64__)
	uc->uc_mcontext.gregs[REG_RAX] = -ENOSYS;
#elif defined(__aarch64__)
	uc->uc_mcontext.regs[0] = (unsigned long long)-ENOSYS;
#else
	(void)uc;
#endif
	errno = saved;
}

static int
sc_reporter_install(const struct role_desc *r)
{
	struct sigaction sa;

	for (int nr = 0; nr < SC_NAMES_MAX; nr++) {
		char *name = seccomp_syscall_resolve_num_arch(
		    SCMP_ARCH_NATIVE, nr);

		if (name != NULL)
			strncpy(sc_names[nr], name, SC_NAME_LEN - 1);
		free(name);
	}
	sc_procname = r->name;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = sc_sigsys;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	return sigaction(SIGSYS, &sa, NULL) == 0 ? 0 : -errno;
}
#endif

int
sc_load(const struct role_desc *r, const char **where)
{
	void *ctx;
	int rc;

	if ((rc = sc_build(r, &ctx, where)) < 0)
		return rc;
#if defined(PM_SECCOMP_LOG) && PM_SECCOMP_LOG
	*where = "SIGSYS reporter";
	if ((rc = sc_reporter_install(r)) < 0) {
		seccomp_release(ctx);
		return rc;
	}
#endif
	*where = "load";
	rc = seccomp_load(ctx);
	seccomp_release(ctx);
	return rc;
}
