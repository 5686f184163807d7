/* Login server URLs as Headscale users write them: http(s)://host[:port][/] */
#ifndef PM_CTRLD_URL_H
#define PM_CTRLD_URL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

struct ctrl_url {
	bool		 tls;
	char		 host[256];	/* without brackets */
	char		 authority[272];	/* host[:port] as in Host: */
	uint16_t	 port;
};

/* 0, or -1 with `err` set. */
int	url_parse(const char *s, struct ctrl_url *, char *err, size_t errlen);

/*
 * The address to connect to.  IP literals and "localhost" only: see
 * docs/PROTOCOL.md (name resolution).  0, or -1 with `err` set.
 */
int	url_resolve(const struct ctrl_url *, struct sockaddr_storage *,
	    socklen_t *, char *err, size_t errlen);

#endif
