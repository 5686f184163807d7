/*
 * A process's own view of its privileges, parsed from /proc/self/status.
 * The file is opened before the sandbox (there is no /proc in the empty
 * root) and re-read with pread(2), which a seq_file regenerates each time.
 */
#ifndef PM_PROCINFO_H
#define PM_PROCINFO_H

#include <stddef.h>
#include <stdint.h>

struct procinfo {
	uint32_t	pid;
	uint32_t	uid;		/* real uid */
	uint32_t	gid;		/* real gid */
	uint64_t	cap_eff;
	uint64_t	cap_prm;
	uint64_t	cap_bnd;
	uint32_t	seccomp;	/* 0 none, 1 strict, 2 filter */
	uint32_t	no_new_privs;
};

/* Parses the text of a status file.  Returns 0 or -EINVAL. */
int	procinfo_parse(const char *text, size_t len, struct procinfo *out);

/* Reads and parses an open /proc/<pid>/status descriptor. */
int	procinfo_read_fd(int fd, struct procinfo *out);

#endif
