/*
 * One DERP region's connection on a libuv loop: a TCP socket from the
 * caller's provider (netd: a socket privd opened and marked so it
 * bypasses the tunnel), a non-blocking connect, TLS (derp_tls.c) unless
 * the target is plain HTTP, the DERP protocol (derp_conn.c), and when the
 * connection fails or the server goes away, a reconnect after a backoff
 * (250 ms doubling to 10 s, reset once a login succeeds).  Protocol
 * failures from the server (garbage, bad handshake) are counted.
 */
#ifndef PM_NETD_DERP_CLIENT_H
#define PM_NETD_DERP_CLIENT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

#include "derp_conn.h"
#include "derp_tls.h"

#define DERP_BACKOFF_MIN_MS	250
#define DERP_BACKOFF_MAX_MS	10000
#define DERP_SOCKET_WAIT_MS	5000

struct derp_target {
	struct sockaddr_storage addr;
	socklen_t	 alen;
	char		 host[254];	/* SNI and Host header */
	char		 cert_name[257];
	bool		 insecure;	/* InsecureForTests */
	bool		 plain;		/* plain HTTP (tests only) */
};

struct derp_client {
	uv_loop_t	*loop;
	SSL_CTX		*ctx;
	struct derp_target to;
	uint8_t		 pub[32], priv[32];
	/* A fresh unconnected non-blocking TCP socket of `family`, or
	 * -errno; -EINPROGRESS: one comes later through derp_client_socket()
	 * (within DERP_SOCKET_WAIT_MS, else the dial counts as failed). */
	int		(*socket_fn)(void *arg, int family);
	void		*socket_arg;
	struct derp_conn_cb cb;
	void		*cb_arg;

	int		 fd;
	uv_poll_t	 poll;
	bool		 poll_open, connecting, stopping;
	bool		 waiting_socket, timer_closed;
	bool		 heap;		/* freed once stopped and closed */
	/* Logged in (up) or the connection lost (last_err says why). */
	void		(*on_state)(struct derp_client *, bool up);
	uv_timer_t	 timer;
	struct derp_conn c;
	struct derp_tls	 t;
	bool		 session;	/* c (and t) initialised */
	bool		 in_input;	/* inside derp_conn_input's callbacks */
	uint8_t		 cbuf[16384];	/* ciphertext not yet sent */
	size_t		 clen;
	unsigned	 backoff_ms;
	bool		 ready;
	/* Counters. */
	uint64_t	 dials, logins, drops;	/* drops: connections lost */
	uint64_t	 server_errors;	/* protocol failures from the server */
	uint64_t	 tx_dropped;
	uint64_t	 skipped;	/* short or unknown frames, past sessions */
	char		 last_err[128];
};

int	derp_client_start(struct derp_client *, uv_loop_t *, SSL_CTX *,
	    const struct derp_target *, const uint8_t pub[32],
	    const uint8_t priv[32], int (*socket_fn)(void *, int), void *,
	    const struct derp_conn_cb *, void *cb_arg);
/* Closes everything; the client's memory may go after the loop ran once
 * (with `heap` set, it is freed then). */
void	derp_client_stop(struct derp_client *);
/* The socket socket_fn promised (closed if no longer wanted). */
void	derp_client_socket(struct derp_client *, int fd);
/* -1 (counted) when not logged in or the queue is full. */
int	derp_client_send(struct derp_client *, const uint8_t dst[32],
	    const uint8_t *pkt, size_t len);

/* Tells the server whether it is our home region (NotePreferred). */
int	derp_client_note_preferred(struct derp_client *, bool preferred);

#endif
