/*
 * One connection to the control server, on ctrld's libuv loop:
 *
 *   CONN_KEY      TCP [+TLS], GET /key?v=N, the server's Noise key
 *   CONN_TS2021   TCP [+TLS], POST /ts2021 upgrade carrying Noise msg 1,
 *                 Noise msg 2, then HTTP/2 (nghttp2) inside Noise records
 *
 * Everything non-blocking; errors are reported once through on_error with
 * a message fit for `status`, after which the connection does nothing
 * until conn_free().
 */
#ifndef PM_CTRLD_CONN_H
#define PM_CTRLD_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "url.h"

enum conn_mode { CONN_KEY, CONN_TS2021 };

struct conn;
struct ssl_ctx_st;

struct conn_cbs {
	void	(*on_key)(void *arg, const uint8_t pub[32]);
	void	(*on_ready)(void *arg);		/* HTTP/2 usable */
	void	(*on_error)(void *arg, const char *msg);
	void	*arg;
};

/* Per request; on_close comes exactly once unless the conn fails first
 * (then on_error covers it). */
struct h2_handler {
	void	(*on_status)(void *arg, int status);
	int	(*on_data)(void *arg, const uint8_t *d, size_t n); /* -1: fail */
	void	(*on_close)(void *arg, uint32_t h2_error);
	void	*arg;
};

struct conn *conn_new(uv_loop_t *, const struct ctrl_url *, enum conn_mode,
	    uint16_t capver, const uint8_t machine_priv[32],
	    const uint8_t server_pub[32], struct ssl_ctx_st *tls,
	    const struct conn_cbs *);
void	conn_free(struct conn *);	/* closes; no callbacks afterwards */
/* No more callbacks of any kind; for a conn about to be freed from inside
 * one of its own callbacks. */
void	conn_detach(struct conn *);

/* POST `path` with a JSON body (copied); returns the stream id or -1. */
int32_t	conn_post(struct conn *, const char *path, const char *body,
	    size_t len, const char *lb_nodekey, const struct h2_handler *);
/* Resets a stream; its handler is not called again. */
void	conn_cancel(struct conn *, int32_t stream);

/* The upgrade-response handling as one pure step, for the fuzzer: feeds
 * `len` bytes of server response to a fresh ts2021 client state. */
int	conn_fuzz_upgrade(const uint8_t *data, size_t len);

#endif
