#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "netstate.pb-c.h"
#include "statefile.h"

#define STATEFILE_MAX	4096

static const Pm__Sysctl keys[NS_NSYSCTL] = {
	[NS_SYSCTL_IP_FORWARD] = PM__SYSCTL__SYSCTL_IPV4_FORWARD,
	[NS_SYSCTL_IP6_FORWARDING] = PM__SYSCTL__SYSCTL_IPV6_ALL_FORWARDING,
};

static int
write_all(int fd, const uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return w < 0 ? -errno : -EIO;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int
replace_file(const char *path, const uint8_t *buf, size_t len)
{
	char tmp[4200];
	int fd, r;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp))
		return -ENAMETOOLONG;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
	    0600);
	if (fd < 0)
		return -errno;
	if ((r = write_all(fd, buf, len)) == 0 && fsync(fd) != 0)
		r = -errno;
	if (close(fd) != 0 && r == 0)
		r = -errno;
	if (r == 0 && rename(tmp, path) != 0)
		r = -errno;
	if (r < 0)
		unlink(tmp);
	return r;
}

int
statefile_write(const char *path, const char *ifname, unsigned table,
    const struct netstate *have)
{
	Pm__InstalledState st = PM__INSTALLED_STATE__INIT;
	Pm__SavedSysctl sv[NS_NSYSCTL], *svp[NS_NSYSCTL];
	uint32_t prios[16];
	uint8_t buf[STATEFILE_MAX];
	size_t len;

	st.interface = (char *)ifname;
	st.table = table;
	for (size_t i = 0; i < ns_npriorities && i < 16; i++)
		prios[i] = ns_priorities[i];
	st.rule_priorities = prios;
	st.n_rule_priorities = ns_npriorities;
	st.nft_table = have->nft.on;
	for (int k = 0; k < NS_NSYSCTL; k++) {
		if (!have->sysctl[k])
			continue;
		pm__saved_sysctl__init(&sv[st.n_sysctls]);
		sv[st.n_sysctls].key = keys[k];
		sv[st.n_sysctls].original = have->saved[k];
		svp[st.n_sysctls] = &sv[st.n_sysctls];
		st.n_sysctls++;
	}
	st.sysctls = svp;
	if ((len = pm__installed_state__get_packed_size(&st)) > sizeof(buf))
		return -EMSGSIZE;
	pm__installed_state__pack(&st, buf);
	return replace_file(path, buf, len);
}

int
statefile_parse(const uint8_t *buf, size_t len, struct saved_state *out)
{
	Pm__InstalledState *st;
	int r = 0;

	memset(out, 0, sizeof(*out));
	if ((st = pm__installed_state__unpack(NULL, len, buf)) == NULL)
		return -EINVAL;
	out->nft = st->nft_table;
	/* Never one of the kernel's own tables. */
	if (st->table != 0 && (st->table < 253 || st->table > 255))
		out->table = st->table;
	else if (st->table != 0)
		r = -EINVAL;
	for (size_t i = 0; i < st->n_sysctls && r == 0; i++) {
		const Pm__SavedSysctl *s = st->sysctls[i];
		int k;

		for (k = 0; k < NS_NSYSCTL && keys[k] != s->key; k++)
			;
		/* The forwarding sysctls only take small values. */
		if (k == NS_NSYSCTL || s->original > 2 || out->sysctl[k])
			r = -EINVAL;
		else {
			out->sysctl[k] = true;
			out->original[k] = s->original;
		}
	}
	pm__installed_state__free_unpacked(st, NULL);
	return r;
}

int
statefile_read(const char *path, struct saved_state *out)
{
	uint8_t buf[STATEFILE_MAX];
	ssize_t n;
	int fd;

	memset(out, 0, sizeof(*out));
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf));
	close(fd);
	if (n < 0 || (size_t)n == sizeof(buf))
		return -EINVAL;
	return statefile_parse(buf, (size_t)n, out);
}
