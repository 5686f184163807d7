/* Parsing and authorising local API requests: pure functions, fuzzed. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "api.h"

static const struct {
	const char	*name;
	bool		 writes;
} ops[API_OP_MAX] = {
	[API_OP_STATUS] = { "status", false },
	[API_OP_BACKEND] = { "backend", false },
	[API_OP_UP] = { "up", true },
	[API_OP_DOWN] = { "down", true },
	[API_OP_LOGOUT] = { "logout", true },
	[API_OP_SET] = { "set", true },
	[API_OP_NETCHECK] = { "netcheck", false },
	[API_OP_PING] = { "ping", false },
};

static int
fail(char *err, size_t errlen, const char *msg)
{
	snprintf(err, errlen, "%s", msg);
	return -EINVAL;
}

int
api_parse_request(const char *buf, size_t len, struct api_request *req,
    char *err, size_t errlen)
{
	json_error_t jerr;
	json_t *root, *op;
	const char *name;
	int r = -EINVAL;

	if (len > API_REQUEST_MAX)
		return fail(err, errlen, "request too long");
	root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL)
		return fail(err, errlen, "request is not valid JSON");
	op = json_object_get(root, "op");
	if (!json_is_object(root) || !json_is_string(op)) {
		fail(err, errlen, "request needs a string \"op\"");
		goto out;
	}
	name = json_string_value(op);
	for (int i = 0; i < API_OP_MAX; i++)
		if (strcmp(name, ops[i].name) == 0) {
			req->op = (enum api_op)i;
			r = 0;
			goto out;
		}
	fail(err, errlen, "unknown op");
out:
	json_decref(root);
	return r;
}

bool
api_op_writes(enum api_op op)
{
	return (unsigned)op < API_OP_MAX && ops[op].writes;
}

bool
api_peer_is_operator(const struct api_peer *p, bool has_operator_gid,
    gid_t operator_gid)
{
	if (p->uid == 0)
		return true;
	if (!has_operator_gid)
		return false;
	if (p->gid == operator_gid)
		return true;
	for (size_t i = 0; i < p->ngroups; i++)
		if (p->groups[i] == operator_gid)
			return true;
	return false;
}

/* `ping`: {"node":"NAME|IP"[,"timeout_ms":1..60000]}. */
int
api_parse_ping(const char *buf, size_t len, char *node, size_t nodelen,
    long *timeout_ms, char *err, size_t errlen)
{
	json_t *root = json_loadb(buf, len, 0, NULL), *tm;
	const char *q = json_string_value(json_object_get(root, "node"));
	json_int_t ms = API_PING_DEFAULT_MS;
	int r = -EINVAL;

	tm = json_object_get(root, "timeout_ms");
	if (tm != NULL && json_is_integer(tm))
		ms = json_integer_value(tm);
	if (q == NULL || *q == '\0' || strlen(q) >= nodelen)
		fail(err, errlen, "ping needs a \"node\" (name or address)");
	else if ((tm != NULL && !json_is_integer(tm)) || ms < 1 ||
	    ms > API_PING_MAX_MS)
		fail(err, errlen, "ping: timeout_ms must be 1..60000");
	else {
		snprintf(node, nodelen, "%s", q);
		*timeout_ms = (long)ms;
		r = 0;
	}
	json_decref(root);
	return r;
}
