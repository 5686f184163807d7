#ifndef PM_IPC_CHECK_H
#define PM_IPC_CHECK_H

#include "ipc.h"

int	check_peer_channel(const struct ipc_policy *, const ProtobufCMessage *);
int	check_tun_device(const struct ipc_policy *, const ProtobufCMessage *);
int	check_api_listener(const struct ipc_policy *, const ProtobufCMessage *);
int	check_status_reply(const struct ipc_policy *, const ProtobufCMessage *);
int	check_ready(const struct ipc_policy *, const ProtobufCMessage *);
int	check_peer_misbehaved(const struct ipc_policy *,
	    const ProtobufCMessage *);
int	check_proc_info_reply(const struct ipc_policy *,
	    const ProtobufCMessage *);

int	check_wg_config_file(const struct ipc_policy *,
	    const ProtobufCMessage *);
int	check_udp_socket(const struct ipc_policy *, const ProtobufCMessage *);
int	check_wg_interface(const struct ipc_policy *, const ProtobufCMessage *);
int	check_wg_config_error(const struct ipc_policy *,
	    const ProtobufCMessage *);
int	check_node_keys(const struct ipc_policy *, const ProtobufCMessage *);
int	check_peer_update(const struct ipc_policy *, const ProtobufCMessage *);
int	check_filter_update(const struct ipc_policy *, const ProtobufCMessage *);
int	check_derp_socket_request(const struct ipc_policy *,
	    const ProtobufCMessage *);
int	check_derp_socket(const struct ipc_policy *, const ProtobufCMessage *);
int	check_derp_map_update(const struct ipc_policy *,
	    const ProtobufCMessage *);
int	check_endpoints(const struct ipc_policy *, const ProtobufCMessage *);
int	check_net_info(const struct ipc_policy *, const ProtobufCMessage *);
int	check_netcheck_report(const struct ipc_policy *,
	    const ProtobufCMessage *);
int	check_ping_request(const struct ipc_policy *, const ProtobufCMessage *);
int	check_ping_reply(const struct ipc_policy *, const ProtobufCMessage *);
int	check_wg_status_reply(const struct ipc_policy *,
	    const ProtobufCMessage *);

int	check_net_state(const struct ipc_policy *, const ProtobufCMessage *);
int	check_net_state_reply(const struct ipc_policy *,
	    const ProtobufCMessage *);
/* check_dns.c */
int	check_dns_packets(const struct ipc_policy *, const ProtobufCMessage *);
int	check_dns_config_file(const struct ipc_policy *,
	    const ProtobufCMessage *);
int	check_host_resolvers(const struct ipc_policy *,
	    const ProtobufCMessage *);
int	check_dns_config(const struct ipc_policy *, const ProtobufCMessage *);
int	check_os_dns(const struct ipc_policy *, const ProtobufCMessage *);
int	check_dns_status(const struct ipc_policy *, const ProtobufCMessage *);
int	check_upstream_sockets(const struct ipc_policy *,
	    const ProtobufCMessage *);
int	check_upstream_socket(const struct ipc_policy *,
	    const ProtobufCMessage *);
/* A name resolv.conf can carry safely (letters, digits, '-', '_'). */
int	dns_hostname_ok(const char *);

#endif
