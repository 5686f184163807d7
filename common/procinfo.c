#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "procinfo.h"

#define STATUS_MAX	8192	/* /proc/self/status is ~1.5 KiB */

enum field { F_PID, F_UID, F_GID, F_CAPEFF, F_CAPPRM, F_CAPBND, F_SECCOMP,
	F_NNP, F_COUNT };

static const char *const names[F_COUNT] = {
	[F_PID] = "Pid:", [F_UID] = "Uid:", [F_GID] = "Gid:",
	[F_CAPEFF] = "CapEff:", [F_CAPPRM] = "CapPrm:",
	[F_CAPBND] = "CapBnd:", [F_SECCOMP] = "Seccomp:",
	[F_NNP] = "NoNewPrivs:",
};

/* Parses the first number after the field name; hex for capability sets. */
static int
parse_value(const char *p, const char *end, int base, uint64_t *v)
{
	char num[32];
	size_t n = 0;
	char *ep;

	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	while (p < end && n < sizeof(num) - 1 && *p != '\t' && *p != ' ' &&
	    *p != '\n')
		num[n++] = *p++;
	num[n] = '\0';
	if (n == 0)
		return -EINVAL;
	errno = 0;
	*v = strtoull(num, &ep, base);
	return errno != 0 || *ep != '\0' ? -EINVAL : 0;
}

static void
store(struct procinfo *pi, enum field f, uint64_t v)
{
	switch (f) {
	case F_PID: pi->pid = (uint32_t)v; break;
	case F_UID: pi->uid = (uint32_t)v; break;
	case F_GID: pi->gid = (uint32_t)v; break;
	case F_CAPEFF: pi->cap_eff = v; break;
	case F_CAPPRM: pi->cap_prm = v; break;
	case F_CAPBND: pi->cap_bnd = v; break;
	case F_SECCOMP: pi->seccomp = (uint32_t)v; break;
	case F_NNP: pi->no_new_privs = (uint32_t)v; break;
	default: break;
	}
}

static int
parse_line(const char *p, const char *end, struct procinfo *pi, unsigned *seen)
{
	for (int f = 0; f < F_COUNT; f++) {
		size_t n = strlen(names[f]);
		uint64_t v;
		int base = (f == F_CAPEFF || f == F_CAPPRM || f == F_CAPBND) ?
		    16 : 10;

		if ((size_t)(end - p) < n || memcmp(p, names[f], n) != 0)
			continue;
		if (parse_value(p + n, end, base, &v) != 0)
			return -EINVAL;
		store(pi, (enum field)f, v);
		*seen |= 1u << f;
		return 0;
	}
	return 0;
}

int
procinfo_parse(const char *text, size_t len, struct procinfo *out)
{
	const char *p = text, *end = text + len;
	unsigned seen = 0;

	memset(out, 0, sizeof(*out));
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		if (nl == NULL)
			nl = end;
		if (parse_line(p, nl, out, &seen) != 0)
			return -EINVAL;
		p = nl + 1;
	}
	return seen == (1u << F_COUNT) - 1 ? 0 : -EINVAL;
}

int
procinfo_read_fd(int fd, struct procinfo *out)
{
	char *buf;
	ssize_t n;
	int r;

	if ((buf = malloc(STATUS_MAX)) == NULL)
		return -ENOMEM;
	n = pread(fd, buf, STATUS_MAX, 0);
	if (n < 0) {
		r = -errno;
		free(buf);
		return r;
	}
	r = procinfo_parse(buf, (size_t)n, out);
	free(buf);
	return r;
}
