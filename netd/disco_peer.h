/*
 * Disco in netd (tailnet mode): the peers' disco keys, disco packets on
 * the UDP socket and through DERP, and the path each peer's WireGuard
 * endpoint follows (disco_path.h decides; this file does the I/O).
 *
 * Memory: a peer with a disco key costs a struct disco_peer (its key and
 * control's endpoints); the path state (candidates, pings in flight, the
 * NaCl shared key) is allocated only once traffic, discovery or a disco
 * packet involves the peer, and freed when for 45 s there was no traffic to the peer and
 * no ping from it, and its direct path is no longer trusted.
 *
 * One libuv timer (500 ms, running only while some peer is active) does
 * heartbeats, full pings, ping timeouts and the fallback to DERP.
 */
#ifndef PM_NETD_DISCO_PEER_H
#define PM_NETD_DISCO_PEER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "disco_path.h"
#include "ipport.h"

struct netd;
struct netd_peer;

struct disco_counters {
	uint64_t	rx_ping, rx_pong, rx_call_me_maybe;
	uint64_t	tx_ping, tx_pong, tx_call_me_maybe;
	uint64_t	rx_unknown_key;	/* sender not a peer's disco key */
	uint64_t	rx_bad_box;	/* does not authenticate */
	uint64_t	rx_bad_msg;	/* inner message does not parse */
	uint64_t	rx_derp_mismatch; /* via DERP from another node key */
	uint64_t	rx_cmm_not_derp; /* CallMeMaybe over UDP: refused */
	uint64_t	rx_pong_unknown; /* txid not in flight */
	uint64_t	rx_stun_unhandled; /* STUN relayed through DERP, dropped */
	uint64_t	ping_timeouts;
	uint64_t	path_direct, path_derp;	/* switches */
};

extern struct disco_counters disco_ctr;

/* The peer has this disco key (NULL: none) and control's endpoints. */
void	disco_peer_update(struct netd *, struct netd_peer *,
	    const uint8_t *disco_key, const struct ipport *eps, size_t neps);
void	disco_peer_remove(struct netd_peer *);
/* A packet (data or handshake) is about to go to the peer. */
void	disco_peer_note_send(struct netd_peer *, uint64_t now);
/* A handshake initiation (WG_MSG_INITIATION_LEN bytes) just went out. */
void	disco_peer_note_initiation(struct netd_peer *, const void *msg,
	    uint64_t now);
/* After an authenticated packet: undo WireGuard's roaming; disco
 * decides the endpoint of a peer it manages. */
void	disco_peer_pin_endpoint(struct netd_peer *, uint64_t now);
bool	disco_peer_managed(const struct netd_peer *);

/* A disco packet from the UDP socket (derp_src NULL) or through DERP
 * region `region` from node key derp_src. */
void	disco_input(struct netd *, const uint8_t *pkt, size_t len,
	    const struct sockaddr *src, socklen_t srclen,
	    const uint8_t *derp_src, uint32_t region);

/*
 * privmesh ping: disco pings to the peer with node key `key` over its
 * trusted direct path, else to every candidate and through DERP; the
 * first pong answers request `id` (ping.c).  -ENOENT: no such peer,
 * -EOPNOTSUPP: it has no disco key.
 */
int	disco_peer_cli_ping(struct netd *, const uint8_t key[32], uint64_t id,
	    uint64_t now);
/* Status: the trusted direct address, if any. */
bool	disco_peer_direct(const struct netd_peer *, struct ipport *);

#endif
