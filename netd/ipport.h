/*
 * An IP address and UDP port as the Tailscale wire formats carry them:
 * 16 address bytes, IPv4 as v4-mapped (::ffff:a.b.c.d), and a port.
 * Disco (Pong, CallMeMaybe), DERP PeerPresent and STUN results all use it;
 * the socket path converts to and from sockaddr at the edge.
 */
#ifndef PM_NETD_IPPORT_H
#define PM_NETD_IPPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define IPPORT_WIRE_LEN	18	/* 16-byte address + big-endian port */
#define IPPORT_STRLEN	56	/* "[" INET6_ADDRSTRLEN "]:65535" */

struct ipport {
	uint8_t		ip[16];		/* IPv4 as ::ffff:a.b.c.d */
	uint16_t	port;		/* host byte order */
};

bool	ipport_is_v4(const struct ipport *);
void	ipport_set_v4(struct ipport *, const uint8_t ip4[4], uint16_t port);
void	ipport_set_v6(struct ipport *, const uint8_t ip6[16], uint16_t port);
/* 18 bytes: address then big-endian port (disco, DERP). */
void	ipport_put(uint8_t out[IPPORT_WIRE_LEN], const struct ipport *);
void	ipport_get(struct ipport *, const uint8_t in[IPPORT_WIRE_LEN]);
/* AF_INET for v4-mapped addresses, AF_INET6 otherwise; returns the length. */
socklen_t ipport_to_sockaddr(const struct ipport *, struct sockaddr_storage *);
int	ipport_from_sockaddr(struct ipport *, const struct sockaddr *,
	    socklen_t);
/* "1.2.3.4:5" or "[::1]:5", for logs. */
const char *ipport_str(const struct ipport *, char buf[IPPORT_STRLEN]);

#endif
