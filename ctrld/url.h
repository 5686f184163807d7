/* Login server URLs as Headscale users write them: http(s)://host[:port][/] */
#ifndef PM_CTRLD_URL_H
#define PM_CTRLD_URL_H

#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>
#include <sys/socket.h>

struct ctrl_url {
	bool		 tls;
	char		 host[256];	/* without brackets */
	char		 authority[272];	/* host[:port] as in Host: */
	uint16_t	 port;
	bool		 resolved;	/* addr filled in by ctrld/resolve.c */
	struct sockaddr_storage addr;
	socklen_t	 addrlen;
};

/* 0, or -1 with `err` set. */
int	url_parse(const char *s, struct ctrl_url *, char *err, size_t errlen);

/*
 * The address to connect to: `addr` once resolved, an IP literal, or
 * "localhost".  0, or -1 with `err` set (a name still to resolve).
 */
int	url_resolve(const struct ctrl_url *, struct sockaddr_storage *,
	    socklen_t *, char *err, size_t errlen);

#endif
