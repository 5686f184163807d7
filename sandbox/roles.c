/*
 * What each privmesh process keeps once sandbox_enter() returns, as data.
 * Reviewing a change to a process's privileges means reviewing this table
 * (and the seccomp groups it names in seccomp.c); sandbox.c has no
 * per-role branches beyond "chroot or not".
 */
#include <linux/capability.h>

#include "roles.h"

#define LIMIT(v)	{ .set = true, .value = (v) }

/* Every child: the event loop, its IPC and the libc underneath it. */
#define CHILD_BASE_GROUPS						\
	SCG_BASIC_IO, SCG_FD_CTL, SCG_IO_EVENT, SCG_IPC_SEQPACKET,	\
	SCG_MEMORY, SCG_TIME, SCG_RANDOM, SCG_IDENTITY, SCG_SIGNAL,	\
	SCG_PROCESS, SCG_STAT_FD, SCG_SYSINFO
#define CHILD_GROUPS	CHILD_BASE_GROUPS, SCG_FS_PROBE_DENY
/* ... and for a child whose root is its own state directory. */
#define STATE_CHILD_GROUPS CHILD_BASE_GROUPS, SCG_STATE_FILES

static const struct role_desc roles[SANDBOX_NROLES] = {
	[SANDBOX_PRIVD] = {
		.name = "privd",
		.chroot = false,	/* needs /proc, /dev/net/tun, exec */
		.caps =
		    /* TUN, netlink routes/addresses, nftables, SO_MARK */
		    CAPBIT(CAP_NET_ADMIN) |
		    /* children are exec'd as root and drop to their user */
		    CAPBIT(CAP_SETUID) | CAPBIT(CAP_SETGID) |
		    /* ... chroot into their empty directory ... */
		    CAPBIT(CAP_SYS_CHROOT) |
		    /* ... and clear their bounding set */
		    CAPBIT(CAP_SETPCAP) |
		    /* signal children running under other uids */
		    CAPBIT(CAP_KILL) |
		    /* chown the per-child state dirs made at (re)start */
		    CAPBIT(CAP_CHOWN) | CAPBIT(CAP_FOWNER),
		.rlimits = {
			[RLIMIT_CORE] = LIMIT(0),	/* no root core files */
		},
		/* privd's list must also carry an exec'd child up to its
		 * own filter: see the privd groups in seccomp.c. */
		.groups = { SCG_BASIC_IO, SCG_FD_CTL, SCG_IO_EVENT,
		    SCG_IPC_SEQPACKET, SCG_TIME, SCG_RANDOM, SCG_IDENTITY,
		    SCG_PROCESS, SCG_STAT_FD, SCG_SYSINFO, SCG_PRIVD_FILES,
		    SCG_PRIVD_SPAWN, SCG_PRIVD_NET, SCG_CHILD_SETUP,
		    /* Filters stack: what the children may do, privd's list
		     * must allow too. */
		    SCG_UNIX_SERVER, SCG_UDP_SOCKET, SCG_UDP_IO,
		    SCG_UDP_SOCKOPT, SCG_TCP_CLIENT,
		    /* systemd-resolved per-link DNS (--accept-dns) */
		    SCG_PRIVD_BUS },
	},
	[SANDBOX_NETD] = {
		.name = "netd",
		.chroot = true,
		.state_root = true,	/* node and disco keys */
		.rlimits = {
			[RLIMIT_CORE] = LIMIT(0),
			[RLIMIT_NPROC] = LIMIT(0),	/* no fork, no threads */
			[RLIMIT_FSIZE] = LIMIT(4096),	/* its key file only */
			[RLIMIT_NOFILE] = LIMIT(1024),
		},
		.groups = { STATE_CHILD_GROUPS,
		    SCG_UDP_SOCKET, SCG_UDP_IO, SCG_UDP_SOCKOPT,
		    SCG_TCP_CONNECT },
	},
	[SANDBOX_CTRLD] = {
		.name = "ctrld",
		.chroot = true,
		.state_root = true,	/* machine key, prefs */
		.rlimits = {
			[RLIMIT_CORE] = LIMIT(0),
			[RLIMIT_NPROC] = LIMIT(0),
			[RLIMIT_FSIZE] = LIMIT(1 << 20),	/* state files */
			[RLIMIT_NOFILE] = LIMIT(4096),	/* local API clients */
		},
		/* control server connections: TCP (TLS) clients, and the
		 * UDP lookups of its name */
		.groups = { STATE_CHILD_GROUPS, SCG_UNIX_SERVER,
		    SCG_TCP_CLIENT, SCG_DNS_CLIENT },
	},
	[SANDBOX_DNSD] = {
		.name = "dnsd",
		.chroot = true,
		.rlimits = {
			[RLIMIT_CORE] = LIMIT(0),
			[RLIMIT_NPROC] = LIMIT(0),
			[RLIMIT_FSIZE] = LIMIT(0),
			[RLIMIT_NOFILE] = LIMIT(1024),
		},
		.groups = { CHILD_GROUPS,
		    SCG_UDP_SOCKET, SCG_UDP_IO, SCG_UDP_SOCKOPT,
		    SCG_TCP_CLIENT },
	},
};

const struct role_desc *
role_get(enum sandbox_role role)
{
	if ((unsigned)role >= SANDBOX_NROLES)
		return NULL;
	return &roles[role];
}

const char *
sandbox_role_name(enum sandbox_role role)
{
	const struct role_desc *r = role_get(role);

	return r != NULL ? r->name : "unknown";
}
