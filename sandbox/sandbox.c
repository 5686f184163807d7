/*
 * sandbox_enter(): steps (b)-(i) of sandbox.h, in that order, each one
 * fatal and each one checked.  What differs between processes is data in
 * roles.c; the only branch here is whether the role is a child (chroot,
 * own user, no capabilities, seccomp) or privd (stays root in its mount
 * namespace with a short capability list).
 *
 * Signal dispositions, step (g): the caller's libuv loop has installed its
 * uv_signal handlers (SIGTERM, SIGINT) before we run, and resetting them
 * would silently break shutdown.  So only SIGPIPE is set to SIG_IGN -- a
 * peer closing its socket must cost an EPIPE, not the process -- and, for
 * roles under RLIMIT_FSIZE 0, SIGXFSZ, so a write to a regular file fails
 * with EFBIG instead of killing.  Inherited fds are the caller's business
 * too: privd closes everything but the fixed fds before exec.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/fsuid.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cap-ng.h>

#include "log.h"
#include "roles.h"
#include "sandbox.h"

#ifdef PM_SANITIZER_BUILD
#include <sanitizer/common_interface_defs.h>
#endif

/* Highest capability number we look at; unknown ones must be clear too. */
#define CAP_SCAN_MAX	63

static const char *
user_of(const struct sandbox_params *p)
{
	return p->user != NULL ? p->user : "?";
}

static int
check_root_fd(int fd)
{
	struct stat st;

	if (fstat(fd, &st) == -1)
		return -errno;
	if (!S_ISDIR(st.st_mode))
		return -ENOTDIR;
	if (st.st_uid != 0 || (st.st_mode & (S_IWGRP | S_IWOTH)) != 0)
		return -EPERM;
	return 0;
}

int
sandbox_check_root_dir(const char *path)
{
	int fd, rc;

	if ((fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC)) == -1)
		return -errno;
	rc = check_root_fd(fd);
	close(fd);
	return rc;
}

/* (a) ASan/UBSan read /proc/self/maps and /proc/self/exe when reporting;
 * let them cache both while the paths still exist. */
static void
sanitizer_prepare(void)
{
#ifdef PM_SANITIZER_BUILD
	__sanitizer_sandbox_arguments args;

	memset(&args, 0, sizeof(args));
	__sanitizer_sandbox_on_notify(&args);
#endif
}

/*
 * (b) + (c).  The directory is checked and entered through one fd, so the
 * directory we chroot into is the one we checked, even if the path is
 * swapped in between.
 */
/* A role's own state directory: owned by the role user, nobody else may
 * enter it.  The process can write there, so it is only ever a root for
 * that one role (privd makes it; see privd/spawn.c). */
static bool
own_state_dir(int fd, const struct sandbox_params *p)
{
	struct stat st;

	return fstat(fd, &st) == 0 && S_ISDIR(st.st_mode) &&
	    st.st_uid == p->uid && (st.st_mode & 077) == 0;
}

static void
enter_root(const struct role_desc *r, const struct sandbox_params *p)
{
	bool own;
	int fd, rc;

	if ((fd = open(p->root_dir, O_PATH | O_DIRECTORY | O_CLOEXEC)) == -1)
		fatal("%s: open(%s)", r->name, p->root_dir);
	own = r->state_root && own_state_dir(fd, p);
	if (!own && (rc = check_root_fd(fd)) == -EPERM)
		fatalx("%s: %s must be owned by root and not group/world "
		    "writable%s", r->name, p->root_dir, r->state_root ?
		    ", or be the role's own 0700 directory" : "");
	if (!own && rc < 0) {
		errno = -rc;
		fatal("%s: %s", r->name, p->root_dir);
	}
	/* Root without CAP_DAC_OVERRIDE cannot search a 0700 directory of
	 * another user: enter it with the role's fsuid. */
	if (own)
		setfsuid(p->uid);
	if (fchdir(fd) == -1)
		fatal("%s: fchdir(%s)", r->name, p->root_dir);
	close(fd);
	if (chroot(".") == -1)
		fatal("%s: chroot(%s)", r->name, p->root_dir);
	if (chdir("/") == -1)
		fatal("%s: chdir(/) in %s", r->name, p->root_dir);
	if (own)
		setfsuid(0);
}

static const char *
capng_change_id_error(int rc)
{
	static const char *const msg[] = {
		[1] = "libcap-ng not initialised",
		[2] = "PR_SET_KEEPCAPS failed",
		[3] = "applying the intermediate capabilities failed",
		[4] = "changing the gid failed",
		[5] = "dropping supplementary groups failed",
		[6] = "changing the uid failed",
		[7] = "clearing PR_SET_KEEPCAPS failed",
		[8] = "clearing the bounding set failed",
		[9] = "dropping CAP_SETPCAP or ambient capabilities failed",
		[10] = "initialising supplementary groups failed",
	};

	if (rc < 0 && -rc < (int)(sizeof(msg) / sizeof(msg[0])) &&
	    msg[-rc] != NULL)
		return msg[-rc];
	return "unknown error";
}

/*
 * (d) No capabilities in any set, then the uid/gid change with the
 * supplementary groups and the bounding set gone.  PR_SET_PDEATHSIG goes
 * right after, because a credential change clears it.
 */
static void
drop_to_user(const struct role_desc *r, const struct sandbox_params *p)
{
	int rc, err;

	capng_clear(CAPNG_SELECT_ALL);
	errno = 0;
	rc = capng_change_id((int)p->uid, (int)p->gid,
	    CAPNG_DROP_SUPP_GRP | CAPNG_CLEAR_BOUNDING | CAPNG_CLEAR_AMBIENT);
	/* errno is the failed syscall's when there was one; -1 has none. */
	if (rc != 0) {
		err = errno;
		fatalx("%s: capng_change_id(user %s, %u:%u): %s%s%s", r->name,
		    user_of(p), (unsigned)p->uid, (unsigned)p->gid,
		    capng_change_id_error(rc), err != 0 ? ": " : "",
		    err != 0 ? strerror(err) : "");
	}
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) == -1)
		fatal("%s: prctl(PR_SET_PDEATHSIG)", r->name);
}

static void
verify_ids(const struct role_desc *r, const struct sandbox_params *p)
{
	uid_t ru, eu, su;
	gid_t rg, eg, sg;

	if (setuid(0) != -1 || setgid(0) != -1)
		fatalx("%s: could regain root after switching to user %s",
		    r->name, user_of(p));
	if (getresuid(&ru, &eu, &su) == -1 || getresgid(&rg, &eg, &sg) == -1)
		fatal("%s: getres[ug]id", r->name);
	if (ru != p->uid || eu != p->uid || su != p->uid ||
	    rg != p->gid || eg != p->gid || sg != p->gid)
		fatalx("%s: ids are %u/%u/%u:%u/%u/%u, expected %u:%u (user %s)",
		    r->name, (unsigned)ru, (unsigned)eu, (unsigned)su,
		    (unsigned)rg, (unsigned)eg, (unsigned)sg,
		    (unsigned)p->uid, (unsigned)p->gid, user_of(p));
	if (getgroups(0, NULL) != 0)
		fatalx("%s: user %s kept supplementary groups", r->name,
		    user_of(p));
}

/* (e) for children: the ids are exactly the target, nothing is left in
 * any capability set, and root cannot be had back. */
static void
verify_user(const struct role_desc *r, const struct sandbox_params *p)
{
	verify_ids(r, p);
	if (capng_get_caps_process() != 0)
		fatal("%s: capng_get_caps_process", r->name);
	if (capng_have_capabilities(CAPNG_SELECT_BOTH) != CAPNG_NONE ||
	    capng_have_permitted_capabilities() != CAPNG_NONE ||
	    capng_have_capabilities(CAPNG_SELECT_AMBIENT) != CAPNG_NONE)
		fatalx("%s: capabilities left after switching to user %s",
		    r->name, user_of(p));
}

/* (d) for privd: exactly the role's capabilities in the effective,
 * permitted and bounding sets; inheritable and ambient empty. */
static void
keep_caps(const struct role_desc *r)
{
	const capng_type_t sets =
	    CAPNG_EFFECTIVE | CAPNG_PERMITTED | CAPNG_BOUNDING_SET;
	int rc;

	capng_clear(CAPNG_SELECT_ALL);
	for (unsigned c = 0; c <= CAP_SCAN_MAX; c++)
		if ((r->caps & CAPBIT(c)) != 0 &&
		    capng_update(CAPNG_ADD, sets, c) != 0)
			fatalx("%s: capng_update(%s)", r->name,
			    capng_capability_to_name(c));
	if ((rc = capng_apply(CAPNG_SELECT_ALL)) != 0)
		fatal("%s: capng_apply: %d", r->name, rc);
}

static void
verify_cap(const struct role_desc *r, unsigned c, capng_type_t set,
    const char *setname, bool want)
{
	const char *name = capng_capability_to_name(c);

	if ((capng_have_capability(set, c) != 0) != want)
		fatalx("%s: %s is %s the %s set", r->name,
		    name != NULL ? name : "capability", want ? "missing from" :
		    "still in", setname);
}

/* (e) for privd. */
static void
verify_caps(const struct role_desc *r)
{
	if (capng_get_caps_process() != 0)
		fatal("%s: capng_get_caps_process", r->name);
	for (unsigned c = 0; c <= CAP_SCAN_MAX; c++) {
		bool want = (r->caps & CAPBIT(c)) != 0;

		verify_cap(r, c, CAPNG_EFFECTIVE, "effective", want);
		verify_cap(r, c, CAPNG_PERMITTED, "permitted", want);
		verify_cap(r, c, CAPNG_BOUNDING_SET, "bounding", want);
		verify_cap(r, c, CAPNG_INHERITABLE, "inheritable", false);
		verify_cap(r, c, CAPNG_AMBIENT, "ambient", false);
	}
}

/* With RLIMIT_FSIZE 0, every write to a regular file fails: say so once
 * if that is where our log lines go. */
static void
warn_stderr_file(const struct role_desc *r)
{
	struct stat st;

	if (fstat(STDERR_FILENO, &st) == 0 && S_ISREG(st.st_mode))
		log_warnx("%s: stderr is a regular file and RLIMIT_FSIZE is 0: "
		    "log lines from here on are lost; log to a pipe or the "
		    "journal, ignoring", r->name);
}

static const char *
rlimit_name(int res)
{
	switch (res) {
	case RLIMIT_CORE:	return "RLIMIT_CORE";
	case RLIMIT_FSIZE:	return "RLIMIT_FSIZE";
	case RLIMIT_NOFILE:	return "RLIMIT_NOFILE";
	case RLIMIT_NPROC:	return "RLIMIT_NPROC";
	default:		return "rlimit";
	}
}

/* (f) Soft and hard limit alike.  A hard limit already below ours is
 * kept: raising it would need CAP_SYS_RESOURCE, and lower is stricter. */
static void
set_rlimits(const struct role_desc *r)
{
	struct rlimit rl;

	for (int res = 0; res < RLIMIT_NLIMITS; res++) {
		if (!r->rlimits[res].set)
			continue;
		if (getrlimit(res, &rl) == -1)
			fatal("%s: getrlimit(%s)", r->name, rlimit_name(res));
		if (rl.rlim_max > r->rlimits[res].value)
			rl.rlim_max = r->rlimits[res].value;
		rl.rlim_cur = rl.rlim_max;
		if (res == RLIMIT_FSIZE && rl.rlim_max == 0)
			warn_stderr_file(r);
		if (setrlimit(res, &rl) == -1)
			fatal("%s: setrlimit(%s, %llu)", r->name,
			    rlimit_name(res), (unsigned long long)rl.rlim_max);
	}
}

/* (g), see the top of the file for why so little. */
static void
set_signals(const struct role_desc *r)
{
	if (signal(SIGPIPE, SIG_IGN) == SIG_ERR)
		fatal("%s: signal(SIGPIPE)", r->name);
	if (r->rlimits[RLIMIT_FSIZE].set &&
	    signal(SIGXFSZ, SIG_IGN) == SIG_ERR)
		fatal("%s: signal(SIGXFSZ)", r->name);
}

/* (h) execve() can no longer add privileges, for us or anything we run. */
static void
set_no_new_privs(const struct role_desc *r)
{
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1)
		fatal("%s: prctl(PR_SET_NO_NEW_PRIVS)", r->name);
	if (prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1)
		fatalx("%s: no_new_privs did not stick", r->name);
}

/* (i) */
static void
load_filter(const struct role_desc *r)
{
	const char *where = "?";
	int rc;

	if ((rc = sc_load(r, &where)) < 0) {
		errno = -rc;
		fatal("%s: seccomp filter (%s)", r->name, where);
	}
}

static void
check_child_params(const struct role_desc *r, const struct sandbox_params *p)
{
	if (p->root_dir == NULL || p->root_dir[0] != '/')
		fatalx("%s: root dir must be an absolute path", r->name);
	if (p->uid == 0 || p->gid == 0 ||
	    p->uid == (uid_t)-1 || p->gid == (gid_t)-1)
		fatalx("%s: refusing to run as %u:%u (user %s)", r->name,
		    (unsigned)p->uid, (unsigned)p->gid, user_of(p));
}

void
sandbox_enter(const struct sandbox_params *p)
{
	const struct role_desc *r;

	if (p == NULL || (r = role_get(p->role)) == NULL)
		fatalx("sandbox: unknown role");
	sanitizer_prepare();
	if (r->chroot) {
		check_child_params(r, p);
		enter_root(r, p);
		drop_to_user(r, p);
		verify_user(r, p);
	} else {
		keep_caps(r);
		verify_caps(r);
	}
	set_rlimits(r);
	set_signals(r);
	set_no_new_privs(r);
	load_filter(r);
	log_debug("%s: sandboxed (user %s)", r->name,
	    r->chroot ? user_of(p) : "root");
}
