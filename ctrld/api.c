/*
 * Serving the local API socket: accept, learn the peer's credentials, read
 * one request line, answer, close.  Requests are read into a fixed buffer;
 * a client that sends more than API_REQUEST_MAX bytes without a newline is
 * answered with an error and dropped.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "ctrld.h"
#include "log.h"

#define MAX_CONNS	64

struct api_conn {
	uv_pipe_t	 pipe;
	struct ctrld	*cd;
	struct api_peer	 peer;
	bool		 operator;
	bool		 answered;
	size_t		 len;
	char		 buf[API_REQUEST_MAX];
	uv_write_t	 wr;
	char		*out;
};

static unsigned nconns;
static uint64_t rejected;

static void
on_closed(uv_handle_t *h)
{
	struct api_conn *ac = h->data;

	status_conn_gone(ac->cd, ac);
	netcheck_conn_gone(ac->cd, ac);
	ping_conn_gone(ac);
	free(ac->out);
	free(ac);
	nconns--;
}

static void
conn_close(struct api_conn *ac)
{
	if (!uv_is_closing((uv_handle_t *)&ac->pipe))
		uv_close((uv_handle_t *)&ac->pipe, on_closed);
}

static void
on_written(uv_write_t *w, int status)
{
	(void)status;
	conn_close(w->data);
}

void
api_reply(struct api_conn *ac, json_t *obj)
{
	uv_buf_t b;

	if (ac->answered) {
		json_decref(obj);
		return;
	}
	ac->answered = true;
	ac->out = json_dumps(obj, JSON_COMPACT);
	json_decref(obj);
	if (ac->out == NULL) {
		conn_close(ac);
		return;
	}
	/* json_dumps leaves room: replace the NUL with the newline. */
	b = uv_buf_init(ac->out, (unsigned)strlen(ac->out) + 1);
	ac->out[b.len - 1] = '\n';
	ac->wr.data = ac;
	uv_read_stop((uv_stream_t *)&ac->pipe);
	if (uv_write(&ac->wr, (uv_stream_t *)&ac->pipe, &b, 1, on_written) != 0)
		conn_close(ac);
}

static void
reply_error(struct api_conn *ac, const char *msg)
{
	api_reply(ac, json_pack("{s:s}", "error", msg));
}

static json_t *
backend_reply(struct api_conn *ac, bool ok)
{
	json_t *o = json_pack("{s:o}", "backend",
	    control_status_json(&ac->cd->ctl));

	if (o != NULL && ok)
		json_object_set_new(o, "ok", json_true());
	return o;
}

/* Write ops: the request line was parsed once already (op known); its
 * arguments are read here and validated by control.c. */
static void
handle_write(struct api_conn *ac, enum api_op op)
{
	char err[256];
	json_t *root = json_loadb(ac->buf, ac->len, 0, NULL), *prefs;
	const char *auth;
	int r;

	prefs = json_object_get(root, "prefs");
	auth = json_string_value(json_object_get(root, "auth_key"));
	switch (op) {
	case API_OP_UP:
		if (prefs != NULL && !json_is_object(prefs)) {
			snprintf(err, sizeof(err), "prefs must be an object");
			r = -1;
		} else
			r = control_up(&ac->cd->ctl, prefs, auth, err,
			    sizeof(err));
		break;
	case API_OP_SET:
		if (!json_is_object(prefs)) {
			snprintf(err, sizeof(err), "set needs prefs");
			r = -1;
		} else
			r = control_set(&ac->cd->ctl, prefs, err, sizeof(err));
		break;
	case API_OP_DOWN:
		r = control_down(&ac->cd->ctl, err, sizeof(err));
		break;
	default:
		r = control_logout(&ac->cd->ctl, err, sizeof(err));
		break;
	}
	json_decref(root);
	if (r < 0)
		reply_error(ac, err);
	else
		api_reply(ac, backend_reply(ac, true));
}

static void
handle_request(struct api_conn *ac)
{
	struct api_request req;
	char err[128];

	if (api_parse_request(ac->buf, ac->len, &req, err, sizeof(err)) < 0) {
		rejected++;
		reply_error(ac, err);
		return;
	}
	if (api_op_writes(req.op) && !ac->operator) {
		reply_error(ac, "permission denied: changing settings needs "
		    "root or the operator group");
		return;
	}
	switch (req.op) {
	case API_OP_STATUS:
		status_start(ac->cd, ac);
		break;
	case API_OP_BACKEND:
		api_reply(ac, backend_reply(ac, false));
		break;
	case API_OP_NETCHECK:
		netcheck_start(ac->cd, ac);
		break;
	case API_OP_UP:
	case API_OP_DOWN:
	case API_OP_LOGOUT:
	case API_OP_SET:
		handle_write(ac, req.op);
		break;
	case API_OP_PING:
		ping_start(ac->cd, ac, ac->buf, ac->len);
		break;
	default:
		reply_error(ac, "unknown op");
	}
}

static void
on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
	struct api_conn *ac = h->data;

	(void)hint;
	*b = uv_buf_init(ac->buf + ac->len, (unsigned)(sizeof(ac->buf) - ac->len));
}

static void
on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
	struct api_conn *ac = s->data;
	char *nl;

	(void)b;
	if (n < 0) {
		conn_close(ac);
		return;
	}
	ac->len += (size_t)n;
	if ((nl = memchr(ac->buf, '\n', ac->len)) != NULL) {
		ac->len = (size_t)(nl - ac->buf);
		uv_read_stop(s);
		handle_request(ac);
	} else if (ac->len == sizeof(ac->buf)) {
		rejected++;
		reply_error(ac, "request too long");
	}
}

static int
peer_creds(struct api_conn *ac)
{
	struct ucred uc;
	socklen_t len = sizeof(uc);
	uv_os_fd_t fd;

	if (uv_fileno((uv_handle_t *)&ac->pipe, &fd) != 0 ||
	    getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &len) != 0)
		return -errno;
	ac->peer.uid = uc.uid;
	ac->peer.gid = uc.gid;
	len = sizeof(ac->peer.groups);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, ac->peer.groups,
	    &len) == 0)
		ac->peer.ngroups = len / sizeof(gid_t);
	/* ERANGE (more than 64 groups): decide on the primary group alone. */
	ac->operator = api_peer_is_operator(&ac->peer, ac->cd->has_operator_gid,
	    ac->cd->operator_gid);
	return 0;
}

static void
on_connection(uv_stream_t *server, int status)
{
	struct ctrld *cd = server->data;
	struct api_conn *ac;

	if (status < 0 || (ac = calloc(1, sizeof(*ac))) == NULL)
		return;
	ac->cd = cd;
	uv_pipe_init(cd->c.loop, &ac->pipe, 0);
	ac->pipe.data = ac;
	nconns++;
	if (uv_accept(server, (uv_stream_t *)&ac->pipe) != 0) {
		conn_close(ac);
		return;
	}
	if (nconns > MAX_CONNS || peer_creds(ac) < 0) {
		reply_error(ac, "busy");
		return;
	}
	uv_read_start((uv_stream_t *)&ac->pipe, on_alloc, on_read);
}

void
api_listen(struct ctrld *cd, int fd, bool has_gid, gid_t gid)
{
	int r;

	cd->has_operator_gid = has_gid;
	cd->operator_gid = gid;
	uv_pipe_init(cd->c.loop, &cd->api, 0);
	cd->api.data = cd;
	if ((r = uv_pipe_open(&cd->api, fd)) != 0 ||
	    (r = uv_listen((uv_stream_t *)&cd->api, 64, on_connection)) != 0) {
		log_warnx("local API: cannot listen: %s", uv_strerror(r));
		return;
	}
	cd->api_open = true;
	log_info("local API ready");
}
