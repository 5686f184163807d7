/*
 * An IP prefix as ctrld sends it ("addr/len" text, Go's netip.Prefix),
 * parsed strictly: the peer set and the packet filter both read them.
 */
#ifndef PM_NETD_PREFIX_H
#define PM_NETD_PREFIX_H

#include <stdint.h>

struct nprefix {
	uint8_t		 family;	/* AF_INET or AF_INET6 */
	uint8_t		 cidr;
	uint8_t		 addr[16];	/* network order, zero-padded */
};

/* 0, or -1 if `s` is not an address, '/', and a length in range. */
int	nprefix_parse(const char *s, struct nprefix *p);

#endif
