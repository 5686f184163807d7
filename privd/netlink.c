#include <arpa/inet.h>
#include <errno.h>
#include <linux/fib_rules.h>
#include <linux/if.h>
#include <linux/rtnetlink.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <libmnl/libmnl.h>

#include "netlink.h"

/* Requests are a few hundred bytes; answers to them (acks, errors) too. */
#define NL_BUF	8192

int
nl_open(struct nl *nl)
{
	int r;

	memset(nl, 0, sizeof(*nl));
	if ((nl->sock = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC)) == NULL)
		return -errno;
	if (mnl_socket_bind(nl->sock, 0, MNL_SOCKET_AUTOPID) < 0) {
		r = -errno;
		mnl_socket_close(nl->sock);
		nl->sock = NULL;
		return r;
	}
	nl->portid = mnl_socket_get_portid(nl->sock);
	nl->seq = (uint32_t)time(NULL);
	return 0;
}

void
nl_close(struct nl *nl)
{
	if (nl->sock != NULL)
		mnl_socket_close(nl->sock);
	nl->sock = NULL;
}

static struct nlmsghdr *
begin(struct nl *nl, char *buf, uint16_t type, uint16_t flags)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);

	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | flags;
	nlh->nlmsg_seq = ++nl->seq;
	return nlh;
}

/* Sends one request and waits for its acknowledgement. */
static int
transact(struct nl *nl, struct nlmsghdr *nlh)
{
	char buf[NL_BUF];
	ssize_t n;
	int r;

	if (mnl_socket_sendto(nl->sock, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	while ((n = mnl_socket_recvfrom(nl->sock, buf, sizeof(buf))) > 0) {
		r = mnl_cb_run(buf, (size_t)n, nlh->nlmsg_seq, nl->portid, NULL,
		    NULL);
		if (r <= MNL_CB_STOP)
			return r < 0 ? -errno : 0;
	}
	return n < 0 ? -errno : -EIO;
}

static size_t
addr_len(uint8_t family)
{
	return family == AF_INET ? 4 : 16;
}

int
nl_link_set(struct nl *nl, unsigned ifindex, bool up, unsigned mtu)
{
	char buf[NL_BUF];
	struct nlmsghdr *nlh = begin(nl, buf, RTM_NEWLINK, 0);
	struct ifinfomsg *ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));

	ifi->ifi_family = AF_UNSPEC;
	ifi->ifi_index = (int)ifindex;
	ifi->ifi_change = IFF_UP;
	ifi->ifi_flags = up ? IFF_UP : 0;
	if (mtu != 0)
		mnl_attr_put_u32(nlh, IFLA_MTU, mtu);
	return transact(nl, nlh);
}

int
nl_addr(struct nl *nl, bool add, unsigned ifindex, const struct prefix *p)
{
	char buf[NL_BUF];
	struct nlmsghdr *nlh = begin(nl, buf, add ? RTM_NEWADDR : RTM_DELADDR,
	    add ? NLM_F_CREATE | NLM_F_EXCL : 0);
	struct ifaddrmsg *ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));

	ifa->ifa_family = p->family;
	ifa->ifa_prefixlen = p->len;
	ifa->ifa_index = ifindex;
	ifa->ifa_scope = RT_SCOPE_UNIVERSE;
	mnl_attr_put(nlh, IFA_LOCAL, addr_len(p->family), p->addr);
	mnl_attr_put(nlh, IFA_ADDRESS, addr_len(p->family), p->addr);
	return transact(nl, nlh);
}

int
nl_route(struct nl *nl, bool add, unsigned table, const struct prefix *dst,
    unsigned ifindex, uint8_t type)
{
	char buf[NL_BUF];
	struct nlmsghdr *nlh = begin(nl, buf, add ? RTM_NEWROUTE : RTM_DELROUTE,
	    add ? NLM_F_CREATE | NLM_F_EXCL : 0);
	struct rtmsg *rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));

	rtm->rtm_family = dst->family;
	rtm->rtm_dst_len = dst->len;
	rtm->rtm_table = table < 256 ? (uint8_t)table : RT_TABLE_UNSPEC;
	/* A delete matches any protocol and scope, so a flush gets every
	 * route in the table whatever it looks like. */
	rtm->rtm_protocol = add ? RTPROT_STATIC : RTPROT_UNSPEC;
	rtm->rtm_scope = !add ? RT_SCOPE_NOWHERE : type == RTN_UNICAST ?
	    RT_SCOPE_LINK : RT_SCOPE_UNIVERSE;
	rtm->rtm_type = type;
	mnl_attr_put_u32(nlh, RTA_TABLE, table);
	if (dst->len > 0)
		mnl_attr_put(nlh, RTA_DST, addr_len(dst->family), dst->addr);
	if (ifindex != 0)
		mnl_attr_put_u32(nlh, RTA_OIF, ifindex);
	return transact(nl, nlh);
}

int
nl_rule(struct nl *nl, bool add, const struct rule *ru)
{
	char buf[NL_BUF];
	struct nlmsghdr *nlh = begin(nl, buf, add ? RTM_NEWRULE : RTM_DELRULE,
	    add ? NLM_F_CREATE | NLM_F_EXCL : 0);
	struct fib_rule_hdr *frh = mnl_nlmsg_put_extra_header(nlh, sizeof(*frh));

	frh->family = ru->family;
	frh->action = ru->type;
	frh->table = ru->table < 256 ? (uint8_t)ru->table : RT_TABLE_UNSPEC;
	if (ru->invert)
		frh->flags |= FIB_RULE_INVERT;
	mnl_attr_put_u32(nlh, FRA_PRIORITY, ru->priority);
	if (ru->has_dst) {
		frh->dst_len = ru->dst.len;
		mnl_attr_put(nlh, FRA_DST, addr_len(ru->dst.family),
		    ru->dst.addr);
	}
	if (ru->table != 0)
		mnl_attr_put_u32(nlh, FRA_TABLE, ru->table);
	if (ru->fwmask != 0) {
		mnl_attr_put_u32(nlh, FRA_FWMARK, ru->fwmark);
		mnl_attr_put_u32(nlh, FRA_FWMASK, ru->fwmask);
	}
	if (ru->suppress_prefixlen >= 0)
		mnl_attr_put_u32(nlh, FRA_SUPPRESS_PREFIXLEN,
		    (uint32_t)ru->suppress_prefixlen);
	return transact(nl, nlh);
}

bool
prefix_valid(const struct prefix *p)
{
	unsigned bits = (unsigned)addr_len(p->family) * 8;

	if ((p->family != AF_INET && p->family != AF_INET6) || p->len > bits)
		return false;
	for (unsigned i = p->len; i < bits; i++)
		if (p->addr[i / 8] & (0x80 >> (i % 8)))
			return false;
	return true;
}

int
prefix_parse(const char *s, bool strict, struct prefix *out)
{
	char host[INET6_ADDRSTRLEN + 1], *end;
	const char *slash = strchr(s, '/');
	size_t n = slash ? (size_t)(slash - s) : strlen(s);
	unsigned long len;

	memset(out, 0, sizeof(*out));
	if (n == 0 || n >= sizeof(host))
		return -EINVAL;
	memcpy(host, s, n);
	host[n] = '\0';
	if (inet_pton(AF_INET, host, out->addr) == 1)
		out->family = AF_INET;
	else if (inet_pton(AF_INET6, host, out->addr) == 1)
		out->family = AF_INET6;
	else
		return -EINVAL;
	len = addr_len(out->family) * 8;
	if (slash != NULL) {
		errno = 0;
		len = strtoul(slash + 1, &end, 10);
		if (errno || *end || end == slash + 1 ||
		    len > addr_len(out->family) * 8)
			return -EINVAL;
	}
	out->len = (uint8_t)len;
	if (strict && !prefix_valid(out))
		return -EINVAL;
	return 0;
}

const char *
prefix_fmt(const struct prefix *p, char *buf, unsigned len)
{
	char a[INET6_ADDRSTRLEN];

	if (inet_ntop(p->family, p->addr, a, sizeof(a)) == NULL)
		snprintf(a, sizeof(a), "?");
	snprintf(buf, len, "%s/%u", a, p->len);
	return buf;
}

int
nl_rule_flush(struct nl *nl, uint8_t family, uint32_t priority)
{
	/* No action, table or selector: the kernel matches on priority. */
	struct rule ru = { .family = family, .priority = priority,
	    .suppress_prefixlen = -1 };
	int n = 0, r;

	while ((r = nl_rule(nl, false, &ru)) == 0)
		if (++n > 100000)
			return -ELOOP;
	return r == -ENOENT ? n : r;
}

/* Routes found by a dump, deleted after it (not during: the dump would
 * skip entries). */
struct route_list {
	unsigned	 table;
	size_t		 n;
	struct {
		struct prefix	dst;
		uint8_t		type;
	}		 r[256];
};

static int
route_attr_cb(const struct nlattr *a, void *data)
{
	const struct nlattr **tb = data;
	int type = mnl_attr_get_type(a);

	if (mnl_attr_type_valid(a, RTA_MAX) > 0)
		tb[type] = a;
	return MNL_CB_OK;
}

static int
route_dump_cb(const struct nlmsghdr *nlh, void *data)
{
	struct route_list *rl = data;
	const struct rtmsg *rtm = mnl_nlmsg_get_payload(nlh);
	const struct nlattr *tb[RTA_MAX + 1] = { NULL };
	unsigned table = rtm->rtm_table;
	size_t alen;

	mnl_attr_parse(nlh, sizeof(*rtm), route_attr_cb, tb);
	if (tb[RTA_TABLE] != NULL)
		table = mnl_attr_get_u32(tb[RTA_TABLE]);
	if (table != rl->table || rl->n == sizeof(rl->r) / sizeof(rl->r[0]) ||
	    (rtm->rtm_family != AF_INET && rtm->rtm_family != AF_INET6))
		return MNL_CB_OK;
	alen = addr_len(rtm->rtm_family);
	memset(&rl->r[rl->n], 0, sizeof(rl->r[rl->n]));
	rl->r[rl->n].dst.family = rtm->rtm_family;
	rl->r[rl->n].dst.len = rtm->rtm_dst_len;
	rl->r[rl->n].type = rtm->rtm_type;
	if (tb[RTA_DST] != NULL && mnl_attr_get_payload_len(tb[RTA_DST]) == alen)
		memcpy(rl->r[rl->n].dst.addr, mnl_attr_get_payload(tb[RTA_DST]),
		    alen);
	rl->n++;
	return MNL_CB_OK;
}

static int
route_dump(struct nl *nl, struct route_list *rl)
{
	static char buf[32768];	/* the kernel's largest dump skb */
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct rtmsg *rtm;
	ssize_t n;
	int r;

	nlh->nlmsg_type = RTM_GETROUTE;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	nlh->nlmsg_seq = ++nl->seq;
	rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));
	rtm->rtm_family = AF_UNSPEC;
	if (mnl_socket_sendto(nl->sock, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	while ((n = mnl_socket_recvfrom(nl->sock, buf, sizeof(buf))) > 0) {
		r = mnl_cb_run(buf, (size_t)n, nl->seq, nl->portid,
		    route_dump_cb, rl);
		if (r <= MNL_CB_STOP)
			return r < 0 ? -errno : 0;
	}
	return n < 0 ? -errno : -EIO;
}

int
nl_route_flush(struct nl *nl, unsigned table)
{
	static struct route_list rl;
	int total = 0, r, passes = 0;

	do {
		/* Each pass takes up to 256; a route that will not go must
		 * not keep us here. */
		if (++passes > 1024)
			return -ELOOP;
		rl.table = table;
		rl.n = 0;
		if ((r = route_dump(nl, &rl)) < 0)
			return r;
		for (size_t i = 0; i < rl.n; i++) {
			r = nl_route(nl, false, table, &rl.r[i].dst, 0,
			    rl.r[i].type);
			if (r < 0 && r != -ESRCH && r != -ENOENT)
				return r;
			total++;
		}
	} while (rl.n == sizeof(rl.r) / sizeof(rl.r[0]));
	return total;
}
