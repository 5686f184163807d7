/*
 * One DERP connection's protocol, without I/O (tailscale's
 * derp/derphttp/derphttp_client.go connect and derp/derp_client.go): the
 * HTTP/1.1 upgrade request, the 101 answer, ServerKey, our sealed
 * ClientInfo, ServerInfo, then frames.  The caller moves bytes: it writes
 * what derp_conn_pending() gives (TLS or TCP) and feeds what it reads to
 * derp_conn_input().  Pings are answered with pongs; short RecvPacket and
 * PeerGone frames and unknown frame types are skipped and counted, as the
 * Go client does; a broken handshake, an unparseable HTTP answer or an
 * oversized frame ends the connection (state DERP_CONN_FAILED, counted,
 * err says why).  The output queue is bounded; packets past it are
 * dropped and counted.
 */
#ifndef PM_NETD_DERP_CONN_H
#define PM_NETD_DERP_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "derp_frame.h"

#define DERP_CONN_HTTP_MAX	4096	/* the 101 answer's head */
#define DERP_CONN_OUT_MAX	(512u << 10)

enum derp_conn_state {
	DERP_CONN_HTTP,		/* request queued, waiting for the 101 */
	DERP_CONN_SERVER_KEY,
	DERP_CONN_SERVER_INFO,	/* ClientInfo queued */
	DERP_CONN_READY,
	DERP_CONN_FAILED,
};

struct derp_conn_cb {
	void	(*recv)(void *arg, const uint8_t src[DERP_KEY_LEN],
		    const uint8_t *pkt, size_t len);
	void	(*peer_gone)(void *arg, const uint8_t peer[DERP_KEY_LEN],
		    uint8_t reason);
};

struct derp_conn_stats {
	uint64_t	 rx_packets, rx_bytes, tx_packets, tx_bytes;
	uint64_t	 tx_dropped;	/* output queue full or not ready */
	uint64_t	 keepalives, pings, pongs, peer_gone, health;
	uint64_t	 restarting, skipped;	/* short or unknown frames */
	uint64_t	 failed;		/* protocol errors that closed it */
};

struct derp_conn {
	enum derp_conn_state state;
	uint8_t		 pub[DERP_KEY_LEN], priv[DERP_KEY_LEN];
	uint8_t		 server[DERP_KEY_LEN];
	char		 head[DERP_CONN_HTTP_MAX];
	size_t		 head_len;
	struct derp_reader rd;
	uint8_t		*out;
	size_t		 out_off, out_len, out_cap;
	struct derp_conn_cb cb;
	void		*arg;
	struct derp_server_info info;
	char		 health_text[128];	/* "" when healthy */
	uint32_t	 reconnect_in_ms, try_for_ms;	/* from Restarting */
	struct derp_conn_stats st;
	char		 err[96];
};

/* Queues the upgrade request for `host` (the Host header); -1: no memory. */
int	derp_conn_init(struct derp_conn *, const char *host,
	    const uint8_t pub[DERP_KEY_LEN], const uint8_t priv[DERP_KEY_LEN],
	    const struct derp_conn_cb *, void *arg);
void	derp_conn_free(struct derp_conn *);
/* Bytes read from the server.  0, or -1 once the connection failed. */
int	derp_conn_input(struct derp_conn *, const uint8_t *, size_t);
/* A packet to `dst` through the server; -1 (counted) if not ready or the
 * output queue is full. */
int	derp_conn_send(struct derp_conn *, const uint8_t dst[DERP_KEY_LEN],
	    const uint8_t *pkt, size_t len);
/* NotePreferred: whether this is the client's home region (the server
 * counts its home clients); -1 if not ready or no room. */
int	derp_conn_note_preferred(struct derp_conn *, bool preferred);
/* What to write next, and how much of it was written. */
const uint8_t *derp_conn_pending(const struct derp_conn *, size_t *len);
void	derp_conn_written(struct derp_conn *, size_t n);

#endif
