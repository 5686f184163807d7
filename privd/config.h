#ifndef PM_PRIVD_CONFIG_H
#define PM_PRIVD_CONFIG_H

#include <stddef.h>

/*
 * privd's config file: one "key value" per line, '#' starts a comment.
 * Keys mirror the long options (state-dir, socket, tun, mtu, netd-user,
 * ctrld-user, dnsd-user, operator-group, libexec-dir, wg-config, table,
 * exclude, advertise-routes; flags take yes/no: debug, allow-lan,
 * exit-node).  exclude and advertise-routes take comma-separated
 * prefixes and may repeat.  The callback gets
 * each pair; parse errors name the line.  Returns 0 or -EINVAL with `err`
 * holding "line N: ...".
 */
typedef int (*config_cb)(const char *key, const char *value, void *arg);

int	config_parse(const char *text, size_t len, config_cb cb, void *arg,
	    char *err, size_t errlen);

#endif
