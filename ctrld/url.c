#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "url.h"

static int
fail(char *err, size_t errlen, const char *msg)
{
	snprintf(err, errlen, "%s", msg);
	return -1;
}

int
url_parse(const char *s, struct ctrl_url *u, char *err, size_t errlen)
{
	const char *p, *hs, *he, *end;
	size_t hl;

	memset(u, 0, sizeof(*u));
	if (strncasecmp(s, "https://", 8) == 0) {
		u->tls = true;
		u->port = 443;
		p = s + 8;
	} else if (strncasecmp(s, "http://", 7) == 0) {
		u->port = 80;
		p = s + 7;
	} else
		return fail(err, errlen, "login server must be an http:// or "
		    "https:// URL");
	end = p + strcspn(p, "/?#");
	if (*end != '\0' && strcmp(end, "/") != 0)
		return fail(err, errlen, "login server URL must not have a "
		    "path");
	if (*p == '[') {
		hs = p + 1;
		if ((he = memchr(hs, ']', (size_t)(end - hs))) == NULL)
			return fail(err, errlen, "login server: bad IPv6 host");
		p = he + 1;
	} else {
		hs = p;
		he = memchr(hs, ':', (size_t)(end - hs));
		if (he == NULL)
			he = end;
		p = he;
	}
	hl = (size_t)(he - hs);
	if (hl == 0 || hl >= sizeof(u->host))
		return fail(err, errlen, "login server: bad host");
	memcpy(u->host, hs, hl);
	for (size_t i = 0; i < hl; i++)
		if (!isalnum((unsigned char)u->host[i]) &&
		    strchr(".-:_", u->host[i]) == NULL)
			return fail(err, errlen, "login server: bad host");
	if (p < end) {
		char *e;
		long port;

		if (*p != ':')
			return fail(err, errlen, "login server: bad host");
		port = strtol(p + 1, &e, 10);
		if (e != end || e == p + 1 || port < 1 || port > 65535)
			return fail(err, errlen, "login server: bad port");
		u->port = (uint16_t)port;
	}
	if (strchr(u->host, ':') != NULL)
		snprintf(u->authority, sizeof(u->authority), "[%s]", u->host);
	else
		snprintf(u->authority, sizeof(u->authority), "%s", u->host);
	if (u->port != (u->tls ? 443 : 80))
		snprintf(u->authority + strlen(u->authority),
		    sizeof(u->authority) - strlen(u->authority), ":%u",
		    (unsigned)u->port);
	return 0;
}

int
url_resolve(const struct ctrl_url *u, struct sockaddr_storage *ss,
    socklen_t *sslen, char *err, size_t errlen)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
	const char *host = strcasecmp(u->host, "localhost") == 0 ?
	    "127.0.0.1" : u->host;

	if (u->resolved) {
		*ss = u->addr;
		*sslen = u->addrlen;
		return 0;
	}
	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons(u->port);
		*sslen = sizeof(*sin);
		return 0;
	}
	if (inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(u->port);
		*sslen = sizeof(*sin6);
		return 0;
	}
	return fail(err, errlen, "login server: host name not resolved");
}
