/*
 * sandbox_enter(): the one, linear way a privmesh process gives up what it
 * does not need.  The order is fixed and every step is fatal and verified:
 *
 *   (a) caller opens everything it needs later while still privileged
 *   (b) check the empty root dir is root-owned and not group/world-writable
 *   (c) chroot into it, chdir("/")
 *   (d) libcap-ng: clear caps, change uid/gid, drop supplementary groups,
 *       clear the bounding set (privd instead keeps its listed capabilities)
 *   (e) prove it: regaining root must fail; getres[ug]id and the capability
 *       sets must be exactly what the role expects
 *   (f) rlimits
 *   (g) reset signal dispositions
 *   (h) PR_SET_NO_NEW_PRIVS
 *   (i) seccomp_load() of the role's allow-list (default: kill the process)
 *
 * All of it happens before the first byte of untrusted input is read.
 */
#ifndef PM_SANDBOX_H
#define PM_SANDBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

enum sandbox_role {
	SANDBOX_PRIVD,
	SANDBOX_NETD,
	SANDBOX_CTRLD,
	SANDBOX_DNSD,
	SANDBOX_NROLES
};

struct sandbox_params {
	enum sandbox_role role;
	const char	*user;		/* role user name, for messages only */
	uid_t		 uid;		/* children: target uid (privd: ignored) */
	gid_t		 gid;		/* children: target gid (privd: ignored) */
	const char	*root_dir;	/* children: empty root-owned dir to chroot into */
};

/* Returns only when the whole sequence succeeded; otherwise fatal(). */
void	sandbox_enter(const struct sandbox_params *p);

/* Role name ("netd", ...) for logs. */
const char *sandbox_role_name(enum sandbox_role role);

/*
 * Checks used by step (b), exposed for unit tests: returns 0 when `path` is
 * a directory owned by root and not writable by group or others, else a
 * negative errno (-ENOTDIR, -EPERM for bad owner/mode, or the stat error).
 */
int	sandbox_check_root_dir(const char *path);

/*
 * Builds (but does not load) the role's seccomp filter; for unit tests and
 * for `sandbox_enter`.  Returns a libseccomp context or NULL.
 */
struct scmp_filter_ctx_opaque;
void	*sandbox_seccomp_build(enum sandbox_role role);

#endif
