/*
 * netd's WireGuard I/O on libuv: the UDP socket privd bound and marked, the
 * TUN privd created, and one timer for all peers (at the first deadline in
 * the device's timer queue, netd/wg/timerq.h).  The protocol itself lives in
 * netd/wg/ and does no I/O; this file moves bytes and executes what the
 * protocol asks for:
 *
 *   TUN read -> allowed-IPs lookup (destination) -> wg_send_data -> UDP
 *            `-> no session: stage (<= WG_STAGED_MAX) and start a handshake
 *   UDP read -> wg_device_receive -> reply | TUN write (source must be an
 *               allowed IP of the authenticated peer) | flush staged
 *   timer    -> wg_timers_due -> wg_timers_poll (each peer whose deadline
 *               passed) -> initiation | keepalive | drop staged
 *
 * In bulk: a TUN read is a TCP super-packet (TSO, cut up by offload.c);
 * sealed messages queue until the end of the wakeup and leave with one
 * sendmmsg(), equal-size runs to one endpoint as UDP GSO trains.  UDP is
 * read with recvmmsg() and UDP GRO (trains split here); delivered TCP
 * packets are merged back into super-packets for the TUN write.
 */
#ifndef PM_NETD_WG_IO_H
#define PM_NETD_WG_IO_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "allowedips.h"
#include "peer.h"
#include "ratelimit.h"

#define WG_STAGED_MAX	16	/* packets held per peer while handshaking */
#define WG_HEADROOM	16	/* data message header before the plaintext */
#define WG_PKT_MAX	65536

struct netd;

struct wg_staged {
	struct wg_staged *next;
	uint16_t	 len;
	uint8_t		 data[];
};

struct disco_peer;

/* The I/O layer's side of a peer: an idle one costs these 48 bytes. */
struct netd_peer {
	struct netd	*nd;
	struct wg_peer	*p;
	struct wg_staged *staged, *staged_tail;	/* oldest first */
	uint8_t		 nstaged;
	uint32_t	 derp_region;	/* the peer's home DERP region, 0: none */
	struct disco_peer *disco;	/* tailnet peers with a disco key */
};

/* A DERP "endpoint": tailscale's magic 127.3.3.40, the port being the
 * region ID.  The WireGuard core keeps it like any endpoint (it follows
 * authenticated packets); the I/O layer sends to such an endpoint through
 * DERP, addressed by the peer's public (node) key. */
#define WG_DERP_MAGIC_IP	0x7f030328u	/* 127.3.3.40 */

/* Drop counters, shown by status. */
struct wg_counters {
	uint64_t	rx_bad;		/* failed validation or decryption */
	uint64_t	rx_bad_inner;	/* source not an allowed IP of its peer */
	uint64_t	rx_ratelimited;
	uint64_t	cookies_sent;
	uint64_t	tx_no_route;	/* no peer for the destination */
	uint64_t	tx_no_endpoint;
	uint64_t	tx_staged_dropped;
	uint64_t	tun_write_errors;
	uint64_t	udp_send_errors;
	uint64_t	tx_bad_offload;	/* TUN read with a bad virtio_net_hdr */
};

struct wg_io {
	bool		 on;
	struct wg_device dev;
	struct allowedips aips;
	struct wg_ratelimiter rl;
	unsigned	 mtu;
	int		 udp_fd;
	unsigned	 udp_port;
	uv_poll_t	 udp_poll;
	uv_timer_t	 timer;		/* at the device's first deadline */
	uint64_t	 timer_at;	/* what it is armed for, or WG_TIMER_OFF */
	bool		 timer_ready;	/* uv_timer_init() done */
	uint64_t	 load_begin_ns;	/* handshake-load window */
	unsigned	 load_count;
	uint64_t	 under_load_until;
	bool		 gso;		/* UDP_SEGMENT works (until refused) */
	uint64_t	 rl_gc_ns;	/* last wg_ratelimiter_gc() */
	struct wg_counters ctr;
};

int	wg_io_add_peer(struct netd *, const uint8_t pub[32], const uint8_t *psk,
	    const struct sockaddr *ep, socklen_t eplen, uint16_t keepalive,
	    struct netd_peer **out);
void	wg_io_remove_peer(struct netd *, struct netd_peer *);
void	wg_io_attach_udp(struct netd *, int fd, unsigned port);
/* buf[0..len) is one TUN read: a virtio_net_hdr, then a packet or a TCP
 * super-packet (netd/offload.h); its packets are sealed and queued. */
void	wg_io_from_tun(struct netd *, uint8_t *buf, size_t len);
/* Sends what is queued: at the end of every wakeup that queued anything. */
void	wg_io_flush(struct netd *);
uint64_t wg_now_ns(void);
/* The peer's endpoint is DERP region *region. */
bool	wg_io_endpoint_derp(const struct wg_peer *, uint32_t *region);
void	wg_io_derp_endpoint(struct sockaddr_in *, uint32_t region);
/* One packet relayed by DERP region `region` from node key `src`. */
void	wg_io_from_derp(struct netd *, uint32_t region, const uint8_t src[32],
	    const uint8_t *pkt, size_t len);

#endif
