/*
 * The local API: newline-terminated JSON over the unix socket privd
 * created.  One request per connection:
 *
 *   -> {"op":"status"}\n
 *   <- {"processes":[...],"backend":{...}}\n   or   {"error":"..."}\n
 *   -> {"op":"backend"}\n             <- {"backend":{...}}\n
 *   -> {"op":"up","prefs":{...},"auth_key":"..."}\n
 *   -> {"op":"down"}\n  {"op":"logout"}\n   <- {"ok":true,"backend":{...}}\n
 *   -> {"op":"ping","node":"NAME|IP"}\n  <- see ping.c
 *
 * Who may do what comes from SO_PEERCRED/SO_PEERGROUPS: root and members
 * of the operator group may change settings; anyone may read.
 */
#ifndef PM_CTRLD_API_H
#define PM_CTRLD_API_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define API_REQUEST_MAX	4096	/* bytes, newline included */

enum api_op {
	API_OP_STATUS,
	API_OP_BACKEND,		/* ctrld's control state only, at once */
	API_OP_UP,		/* {"prefs":{...},"auth_key":"..."} */
	API_OP_DOWN,
	API_OP_LOGOUT,
	API_OP_SET,		/* {"prefs":{...}}: change prefs, no login */
	API_OP_NETCHECK,	/* netd runs a full netcheck (ctrld/netcheck.c) */
	API_OP_PING,		/* {"node":"...","timeout_ms":N}: disco ping */
	API_OP_MAX
};

struct api_request {
	enum api_op	op;
};

/* Parses one request line.  Returns 0, or -EINVAL with `err` set to a
 * message fit for the client. */
int	api_parse_request(const char *buf, size_t len, struct api_request *req,
	    char *err, size_t errlen);

/* Whether an op changes settings (and so needs an operator). */
bool	api_op_writes(enum api_op op);

#define API_PING_DEFAULT_MS	5000
#define API_PING_MAX_MS		60000

/* The arguments of `ping`; 0, or -EINVAL with `err` set. */
int	api_parse_ping(const char *buf, size_t len, char *node, size_t nodelen,
	    long *timeout_ms, char *err, size_t errlen);

struct api_peer {
	uid_t	 uid;
	gid_t	 gid;
	gid_t	 groups[64];
	size_t	 ngroups;
};

/* Root, or the operator group as primary or supplementary group. */
bool	api_peer_is_operator(const struct api_peer *p, bool has_operator_gid,
	    gid_t operator_gid);

#endif
