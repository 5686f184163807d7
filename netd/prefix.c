#include <sys/socket.h>
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "prefix.h"

int
nprefix_parse(const char *s, struct nprefix *p)
{
	char buf[64], *slash, *end;
	unsigned long n;

	if (strlen(s) >= sizeof(buf) || (slash = strchr(s, '/')) == NULL)
		return -1;
	memcpy(buf, s, (size_t)(slash - s));
	buf[slash - s] = '\0';
	memset(p->addr, 0, sizeof(p->addr));
	if (inet_pton(AF_INET, buf, p->addr) == 1)
		p->family = AF_INET;
	else if (inet_pton(AF_INET6, buf, p->addr) == 1)
		p->family = AF_INET6;
	else
		return -1;
	errno = 0;
	n = strtoul(slash + 1, &end, 10);
	if (errno || *end || slash[1] == '\0' ||
	    n > (p->family == AF_INET ? 32u : 128u))
		return -1;
	p->cidr = (uint8_t)n;
	return 0;
}
