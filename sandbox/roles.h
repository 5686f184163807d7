/*
 * Internal to sandbox/: what each process keeps, as data.
 *
 * roles.c holds one descriptor per process (chroot or not, capabilities
 * kept, rlimits, seccomp groups); seccomp.c holds the groups themselves.
 * sandbox.c only walks these tables in the fixed order of sandbox.h.
 */
#ifndef PM_SANDBOX_ROLES_H
#define PM_SANDBOX_ROLES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/resource.h>

#include "sandbox.h"

/* Named seccomp groups; seccomp.c says what each allows and why. */
enum sc_group {
	SCG_NONE = 0,		/* terminates a role's list */
	SCG_BASIC_IO,
	SCG_FD_CTL,
	SCG_IO_EVENT,
	SCG_IPC_SEQPACKET,
	SCG_MEMORY,
	SCG_TIME,
	SCG_RANDOM,
	SCG_IDENTITY,
	SCG_SIGNAL,
	SCG_PROCESS,
	SCG_STAT_FD,
	SCG_SYSINFO,
	SCG_FS_PROBE_DENY,
	SCG_UNIX_SERVER,
	SCG_UDP_SOCKET,
	SCG_UDP_IO,
	SCG_UDP_SOCKOPT,
	SCG_TCP_CLIENT,
	SCG_PRIVD_FILES,
	SCG_PRIVD_SPAWN,
	SCG_PRIVD_NET,
	SCG_CHILD_SETUP,
	SCG_STATE_FILES,	/* ctrld, netd: files in their own dir */
	SCG_DNS_CLIENT,		/* ctrld: name lookups over UDP */
	SCG_TCP_CONNECT,	/* netd: connect privd's DERP sockets */
	SCG_PRIVD_BUS,		/* privd: systemd-resolved over the system bus */
	SCG_SANITIZER,		/* appended by seccomp.c in sanitizer builds */
	SCG_SANITIZER_NOSPAWN,	/* ditto, for roles that never fork */
	SCG_COUNT
};

#define ROLE_MAX_GROUPS	 24

#define CAPBIT(c)	(UINT64_C(1) << (c))

/* An rlimit the role sets (soft = hard = value); unset ones stay as is. */
struct role_rlimit {
	bool		 set;
	rlim_t		 value;
};

struct role_desc {
	const char	*name;
	bool		 chroot;	/* children: chroot + switch user */
	bool		 state_root;	/* may chroot into its own 0700 dir */
	uint64_t	 caps;		/* CAPBIT()s kept; 0 for children */
	struct role_rlimit rlimits[RLIMIT_NLIMITS];	/* by RLIMIT_* */
	enum sc_group	 groups[ROLE_MAX_GROUPS];	/* SCG_NONE ends */
};

/* NULL for a role outside the enum. */
const struct role_desc *role_get(enum sandbox_role role);

/*
 * seccomp.c.  sc_build() makes the role's filter context (-ENOENT: the
 * role has no filter); sc_load() builds and loads it.  Both return 0 or a
 * negative errno and point *where at the group or step that failed.
 */
int	sc_build(const struct role_desc *r, void **ctx, const char **where);
int	sc_load(const struct role_desc *r, const char **where);

/*
 * ASan/UBSan builds need a few more syscalls (seccomp.c, SCG_SANITIZER)
 * and a warning to the runtime before the chroot (sandbox.c).  gcc has no
 * macro for -fsanitize=undefined alone; meson's b_sanitize=address,undefined
 * is caught through __SANITIZE_ADDRESS__.
 */
#if defined(__SANITIZE_ADDRESS__)
#define PM_SANITIZER_BUILD 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || \
    __has_feature(undefined_behavior_sanitizer)
#define PM_SANITIZER_BUILD 1
#endif
#endif

#endif
