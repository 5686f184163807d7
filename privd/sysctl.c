/*
 * The forwarding sysctls an exit node or subnet router needs, through
 * /proc/sys (privd runs no sysctl program).  Only these two paths, fixed
 * here; the values are small integers.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "sysctl.h"

static const char *const paths[NS_NSYSCTL] = {
	[NS_SYSCTL_IP_FORWARD] = "/proc/sys/net/ipv4/ip_forward",
	[NS_SYSCTL_IP6_FORWARDING] = "/proc/sys/net/ipv6/conf/all/forwarding",
};

const char *
sysctl_path(enum ns_sysctl k)
{
	return paths[k];
}

int
sysctl_get(enum ns_sysctl k, uint32_t *v)
{
	char buf[32], *end;
	ssize_t n;
	unsigned long x;
	int fd, r = 0;

	if ((fd = open(paths[k], O_RDONLY | O_CLOEXEC)) < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	if (n < 0)
		r = -errno;
	close(fd);
	if (r < 0)
		return r;
	buf[n] = '\0';
	x = strtoul(buf, &end, 10);
	if (end == buf || (*end != '\n' && *end != '\0') || x > 255)
		return -EINVAL;
	*v = (uint32_t)x;
	return 0;
}

int
sysctl_set(enum ns_sysctl k, uint32_t v)
{
	char buf[16];
	int fd, n, r = 0;

	if ((fd = open(paths[k], O_WRONLY | O_CLOEXEC)) < 0)
		return -errno;
	n = snprintf(buf, sizeof(buf), "%u\n", v);
	if (write(fd, buf, (size_t)n) != n)
		r = errno ? -errno : -EIO;
	close(fd);
	return r;
}
