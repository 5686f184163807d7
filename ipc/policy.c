/*
 * The allow-list of every directed channel, as its receiver enforces it.
 * A kind missing here is dropped even if the .proto defines it; test-only
 * kinds exist only in test builds (-Dtest_hooks=true).
 */
#include <stddef.h>

#include "check.h"
#include "fds.h"
#include "ipc.h"

#include "ctrld_to_dnsd.pb-c.h"
#include "ctrld_to_netd.pb-c.h"
#include "ctrld_to_privd.pb-c.h"
#include "dnsd_to_ctrld.pb-c.h"
#include "dnsd_to_netd.pb-c.h"
#include "dnsd_to_privd.pb-c.h"
#include "netd_to_ctrld.pb-c.h"
#include "netd_to_dnsd.pb-c.h"
#include "netd_to_privd.pb-c.h"
#include "privd_to_ctrld.pb-c.h"
#include "privd_to_dnsd.pb-c.h"
#include "privd_to_netd.pb-c.h"

/* Largest datagram per channel.  Control messages are small; channels that
 * will carry netmaps split them into transactions instead of growing. */
#define SMALL_MAX	4096
/* netd's interface and status reports list prefixes and peers; dnsd's
 * OsDns lists up to 256 match domains for systemd-resolved. */
#define LARGE_MAX	65536

#define N(a)	(sizeof(a) / sizeof((a)[0]))
#define RUN	IPC_PHASE_RUN
#define START	IPC_PHASE_START

#ifdef PM_TEST_HOOKS
#define TEST_KIND(k)	{ (k), 0, RUN, NULL },
#else
#define TEST_KIND(k)
#endif

static const struct ipc_kind privd_netd[] = {
	{ PM__PRIVD_TO_NETD__MSG_PEER_CHANNEL, IPC_F_FD, 0, check_peer_channel },
	{ PM__PRIVD_TO_NETD__MSG_TUN_DEVICE, IPC_F_FD | IPC_F_ONCE, 0,
	    check_tun_device },
	{ PM__PRIVD_TO_NETD__MSG_WG_CONFIG_FILE, IPC_F_FD | IPC_F_ONCE, 0,
	    check_wg_config_file },
	{ PM__PRIVD_TO_NETD__MSG_UDP_SOCKET, IPC_F_FD | IPC_F_ONCE, 0,
	    check_udp_socket },
	{ PM__PRIVD_TO_NETD__MSG_DERP_SOCKET, IPC_F_FD, 0, check_derp_socket },
};
static const struct ipc_kind privd_ctrld[] = {
	{ PM__PRIVD_TO_CTRLD__MSG_PEER_CHANNEL, IPC_F_FD, 0, check_peer_channel },
	{ PM__PRIVD_TO_CTRLD__MSG_API_LISTENER, IPC_F_FD | IPC_F_ONCE, 0,
	    check_api_listener },
	{ PM__PRIVD_TO_CTRLD__MSG_STATUS_REPLY, 0, 0, check_status_reply },
	{ PM__PRIVD_TO_CTRLD__MSG_NET_STATE_REPLY, 0, 0,
	    check_net_state_reply },
};
static const struct ipc_kind privd_dnsd[] = {
	{ PM__PRIVD_TO_DNSD__MSG_PEER_CHANNEL, IPC_F_FD, 0, check_peer_channel },
	{ PM__PRIVD_TO_DNSD__MSG_DNS_CONFIG_FILE, IPC_F_FD | IPC_F_ONCE, 0,
	    check_dns_config_file },
	{ PM__PRIVD_TO_DNSD__MSG_HOST_RESOLVERS, IPC_F_ONCE, 0,
	    check_host_resolvers },
	{ PM__PRIVD_TO_DNSD__MSG_UPSTREAM_SOCKET, IPC_F_FD, 0,
	    check_upstream_socket },
};

/* privd accepts nothing but Ready until a child confirmed its sandbox. */
static const struct ipc_kind netd_privd[] = {
	{ PM__NETD_TO_PRIVD__MSG_READY, IPC_F_ONCE, START, check_ready },
	{ PM__NETD_TO_PRIVD__MSG_PEER_MISBEHAVED, 0, RUN, check_peer_misbehaved },
	{ PM__NETD_TO_PRIVD__MSG_WG_INTERFACE, IPC_F_ONCE, RUN,
	    check_wg_interface },
	{ PM__NETD_TO_PRIVD__MSG_WG_CONFIG_ERROR, IPC_F_ONCE, RUN,
	    check_wg_config_error },
	{ PM__NETD_TO_PRIVD__MSG_DERP_SOCKET_REQUEST, 0, RUN,
	    check_derp_socket_request },
};
static const struct ipc_kind ctrld_privd[] = {
	{ PM__CTRLD_TO_PRIVD__MSG_READY, IPC_F_ONCE, START, check_ready },
	{ PM__CTRLD_TO_PRIVD__MSG_PEER_MISBEHAVED, 0, RUN, check_peer_misbehaved },
	{ PM__CTRLD_TO_PRIVD__MSG_STATUS_REQUEST, 0, RUN, NULL },
	/* Only string shapes here; privd checks the meaning and answers. */
	{ PM__CTRLD_TO_PRIVD__MSG_NET_STATE, 0, RUN, check_net_state },
};
static const struct ipc_kind dnsd_privd[] = {
	{ PM__DNSD_TO_PRIVD__MSG_READY, IPC_F_ONCE, START, check_ready },
	{ PM__DNSD_TO_PRIVD__MSG_PEER_MISBEHAVED, 0, RUN, check_peer_misbehaved },
	{ PM__DNSD_TO_PRIVD__MSG_OS_DNS, 0, RUN, check_os_dns },
	{ PM__DNSD_TO_PRIVD__MSG_UPSTREAM_SOCKETS, 0, RUN,
	    check_upstream_sockets },
};

static const struct ipc_kind ctrld_netd[] = {
	{ PM__CTRLD_TO_NETD__MSG_PROC_INFO_REQUEST, 0, 0, NULL },
	{ PM__CTRLD_TO_NETD__MSG_WG_STATUS_REQUEST, 0, 0, NULL },
	{ PM__CTRLD_TO_NETD__MSG_NODE_KEYS_REQUEST, 0, 0, NULL },
	{ PM__CTRLD_TO_NETD__MSG_PEER_UPDATE, 0, 0, check_peer_update },
	{ PM__CTRLD_TO_NETD__MSG_FILTER_UPDATE, 0, 0, check_filter_update },
	{ PM__CTRLD_TO_NETD__MSG_DERP_MAP_UPDATE, 0, 0, check_derp_map_update },
	{ PM__CTRLD_TO_NETD__MSG_NETCHECK_REQUEST, 0, 0, NULL },
	{ PM__CTRLD_TO_NETD__MSG_PING_REQUEST, 0, 0, check_ping_request },
	TEST_KIND(PM__CTRLD_TO_NETD__MSG_TEST_FORBIDDEN_SYSCALL)
};
static const struct ipc_kind ctrld_dnsd[] = {
	{ PM__CTRLD_TO_DNSD__MSG_PROC_INFO_REQUEST, 0, 0, NULL },
	{ PM__CTRLD_TO_DNSD__MSG_DNS_CONFIG, 0, 0, check_dns_config },
	TEST_KIND(PM__CTRLD_TO_DNSD__MSG_TEST_FORBIDDEN_SYSCALL)
};
static const struct ipc_kind netd_ctrld[] = {
	{ PM__NETD_TO_CTRLD__MSG_PROC_INFO_REPLY, 0, 0, check_proc_info_reply },
	{ PM__NETD_TO_CTRLD__MSG_WG_STATUS_REPLY, 0, 0, check_wg_status_reply },
	{ PM__NETD_TO_CTRLD__MSG_NODE_KEYS, 0, 0, check_node_keys },
	{ PM__NETD_TO_CTRLD__MSG_ENDPOINTS, 0, 0, check_endpoints },
	{ PM__NETD_TO_CTRLD__MSG_NETCHECK_REPORT, 0, 0, check_netcheck_report },
	{ PM__NETD_TO_CTRLD__MSG_NET_INFO, 0, 0, check_net_info },
	{ PM__NETD_TO_CTRLD__MSG_PING_REPLY, 0, 0, check_ping_reply },
	TEST_KIND(PM__NETD_TO_CTRLD__MSG_TEST_FORBIDDEN_SYSCALL)
};
static const struct ipc_kind dnsd_ctrld[] = {
	{ PM__DNSD_TO_CTRLD__MSG_PROC_INFO_REPLY, 0, 0, check_proc_info_reply },
	{ PM__DNSD_TO_CTRLD__MSG_DNS_STATUS, 0, 0, check_dns_status },
	TEST_KIND(PM__DNSD_TO_CTRLD__MSG_TEST_FORBIDDEN_SYSCALL)
};

static const struct ipc_kind netd_dnsd[] = {
	{ PM__NETD_TO_DNSD__MSG_QUERIES, 0, 0, check_dns_packets },
};
static const struct ipc_kind dnsd_netd[] = {
	{ PM__DNSD_TO_NETD__MSG_REPLIES, 0, 0, check_dns_packets },
};

#define POLICY(f, t, desc, max, kinds) {				\
	#f "->" #t, PM__PROC__PROC_##f, PM__PROC__PROC_##t, &(desc),	\
	(max), (kinds), N(kinds) }
#define EMPTY_POLICY(f, t, desc) {					\
	#f "->" #t, PM__PROC__PROC_##f, PM__PROC__PROC_##t, &(desc),	\
	SMALL_MAX, NULL, 0 }

static const struct ipc_policy policies[] = {
	POLICY(PRIVD, NETD, pm__privd_to_netd__descriptor, SMALL_MAX, privd_netd),
	POLICY(PRIVD, CTRLD, pm__privd_to_ctrld__descriptor, SMALL_MAX,
	    privd_ctrld),
	POLICY(PRIVD, DNSD, pm__privd_to_dnsd__descriptor, SMALL_MAX, privd_dnsd),
	POLICY(NETD, PRIVD, pm__netd_to_privd__descriptor, LARGE_MAX, netd_privd),
	/* NetState lists every route of the tailnet. */
	POLICY(CTRLD, PRIVD, pm__ctrld_to_privd__descriptor, LARGE_MAX,
	    ctrld_privd),
	POLICY(DNSD, PRIVD, pm__dnsd_to_privd__descriptor, LARGE_MAX, dnsd_privd),
	POLICY(CTRLD, NETD, pm__ctrld_to_netd__descriptor, SMALL_MAX, ctrld_netd),
	POLICY(CTRLD, DNSD, pm__ctrld_to_dnsd__descriptor, SMALL_MAX, ctrld_dnsd),
	POLICY(NETD, CTRLD, pm__netd_to_ctrld__descriptor, LARGE_MAX, netd_ctrld),
	POLICY(DNSD, CTRLD, pm__dnsd_to_ctrld__descriptor, SMALL_MAX, dnsd_ctrld),
	/* Batches of DNS queries and answers (up to 64 KiB TCP answers). */
	POLICY(NETD, DNSD, pm__netd_to_dnsd__descriptor, LARGE_MAX, netd_dnsd),
	POLICY(DNSD, NETD, pm__dnsd_to_netd__descriptor, LARGE_MAX, dnsd_netd),
};

const struct ipc_policy *
ipc_policy(Pm__Proc from, Pm__Proc to)
{
	for (size_t i = 0; i < N(policies); i++)
		if (policies[i].from == from && policies[i].to == to)
			return &policies[i];
	return NULL;
}

const char *
pm_proc_name(Pm__Proc p)
{
	switch (p) {
	case PM__PROC__PROC_PRIVD:
		return "privd";
	case PM__PROC__PROC_CTRLD:
		return "ctrld";
	case PM__PROC__PROC_NETD:
		return "netd";
	case PM__PROC__PROC_DNSD:
		return "dnsd";
	default:
		return "?";
	}
}
