/*
 * The control-plane client: login server, register, the map stream, and
 * the backend state that `status` shows (names as tailscale's ipn.State).
 *
 *   NoState      no login server configured yet
 *   NeedsLogin   not registered, or the node key expired; AuthURL if any
 *   Stopped      `down`: prefs say not to run
 *   Starting     connecting / registering / waiting for the first map
 *   Running      a netmap is in force (kept while reconnecting)
 */
#ifndef PM_CTRLD_CONTROL_H
#define PM_CTRLD_CONTROL_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include <jansson.h>

#include "mapstream.h"
#include "netmap.h"
#include "prefs.h"
#include "url.h"

enum bstate {
	BS_NOSTATE,
	BS_NEEDS_LOGIN,
	BS_STOPPED,
	BS_STARTING,
	BS_RUNNING,
};

struct ctrld;
struct conn;
struct ssl_ctx_st;
struct resolve;

struct control {
	struct ctrld	*cd;
	uv_loop_t	*loop;
	struct prefs	 prefs;
	uint8_t		 machine_priv[32], machine_pub[32];

	bool		 have_keys;	/* from netd */
	uint8_t		 node_pub[32], old_node_pub[32], disco_pub[32];
	bool		 have_old;
	uint64_t	 keys_req_id;
	bool		 keys_pending;

	char		 auth_key[256];	/* memory only; cleared once used */
	enum bstate	 state;
	char		 auth_url[512];
	char		 error[512];	/* current; cleared by a good map */
	char		 last_error[512];	/* kept */
	char		 login_name[128];

	struct ctrl_url	 url;
	uint8_t		 server_pub[32];
	bool		 have_server_key;
	struct resolve	*resolving;
	struct conn	*kconn, *conn, *dead[16];
	unsigned	 ndead;
	bool		 connected;	/* map stream delivering */
	bool		 logging_out;

	int32_t		 reg_stream, map_stream;
	int		 reg_status, map_status;
	char		*reg_body;
	size_t		 reg_len;
	char		 followup[512];

	struct mapstream ms;
	bool		 map_first;
	struct netmap	 nm;
	uint64_t	 map_messages;

	uv_timer_t	 retry, watchdog, keys_timer, reap, followup_timer,
			 reg_timer;
	uint64_t	 reg_sent_ms;
	unsigned	 backoff_ms;
	uint64_t	 reconnects;
	uint64_t	 errors;
	struct ssl_ctx_st *tls;
};

/* Before the sandbox: TLS context with the system roots. */
void	control_preinit(struct control *);
/* After the sandbox: state files, timers, and start if prefs say so. */
void	control_init(struct control *, struct ctrld *, uv_loop_t *);

/* Local API operations; 0, or -1 with `err` set. */
int	control_up(struct control *, json_t *prefs, const char *auth_key,
	    char *err, size_t errlen);
int	control_down(struct control *, char *err, size_t errlen);
/* Prefs only: no login, no server change. */
int	control_set(struct control *, json_t *prefs, char *err, size_t errlen);
int	control_logout(struct control *, char *err, size_t errlen);

/* netd answered a NodeKeysRequest. */
void	control_node_keys(struct control *, uint64_t id, const uint8_t *node,
	    const uint8_t *disco, const uint8_t *old);

/* netd reported its direct endpoints (fanout.h). */
void	control_endpoints(struct control *, char **eps, const uint32_t *types,
	    size_t n, bool changed_only);
struct Pm__NetInfo;
void	control_net_info(struct control *, const struct Pm__NetInfo *);
/* A non-streaming MapRequest with the current endpoints and Hostinfo. */
void	control_send_update(struct control *);

/* The "backend" part of `status`. */
json_t *control_status_json(struct control *);
const char *control_state_name(enum bstate);

#endif
