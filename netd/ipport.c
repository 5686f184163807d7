/* struct ipport: the 18-byte address+port of the Tailscale wire formats. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "ipport.h"

static const uint8_t v4mapped_prefix[12] = {
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff
};

bool
ipport_is_v4(const struct ipport *a)
{
	return memcmp(a->ip, v4mapped_prefix, sizeof(v4mapped_prefix)) == 0;
}

void
ipport_set_v4(struct ipport *a, const uint8_t ip4[4], uint16_t port)
{
	memcpy(a->ip, v4mapped_prefix, sizeof(v4mapped_prefix));
	memcpy(a->ip + 12, ip4, 4);
	a->port = port;
}

void
ipport_set_v6(struct ipport *a, const uint8_t ip6[16], uint16_t port)
{
	memcpy(a->ip, ip6, 16);
	a->port = port;
}

void
ipport_put(uint8_t out[IPPORT_WIRE_LEN], const struct ipport *a)
{
	memcpy(out, a->ip, 16);
	out[16] = (uint8_t)(a->port >> 8);
	out[17] = (uint8_t)a->port;
}

void
ipport_get(struct ipport *a, const uint8_t in[IPPORT_WIRE_LEN])
{
	memcpy(a->ip, in, 16);
	a->port = (uint16_t)(in[16] << 8 | in[17]);
}

socklen_t
ipport_to_sockaddr(const struct ipport *a, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (ipport_is_v4(a)) {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;

		sin->sin_family = AF_INET;
		sin->sin_port = htons(a->port);
		memcpy(&sin->sin_addr, a->ip + 12, 4);
		return sizeof(*sin);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(a->port);
		memcpy(&sin6->sin6_addr, a->ip, 16);
		return sizeof(*sin6);
	}
}

int
ipport_from_sockaddr(struct ipport *a, const struct sockaddr *sa,
    socklen_t len)
{
	if (sa->sa_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;

		ipport_set_v4(a, (const uint8_t *)&sin->sin_addr,
		    ntohs(sin->sin_port));
		return 0;
	}
	if (sa->sa_family == AF_INET6 && len >= sizeof(struct sockaddr_in6)) {
		const struct sockaddr_in6 *sin6 =
		    (const struct sockaddr_in6 *)sa;

		ipport_set_v6(a, (const uint8_t *)&sin6->sin6_addr,
		    ntohs(sin6->sin6_port));
		return 0;
	}
	return -1;
}

const char *
ipport_str(const struct ipport *a, char buf[IPPORT_STRLEN])
{
	char ip[INET6_ADDRSTRLEN];

	if (ipport_is_v4(a)) {
		inet_ntop(AF_INET, a->ip + 12, ip, sizeof(ip));
		snprintf(buf, IPPORT_STRLEN, "%s:%u", ip, a->port);
	} else {
		inet_ntop(AF_INET6, a->ip, ip, sizeof(ip));
		snprintf(buf, IPPORT_STRLEN, "[%s]:%u", ip, a->port);
	}
	return buf;
}
