#ifndef PM_NETD_H
#define PM_NETD_H

#include <stdint.h>
#include <uv.h>

#include "child.h"
#include "derpmap.h"
#include "filter.h"
#include "wg_io.h"

struct netd {
	struct child_ctx c;
	int		 tun_fd;
	uv_poll_t	 tun_poll;
	uint64_t	 tun_rx_no_peer;	/* packets read with no peer to send to */
	struct wg_io	 wg;
	struct filter	 filter;	/* tailnet mode, from ctrld */
	struct derpmap	 derp;		/* tailnet mode, from ctrld */
};

int	netd_dispatch_privd(struct ipc_chan *, struct ipc_msg *, void *);
int	netd_dispatch_ctrld(struct ipc_chan *, struct ipc_msg *, void *);
int	netd_dispatch_dnsd(struct ipc_chan *, struct ipc_msg *, void *);

void	netd_tun_attach(struct netd *, int fd, const char *name);
void	netd_wg_config(struct netd *, int fd);
int	netd_wg_status(struct netd *, uint64_t id);
/* nodekeys.c: answer ctrld with the public node/disco keys. */
int	netd_node_keys(struct netd *, uint64_t id, bool rotate);
/* The node private key (loaded or created on first use); NULL if none. */
const uint8_t *netd_node_private(void);
/* The node public key and the disco key pair (loaded on first use). */
const uint8_t *netd_node_public(void);
const uint8_t *netd_disco_private(void);
const uint8_t *netd_disco_public(void);

/* peers_ctrld.c: tailnet mode, the peers ctrld fans out from the netmap. */
struct Pm__PeerUpdate;
struct Pm__UdpSocket;
int	peers_ctrld_update(struct netd *, const struct Pm__PeerUpdate *);
void	peers_ctrld_udp(struct netd *, int fd, const struct Pm__UdpSocket *);
void	peers_ctrld_channel(struct netd *);
void	peers_ctrld_rekey(struct netd *);
/* netcheck changed the STUN endpoints: tell ctrld if the set changed. */
void	peers_ctrld_endpoints_changed(struct netd *);
bool	peers_ctrld_refuse(struct netd *, const char *what);
/* This node's direct endpoints (as reported to ctrld), for CallMeMaybe. */
struct ipport;
size_t	netd_own_endpoints(struct netd *, struct ipport *out, size_t max);

/* ping.c: privmesh ping (PingRequest -> disco pings -> PingReply). */
struct Pm__PingRequest;
int	ping_request(struct netd *, const struct Pm__PingRequest *);
void	ping_answer(struct netd *, uint64_t id, const struct ipport *to,
	    uint64_t latency_ns);
void	ping_tick(struct netd *, uint64_t now);
bool	ping_pending(void);

/* derp_regions.c: DERP connections, the home region's and on-demand
 * ones to peers' regions. */
#define DERP_STATUS_REGIONS_MAX	32
struct derp_region_stats {
	uint32_t	 region;
	bool		 home, connected;
	uint64_t	 dials, logins, drops, server_errors;
	uint64_t	 rx_packets, rx_bytes, tx_packets, tx_bytes;
	uint64_t	 tx_dropped;	/* queue full, or not logged in */
	uint64_t	 garbage_frames;	/* short or unknown frames skipped */
	uint64_t	 rx_refused;	/* relayed packets WireGuard refused */
	char		 last_error[128];
};
void	derp_regions_init(void);		/* before the sandbox */
void	derp_regions_update(struct netd *);	/* map, home or node key */
void	derp_regions_socket(struct netd *, int fd);	/* from privd */
/* The home region: netcheck's choice, else ctrld's (0: none). */
uint32_t derp_home_region(const struct netd *);
/* ns since region's DERP connection was last known alive (logged in);
 * UINT64_MAX when it has none.  netcheck's stickiness asks. */
uint64_t derp_home_heard_ago(uint32_t region);
/* A WireGuard datagram to node key `dst` through DERP region `region`,
 * connecting to it first if needed; dropped and counted when that cannot
 * be. */
void	derp_send(struct netd *, uint32_t region, const uint8_t dst[32],
	    const uint8_t *pkt, size_t len);
/* The connections' counters (at most max) and the packets dropped for
 * want of any connection to their region. */
size_t	derp_regions_status(const struct netd *, struct derp_region_stats *,
	    size_t max, uint64_t *tx_no_region);
/* For netcheck's HTTPS latency check, dialled as DERP is: the region's
 * node a DERP connection would use (false: none), the TLS context, and a
 * marked TCP socket asked of privd (-EINPROGRESS: it comes later, to
 * netcheck_https_socket() when no DERP connection waits for one). */
struct derp_target;
struct derp_region;
bool	derp_region_target(const struct derp_region *, struct derp_target *);
struct ssl_ctx_st *derp_regions_tls(void);
int	derp_socket_ask(struct netd *, int family);

#endif
