/*
 * Per-message checks for the DNS channels (netd <-> dnsd, privd -> dnsd,
 * ctrld -> dnsd), kept apart from check.c.  Same contract: 0 or -EINVAL,
 * after unpacking, before dispatch.
 */
#include <errno.h>
#include <sys/socket.h>
#include <string.h>

#include "check.h"
#include "ctrld_to_dnsd.pb-c.h"
#include "dnsd_to_ctrld.pb-c.h"
#include "dnsd_to_privd.pb-c.h"
#include "netd_to_dnsd.pb-c.h"
#include "privd_to_dnsd.pb-c.h"

#define DNS_BATCH_MAX		256	/* packets per datagram */
#define DNS_MSG_MAX		65535
#define ADDR_TEXT_MAX		53	/* "[v6]:port" */
#define DNS_NAME_TEXT_MAX	254
#define DNS_HOSTS_MAX		4096	/* per DnsConfig part */
#define DNS_LIST_MAX		64
#define OS_SEARCH_MAX		16	/* search domains privd writes */
#define OS_MATCH_MAX		256	/* match domains privd gives resolved */

static const uint8_t quad100_v4[4] = { 100, 100, 100, 100 };
static const uint8_t quad100_v6[16] = { 0xfd, 0x7a, 0x11, 0x5c, 0xa1, 0xe0,
    [15] = 0x53 };

static int
s_ok(const char *s, size_t min, size_t max)
{
	size_t n;

	if (s == NULL)
		return min == 0;
	n = strnlen(s, max + 1);
	return n >= min && n <= max;
}

static int
list_ok(char **v, size_t n, size_t max, size_t maxlen)
{
	if (n > max)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!s_ok(v[i], 1, maxlen))
			return 0;
	return 1;
}

static int
is_quad100(const ProtobufCBinaryData *a)
{
	return (a->len == 4 && memcmp(a->data, quad100_v4, 4) == 0) ||
	    (a->len == 16 && memcmp(a->data, quad100_v6, 16) == 0);
}

static int
packets_ok(const Pm__DnsPackets *p)
{
	if (p->n_packets == 0 || p->n_packets > DNS_BATCH_MAX)
		return 0;
	for (size_t i = 0; i < p->n_packets; i++) {
		const Pm__DnsPacket *d = p->packets[i];
		if ((d->client.len != 4 && d->client.len != 16) ||
		    d->server.len != d->client.len || !is_quad100(&d->server) ||
		    d->client_port == 0 || d->client_port > 65535 ||
		    d->msg.len == 0 || d->msg.len > DNS_MSG_MAX)
			return 0;
	}
	return 1;
}

/* Both directions: netd only ever asks about, and accepts answers from,
 * the quad-100 addresses. */
int
check_dns_packets(const struct ipc_policy *pol, const ProtobufCMessage *m)
{
	(void)pol;
	return packets_ok((const Pm__DnsPackets *)m) ? 0 : -EINVAL;
}

int
check_dns_config_file(const struct ipc_policy *pol, const ProtobufCMessage *m)
{
	const Pm__DnsConfigFile *f = (const Pm__DnsConfigFile *)m;

	(void)pol;
	return s_ok(f->path, 1, 4095) ? 0 : -EINVAL;
}

int
check_host_resolvers(const struct ipc_policy *pol, const ProtobufCMessage *m)
{
	const Pm__HostResolvers *h = (const Pm__HostResolvers *)m;

	(void)pol;
	return list_ok(h->addrs, h->n_addrs, 16, ADDR_TEXT_MAX) ? 0 : -EINVAL;
}

int
check_dns_config(const struct ipc_policy *pol, const ProtobufCMessage *m)
{
	const Pm__DnsConfig *c = (const Pm__DnsConfig *)m;

	(void)pol;
	if (c->n_hosts > DNS_HOSTS_MAX || c->n_routes > DNS_HOSTS_MAX ||
	    !list_ok(c->search_domains, c->n_search_domains, 16,
	    DNS_NAME_TEXT_MAX) ||
	    !list_ok(c->resolvers, c->n_resolvers, 8, ADDR_TEXT_MAX) ||
	    !list_ok(c->fallback_resolvers, c->n_fallback_resolvers, 8,
	    ADDR_TEXT_MAX))
		return -EINVAL;
	for (size_t i = 0; i < c->n_hosts; i++)
		if (!s_ok(c->hosts[i]->name, 1, DNS_NAME_TEXT_MAX) ||
		    c->hosts[i]->n_addrs == 0 ||
		    !list_ok(c->hosts[i]->addrs, c->hosts[i]->n_addrs, 16,
		    ADDR_TEXT_MAX))
			return -EINVAL;
	for (size_t i = 0; i < c->n_routes; i++)
		if (!s_ok(c->routes[i]->suffix, 1, DNS_NAME_TEXT_MAX) ||
		    !list_ok(c->routes[i]->resolvers, c->routes[i]->n_resolvers,
		    8, ADDR_TEXT_MAX))
			return -EINVAL;
	return 0;
}

static int
host_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '-' || c == '_';
}

/* A host name as resolv.conf(5) can carry it: labels of 1-63 letters,
 * digits, '-' or '_', not starting or ending with '-', at most 253 bytes
 * plus an optional trailing dot.  Nothing else (no blanks, '#', ';',
 * backslashes or control bytes) can reach the root-owned file. */
int
dns_hostname_ok(const char *s)
{
	size_t n, label = 0;

	if (s == NULL || (n = strnlen(s, 255)) == 0 || n > 254)
		return 0;
	if (s[n - 1] == '.')
		n--;
	if (n == 0 || n > 253)
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '.') {
			if (label == 0 || s[i - 1] == '-')
				return 0;
			label = 0;
			continue;
		}
		if (!host_char(s[i]) || (label == 0 && s[i] == '-') ||
		    ++label > 63)
			return 0;
	}
	return label > 0 && s[n - 1] != '-';
}

int
check_os_dns(const struct ipc_policy *pol, const ProtobufCMessage *m)
{
	const Pm__OsDns *o = (const Pm__OsDns *)m;

	(void)pol;
	if (o->n_search_domains > OS_SEARCH_MAX ||
	    o->n_match_domains > OS_MATCH_MAX)
		return -EINVAL;
	for (size_t i = 0; i < o->n_search_domains; i++)
		if (!dns_hostname_ok(o->search_domains[i]))
			return -EINVAL;
	for (size_t i = 0; i < o->n_match_domains; i++)
		if (!dns_hostname_ok(o->match_domains[i]))
			return -EINVAL;
	return 0;
}

int
check_dns_status(const struct ipc_policy *pol, const ProtobufCMessage *m)
{
	(void)pol;
	return ((const Pm__DnsStatus *)m)->counters != NULL ? 0 : -EINVAL;
}

#define UPSTREAM_SOCKETS_MAX	8	/* per request */

int
check_upstream_sockets(const struct ipc_policy *pol, const ProtobufCMessage *m)
{
	const Pm__UpstreamSocketsRequest *r =
	    (const Pm__UpstreamSocketsRequest *)m;

	(void)pol;
	return (r->family == AF_INET || r->family == AF_INET6) &&
	    r->count >= 1 && r->count <= UPSTREAM_SOCKETS_MAX ? 0 : -EINVAL;
}

int
check_upstream_socket(const struct ipc_policy *pol, const ProtobufCMessage *m)
{
	const Pm__UpstreamSocket *s = (const Pm__UpstreamSocket *)m;

	(void)pol;
	return s->family == AF_INET || s->family == AF_INET6 ? 0 : -EINVAL;
}
