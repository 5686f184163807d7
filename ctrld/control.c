/*
 * Login and the map stream (tailscale control/controlclient/direct.go and
 * auto.go, as restated in docs/PROTOCOL.md):
 *
 *   node keys from netd -> GET /key -> /ts2021 (Noise, HTTP/2)
 *   -> POST /machine/register  (AuthKey | AuthURL + Followup long poll)
 *   -> POST /machine/map       (Stream, zstd) -> netmap, kept on errors
 *   any failure -> disconnect, retry after 0.5 s .. 60 s with jitter
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/ssl.h>
#include <sodium.h>

#include "conn.h"
#include "control.h"
#include "fanout.h"
#include "ctrld.h"
#include "ctrlmsg.h"
#include "keys.h"
#include "log.h"
#include "resolve.h"
#include "ctrld_to_netd.pb-c.h"
#include "netd_to_ctrld.pb-c.h"

#define BACKOFF_MIN_MS	500
#define BACKOFF_MAX_MS	60000
#define WATCHDOG_MS	120000		/* the Go client's map read timeout */
#define REG_BODY_MAX	(1u << 20)
#define REG_TIMEOUT_MS	60000
#define KEYS_RETRY_MS	500
#define CA_FILE		"/etc/ssl/certs/ca-certificates.crt"

static void connect_start(struct control *);
static void send_map(struct control *);

const char *
control_state_name(enum bstate s)
{
	switch (s) {
	case BS_NEEDS_LOGIN: return "NeedsLogin";
	case BS_STOPPED: return "Stopped";
	case BS_STARTING: return "Starting";
	case BS_RUNNING: return "Running";
	default: return "NoState";
	}
}

static void
set_state(struct control *c, enum bstate s)
{
	if (c->state != s)
		log_info("control: state %s -> %s", control_state_name(c->state),
		    control_state_name(s));
	c->state = s;
}

static void
set_error(struct control *c, const char *msg)
{
	snprintf(c->error, sizeof(c->error), "%s", msg);
	snprintf(c->last_error, sizeof(c->last_error), "%s", msg);
	c->errors++;
	log_warnx("%s", msg);
}

static void
on_reap(uv_timer_t *t)
{
	struct control *c = t->data;

	for (unsigned i = 0; i < c->ndead; i++)
		conn_free(c->dead[i]);
	c->ndead = 0;
}

/* Conns are freed from a timer: the caller may be inside their callbacks. */
static void
bury(struct control *c, struct conn *conn)
{
	if (conn == NULL)
		return;
	conn_detach(conn);
	/* At most two per disconnect and the list empties every loop
	 * iteration; freeing here instead could free a conn whose callback
	 * is running, so a full list (a bug) leaks instead. */
	if (c->ndead == sizeof(c->dead) / sizeof(c->dead[0])) {
		log_warnx("control: too many connections to free");
		return;
	}
	c->dead[c->ndead++] = conn;
	uv_timer_start(&c->reap, on_reap, 0, 0);
}

static void
disconnect(struct control *c)
{
	resolve_cancel(c->resolving);
	c->resolving = NULL;
	bury(c, c->kconn);
	bury(c, c->conn);
	c->kconn = c->conn = NULL;
	c->connected = false;
	c->reg_stream = c->map_stream = -1;
	free(c->reg_body);
	c->reg_body = NULL;
	c->reg_len = 0;
	mapstream_free(&c->ms);
	uv_timer_stop(&c->watchdog);
	uv_timer_stop(&c->retry);
	uv_timer_stop(&c->followup_timer);
	uv_timer_stop(&c->reg_timer);
}

static void
on_retry(uv_timer_t *t)
{
	struct control *c = t->data;

	c->reconnects++;
	connect_start(c);
}

static void
schedule_retry(struct control *c)
{
	unsigned base = c->backoff_ms ? c->backoff_ms : BACKOFF_MIN_MS;
	/* +-25% jitter so a fleet does not reconnect in step. */
	unsigned delay = base * 3 / 4 + randombytes_uniform(base / 2 + 1);

	c->backoff_ms = base * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : base * 2;
	log_info("control: reconnecting in %u ms", delay);
	uv_timer_start(&c->retry, on_retry, delay, 0);
}

/* A failure of the connection or a stream: keep the netmap, retry. */
static void
fail_retry(struct control *c, const char *msg)
{
	set_error(c, msg);
	disconnect(c);
	if (c->prefs.want_running)
		schedule_retry(c);
}

/* A failure retrying cannot fix (bad URL, key refused): wait for `up`. */
static void
fail_stop(struct control *c, const char *msg, enum bstate s)
{
	set_error(c, msg);
	disconnect(c);
	set_state(c, s);
}

/* ---- keys from netd ---- */

static void request_keys(struct control *, bool rotate);

static void
on_keys_timer(uv_timer_t *t)
{
	struct control *c = t->data;

	if (c->keys_pending && !c->have_keys)
		request_keys(c, false);
}

static void
request_keys(struct control *c, bool rotate)
{
	Pm__CtrldToNetd env = PM__CTRLD_TO_NETD__INIT;
	Pm__NodeKeysRequest r = PM__NODE_KEYS_REQUEST__INIT;
	struct ipc_chan *ch = child_chan(&c->cd->c, PM__PROC__PROC_NETD);

	c->keys_pending = true;
	r.id = c->keys_req_id = ++c->cd->next_id;
	r.rotate = rotate;
	env.msg_case = PM__CTRLD_TO_NETD__MSG_NODE_KEYS_REQUEST;
	env.node_keys_request = &r;
	if (ch == NULL || ipc_send(ch, &env.base, -1) != 0)
		log_debug("control: netd not reachable yet; will ask again");
	/* Asked again until answered (netd may be restarting); a rotation
	 * is asked for once: asking again would rotate twice. */
	if (!rotate)
		uv_timer_start(&c->keys_timer, on_keys_timer, KEYS_RETRY_MS, 0);
}

void
control_node_keys(struct control *c, uint64_t id, const uint8_t *node,
    const uint8_t *disco, const uint8_t *old)
{
	if (!c->keys_pending || id != c->keys_req_id)
		return;		/* a late answer to an earlier request */
	c->keys_pending = false;
	uv_timer_stop(&c->keys_timer);
	memcpy(c->node_pub, node, 32);
	memcpy(c->disco_pub, disco, 32);
	c->have_old = old != NULL;
	if (old != NULL)
		memcpy(c->old_node_pub, old, 32);
	c->have_keys = true;
	if (c->prefs.want_running && c->conn == NULL && c->kconn == NULL &&
	    c->resolving == NULL)
		connect_start(c);
}

/* ---- register ---- */

static void reg_status(void *arg, int status);

static void
on_reg_timeout(uv_timer_t *t)
{
	fail_retry(t->data, "register: no answer from control for 60 s");
}

static int reg_data(void *arg, const uint8_t *d, size_t n);
static void reg_close(void *arg, uint32_t code);

static void
send_register(struct control *c, bool logout)
{
	struct reg_args a = { 0 };
	struct h2_handler h = { reg_status, reg_data, reg_close, c };
	char lb[KEY_TEXT_MAX], *body;

	a.node_pub = c->node_pub;
	a.old_node_pub = c->have_old ? c->old_node_pub : NULL;
	a.auth_key = c->auth_key[0] && !logout ? c->auth_key : NULL;
	a.followup = c->followup[0] && !logout ? c->followup : NULL;
	a.logout = logout;
	free(c->reg_body);
	c->reg_body = NULL;
	c->reg_len = 0;
	c->reg_status = 0;
	if ((body = ctrlmsg_register(&c->prefs, &a)) == NULL) {
		fail_retry(c, "register: cannot build the request");
		return;
	}
	c->reg_sent_ms = now_ms();
	c->reg_stream = conn_post(c->conn, "/machine/register", body,
	    strlen(body), key_format(lb, "nodekey:", c->node_pub), &h);
	free(body);
	if (c->reg_stream < 0) {
		fail_retry(c, "register: cannot send the request");
		return;
	}
	/* A Followup is a long poll (the user is logging in); any other
	 * register must be answered in a minute. */
	if (a.followup == NULL)
		uv_timer_start(&c->reg_timer, on_reg_timeout, REG_TIMEOUT_MS, 0);
	else
		uv_timer_stop(&c->reg_timer);
}

static void
reg_status(void *arg, int status)
{
	((struct control *)arg)->reg_status = status;
}

static int
reg_data(void *arg, const uint8_t *d, size_t n)
{
	struct control *c = arg;
	char *p;

	if (c->reg_len + n > REG_BODY_MAX) {
		fail_retry(c, "register: response larger than 1 MiB");
		return -1;
	}
	if ((p = realloc(c->reg_body, c->reg_len + n + 1)) == NULL) {
		fail_retry(c, "register: out of memory");
		return -1;
	}
	memcpy(p + c->reg_len, d, n);
	c->reg_body = p;
	c->reg_len += n;
	p[c->reg_len] = '\0';
	return 0;
}

static void
on_followup_timer(uv_timer_t *t)
{
	struct control *c = t->data;

	if (c->conn != NULL && c->followup[0] != '\0')
		send_register(c, false);
}

static void
logged_out(struct control *c)
{
	c->logging_out = false;
	c->prefs.logged_out = true;
	c->prefs.want_running = false;
	prefs_save(&c->prefs);
	disconnect(c);
	netmap_free(&c->nm);
	netmap_init(&c->nm);
	fanout_apply(c->cd, &c->nm, &c->prefs);
	c->auth_url[0] = c->followup[0] = c->login_name[0] = '\0';
	c->error[0] = '\0';
	set_state(c, BS_NEEDS_LOGIN);
	c->have_keys = false;
	request_keys(c, true);		/* the next login gets a new node key */
}

static void
register_done(struct control *c, const struct reg_resp *r)
{
	char msg[300];

	if (r->error[0] != '\0') {
		snprintf(msg, sizeof(msg), "register: %s", r->error);
		c->auth_key[0] = '\0';
		c->followup[0] = '\0';
		fail_stop(c, msg, BS_NEEDS_LOGIN);
		return;
	}
	if (r->node_key_expired) {
		set_error(c, "register: node key expired; using a new one");
		disconnect(c);
		c->have_keys = false;
		request_keys(c, true);
		return;
	}
	if (r->auth_url[0] != '\0') {
		bool same = strcmp(r->auth_url, c->followup) == 0;

		if (strcmp(r->auth_url, c->auth_url) != 0)
			log_info("control: to log in, visit %s", r->auth_url);
		snprintf(c->auth_url, sizeof(c->auth_url), "%s", r->auth_url);
		snprintf(c->followup, sizeof(c->followup), "%s", r->auth_url);
		set_state(c, BS_NEEDS_LOGIN);
		/* The Followup long poll; a server that answers it at once
		 * with the same URL is asked again only after 2 s. */
		if (same && now_ms() - c->reg_sent_ms < 1000)
			uv_timer_start(&c->followup_timer, on_followup_timer,
			    2000, 0);
		else
			send_register(c, false);
		return;
	}
	if (!r->machine_authorized) {
		fail_stop(c, "register: machine not authorized by the server",
		    BS_NEEDS_LOGIN);
		return;
	}
	sodium_memzero(c->auth_key, sizeof(c->auth_key));
	c->have_old = false;
	c->auth_url[0] = c->followup[0] = '\0';
	snprintf(c->login_name, sizeof(c->login_name), "%s", r->login);
	if (c->prefs.logged_out) {
		c->prefs.logged_out = false;
		prefs_save(&c->prefs);
	}
	if (c->state != BS_RUNNING)
		set_state(c, BS_STARTING);
	send_map(c);
}

static void
reg_close(void *arg, uint32_t code)
{
	struct control *c = arg;
	struct reg_resp r;
	char msg[300];

	c->reg_stream = -1;
	uv_timer_stop(&c->reg_timer);
	if (code != 0 || c->reg_status != 200) {
		if (code != 0)
			snprintf(msg, sizeof(msg), "register: stream reset "
			    "(HTTP/2 error %u)", code);
		else
			snprintf(msg, sizeof(msg), "register: HTTP %d: %.120s",
			    c->reg_status, c->reg_body ? c->reg_body : "");
		for (char *p = msg; *p; p++)
			if ((unsigned char)*p < 0x20)
				*p = ' ';
		fail_retry(c, msg);
		return;
	}
	if (ctrlmsg_parse_register(c->reg_body ? c->reg_body : "",
	    c->reg_len, &r, msg, sizeof(msg)) < 0) {
		fail_retry(c, msg);
		return;
	}
	if (c->logging_out) {
		logged_out(c);
		return;
	}
	register_done(c, &r);
}

/* ---- map ---- */

static void
on_watchdog(uv_timer_t *t)
{
	fail_retry(t->data, "map: no message from control for 120 s");
}

static void
check_expiry(struct control *c)
{
	const struct nm_node *self = &c->nm.self;

	if (!c->nm.have_self || (!self->expired && (self->key_expiry == 0 ||
	    self->key_expiry > (int64_t)time(NULL))))
		return;
	fail_stop(c, "node key expired; logging in again", BS_NEEDS_LOGIN);
	c->have_keys = false;
	request_keys(c, true);
}

static int
map_message(void *arg, const char *json, size_t len)
{
	struct control *c = arg;
	char err[256];
	enum nm_result r;

	r = netmap_apply(&c->nm, json, len, c->map_first, err, sizeof(err));
	if (r == NM_ERROR) {
		fail_retry(c, err);
		return -1;
	}
	c->map_messages++;
	uv_timer_start(&c->watchdog, on_watchdog, WATCHDOG_MS, 0);
	if (r == NM_APPLIED) {
		if (c->map_first)
			log_info("control: netmap with %zu peers", c->nm.npeers);
		c->map_first = false;
		c->connected = true;
		c->backoff_ms = 0;
		c->error[0] = '\0';
		set_state(c, BS_RUNNING);
		fanout_apply(c->cd, &c->nm, &c->prefs);
		check_expiry(c);
	}
	return 0;
}

static void
map_status(void *arg, int status)
{
	((struct control *)arg)->map_status = status;
}

static int
map_data(void *arg, const uint8_t *d, size_t n)
{
	struct control *c = arg;
	char err[256];

	if (c->map_status != 200) {
		snprintf(err, sizeof(err), "map: HTTP %d from control",
		    c->map_status);
		fail_retry(c, err);
		return -1;
	}
	if (mapstream_feed(&c->ms, d, n, map_message, c, err,
	    sizeof(err)) < 0) {
		if (c->conn != NULL)	/* not already failed by the callback */
			fail_retry(c, err);
		return -1;
	}
	return 0;
}

static void
map_close(void *arg, uint32_t code)
{
	struct control *c = arg;
	char msg[128];

	c->map_stream = -1;
	if (c->map_status != 200 && c->map_status != 0)
		snprintf(msg, sizeof(msg), "map: HTTP %d from control",
		    c->map_status);
	else
		snprintf(msg, sizeof(msg), "map: stream ended by control%s",
		    code != 0 ? " (reset)" : "");
	fail_retry(c, msg);
}

static void
send_map(struct control *c)
{
	struct h2_handler h = { map_status, map_data, map_close, c };
	char lb[KEY_TEXT_MAX], *body;

	mapstream_free(&c->ms);
	if (mapstream_init(&c->ms, true) < 0) {
		fail_retry(c, "map: out of memory");
		return;
	}
	c->map_first = true;
	c->map_status = 0;
	if ((body = ctrlmsg_map(&c->prefs, c->node_pub, c->disco_pub,
	    fanout_endpoints_json(), fanout_endpoint_types_json(),
	    true)) == NULL) {
		fail_retry(c, "map: cannot build the request");
		return;
	}
	c->map_stream = conn_post(c->conn, "/machine/map", body, strlen(body),
	    key_format(lb, "nodekey:", c->node_pub), &h);
	free(body);
	if (c->map_stream < 0) {
		fail_retry(c, "map: cannot send the request");
		return;
	}
	uv_timer_start(&c->watchdog, on_watchdog, WATCHDOG_MS, 0);
}

/* ---- connecting ---- */

static void
on_conn_error(void *arg, const char *msg)
{
	fail_retry(arg, msg);
}

static void
on_ready(void *arg)
{
	struct control *c = arg;

	send_register(c, c->logging_out);
}

static void
open_ts2021(struct control *c)
{
	struct conn_cbs cbs = { NULL, on_ready, on_conn_error, c };

	c->conn = conn_new(c->loop, &c->url, CONN_TS2021, CTRL_CAPVER,
	    c->machine_priv, c->server_pub, c->tls, &cbs);
}

static void
on_key(void *arg, const uint8_t pub[32])
{
	struct control *c = arg;

	memcpy(c->server_pub, pub, 32);
	c->have_server_key = true;
	bury(c, c->kconn);
	c->kconn = NULL;
	open_ts2021(c);
}

/* The address is known: fetch the server key if needed, then ts2021. */
static void
connect_addr(struct control *c)
{
	struct conn_cbs cbs = { on_key, NULL, on_conn_error, c };

	if (!c->have_server_key)
		c->kconn = conn_new(c->loop, &c->url, CONN_KEY, CTRL_CAPVER,
		    NULL, NULL, c->tls, &cbs);
	else
		open_ts2021(c);
}

static void
on_resolved(void *arg, const struct sockaddr_storage *ss, socklen_t len,
    const char *err)
{
	struct control *c = arg;
	char msg[400];

	c->resolving = NULL;
	if (ss == NULL) {
		snprintf(msg, sizeof(msg), "control: cannot resolve %s: %s",
		    c->url.host, err);
		fail_retry(c, msg);
		return;
	}
	c->url.addr = *ss;
	c->url.addrlen = len;
	c->url.resolved = true;
	connect_addr(c);
}

static void
connect_start(struct control *c)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	char err[256];

	disconnect(c);
	if (!c->prefs.want_running)
		return;
	if (c->state != BS_RUNNING && c->state != BS_NEEDS_LOGIN)
		set_state(c, BS_STARTING);
	if (!c->have_keys) {
		if (!c->keys_pending)
			request_keys(c, false);
		return;
	}
	if (url_parse(c->prefs.login_server, &c->url, err, sizeof(err)) < 0) {
		fail_stop(c, err, BS_NEEDS_LOGIN);
		return;
	}
	if (url_resolve(&c->url, &ss, &sl, err, sizeof(err)) == 0) {
		connect_addr(c);
		return;
	}
	/* A host name: looked up afresh on every connect. */
	c->resolving = resolve_start(c->loop, c->url.host, c->url.port,
	    on_resolved, c);
	if (c->resolving == NULL)
		fail_retry(c, "control: cannot resolve host names (no "
		    "nameserver in /etc/resolv.conf?)");
}

/* ---- API operations ---- */

int
control_up(struct control *c, json_t *prefs, const char *auth_key,
    char *err, size_t errlen)
{
	struct prefs np;
	struct ctrl_url u;

	np = c->prefs;
	json_incref(np.advertise_routes);
	json_incref(np.advertise_tags);
	if (prefs != NULL && prefs_from_json(&np, prefs, err, errlen) < 0)
		goto bad;
	if (np.login_server[0] == '\0') {
		snprintf(err, errlen, "no login server: use --login-server URL");
		goto bad;
	}
	if (url_parse(np.login_server, &u, err, errlen) < 0)
		goto bad;
	if (auth_key != NULL && strlen(auth_key) >= sizeof(c->auth_key)) {
		snprintf(err, errlen, "auth key too long");
		goto bad;
	}
	if (strcmp(np.login_server, c->prefs.login_server) != 0) {
		/* Another control server is another tailnet: nothing of the
		 * old one stays in force. */
		c->have_server_key = false;
		netmap_free(&c->nm);
		netmap_init(&c->nm);
		fanout_apply(c->cd, &c->nm, &c->prefs);
		c->connected = false;
		set_state(c, BS_STARTING);
	}
	np.want_running = true;
	/* Already running with exactly these prefs: nothing to redo. */
	if (c->connected && auth_key == NULL) {
		json_t *a = prefs_to_json(&c->prefs), *b = prefs_to_json(&np);
		bool same = json_equal(a, b);

		json_decref(a);
		json_decref(b);
		if (same) {
			prefs_free(&np);
			return 0;
		}
	}
	prefs_free(&c->prefs);
	c->prefs = np;
	if (prefs_save(&c->prefs) < 0)
		log_warnx("control: cannot save %s", PREFS_FILE);
	if (auth_key != NULL)
		snprintf(c->auth_key, sizeof(c->auth_key), "%s", auth_key);
	c->error[0] = '\0';
	c->backoff_ms = 0;
	c->followup[0] = '\0';
	connect_start(c);
	return 0;
bad:
	prefs_free(&np);
	return -1;
}

int
control_set(struct control *c, json_t *prefs, char *err, size_t errlen)
{
	static const char *const login_only[] = { "login_server",
	    "want_running", "logged_out" };
	struct prefs np = c->prefs;
	json_t *a, *b;
	bool same;

	for (size_t i = 0; i < sizeof(login_only) / sizeof(login_only[0]); i++)
		if (json_object_get(prefs, login_only[i]) != NULL) {
			snprintf(err, errlen, "%s cannot be set; use up",
			    login_only[i]);
			return -1;
		}
	json_incref(np.advertise_routes);
	json_incref(np.advertise_tags);
	if (prefs_from_json(&np, prefs, err, errlen) < 0) {
		prefs_free(&np);
		return -1;
	}
	a = prefs_to_json(&c->prefs);
	b = prefs_to_json(&np);
	same = json_equal(a, b);
	json_decref(a);
	json_decref(b);
	prefs_free(&c->prefs);
	c->prefs = np;
	if (same)
		return 0;
	if (prefs_save(&c->prefs) < 0)
		log_warnx("control: cannot save %s", PREFS_FILE);
	fanout_apply(c->cd, &c->nm, &c->prefs);
	/* Hostinfo (hostname, routes, tags) goes out with the next map
	 * request: reconnect, keeping the netmap meanwhile. */
	if (c->prefs.want_running && c->conn != NULL)
		connect_start(c);
	return 0;
}

int
control_down(struct control *c, char *err, size_t errlen)
{
	(void)err;
	(void)errlen;
	c->prefs.want_running = false;
	prefs_save(&c->prefs);
	disconnect(c);
	netmap_free(&c->nm);
	netmap_init(&c->nm);
	fanout_apply(c->cd, &c->nm, &c->prefs);
	set_state(c, c->prefs.login_server[0] ? BS_STOPPED : BS_NOSTATE);
	return 0;
}

int
control_logout(struct control *c, char *err, size_t errlen)
{
	(void)err;
	(void)errlen;
	if (c->conn != NULL && c->connected) {
		/* Expiry in the past for the current node key. */
		c->logging_out = true;
		send_register(c, true);
		return 0;
	}
	logged_out(c);
	return 0;
}

/* ---- status ---- */

static json_t *
strv_json(char **v, size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, json_string(v[i]));
	return a;
}

static json_t *
node_json(const struct nm_node *n)
{
	char k[KEY_TEXT_MAX];
	json_t *o;

	o = json_pack("{s:I,s:s,s:s,s:s,s:s,s:I,s:o,s:o,s:o,s:i,s:b,s:I,s:I}",
	    "id", (json_int_t)n->id, "name", n->name, "hostname", n->hostname,
	    "os", n->os, "key", key_format(k, "nodekey:", n->key),
	    "user", (json_int_t)n->user,
	    "addresses", strv_json(n->addrs, n->naddrs),
	    "allowed_ips", strv_json(n->allowed, n->nallowed),
	    "endpoints", strv_json(n->endpoints, n->nendpoints),
	    "home_derp", n->home_derp, "expired", n->expired,
	    "last_seen", (json_int_t)n->last_seen,
	    "key_expiry", (json_int_t)n->key_expiry);
	if (o != NULL)
		json_object_set_new(o, "online", n->online < 0 ? json_null() :
		    json_boolean(n->online));
	return o;
}

json_t *
control_status_json(struct control *c)
{
	json_t *o, *peers = json_array();
	char k[KEY_TEXT_MAX];

	for (size_t i = 0; i < c->nm.npeers; i++)
		json_array_append_new(peers, node_json(&c->nm.peers[i]));
	o = json_pack("{s:s,s:s,s:s,s:s,s:b,s:I,s:I,s:I,s:i,s:s,s:o,s:o}",
	    "state", control_state_name(c->state),
	    "auth_url", c->auth_url, "error", c->error,
	    "login_server", c->prefs.login_server,
	    "connected", c->connected,
	    "reconnects", (json_int_t)c->reconnects,
	    "map_messages", (json_int_t)c->map_messages,
	    "keepalives", (json_int_t)c->nm.keepalives,
	    "capver", CTRL_CAPVER, "domain", c->nm.domain,
	    "peers", peers, "prefs", prefs_to_json(&c->prefs));
	if (o == NULL)
		return NULL;
	json_object_set_new(o, "last_error", json_string(c->last_error));
	json_object_set_new(o, "errors", json_integer((json_int_t)c->errors));
	json_object_set_new(o, "machine_key", json_string(key_format(k, "mkey:",
	    c->machine_pub)));
	if (c->have_keys)
		json_object_set_new(o, "node_key", json_string(key_format(k,
		    "nodekey:", c->node_pub)));
	if (c->nm.have_self)
		json_object_set_new(o, "self", node_json(&c->nm.self));
	if (c->login_name[0])
		json_object_set_new(o, "login_name",
		    json_string(c->login_name));
	return o;
}

/* ---- start-up ---- */

void
control_preinit(struct control *c)
{
	memset(c, 0, sizeof(*c));
	OPENSSL_init_ssl(OPENSSL_INIT_LOAD_CONFIG, NULL);
	if ((c->tls = SSL_CTX_new(TLS_client_method())) == NULL)
		fatalx("control: cannot create the TLS context");
	SSL_CTX_set_min_proto_version(c->tls, TLS1_2_VERSION);
	SSL_CTX_set_verify(c->tls, SSL_VERIFY_PEER, NULL);
	/* A file, not a directory: loaded now, before the chroot hides it. */
	if (SSL_CTX_load_verify_file(c->tls, CA_FILE) != 1)
		log_warnx("control: cannot load %s; https login servers will "
		    "fail verification", CA_FILE);
	resolve_preinit();	/* /etc/resolv.conf, before the chroot */
}

void
control_init(struct control *c, struct ctrld *cd, uv_loop_t *loop)
{
	char err[256];
	int r;

	c->cd = cd;
	c->loop = loop;
	c->reg_stream = c->map_stream = -1;
	netmap_init(&c->nm);
	prefs_default(&c->prefs);
	uv_timer_init(loop, &c->retry);
	uv_timer_init(loop, &c->watchdog);
	uv_timer_init(loop, &c->keys_timer);
	uv_timer_init(loop, &c->reap);
	uv_timer_init(loop, &c->followup_timer);
	uv_timer_init(loop, &c->reg_timer);
	c->reg_timer.data = c;
	c->retry.data = c->watchdog.data = c->keys_timer.data = c->reap.data = c;
	c->followup_timer.data = c;
	if ((r = machine_key_load(c->machine_priv, c->machine_pub)) < 0)
		fatalx("control: machine key: %s", strerror(-r));
	if (prefs_load(&c->prefs, err, sizeof(err)) < 0) {
		set_error(c, err);
		prefs_free(&c->prefs);
		prefs_default(&c->prefs);
	}
	if (c->prefs.login_server[0] == '\0')
		set_state(c, BS_NOSTATE);
	else if (c->prefs.logged_out)
		set_state(c, BS_NEEDS_LOGIN);
	else if (!c->prefs.want_running)
		set_state(c, BS_STOPPED);
	request_keys(c, false);
	if (c->prefs.want_running && c->prefs.login_server[0])
		set_state(c, BS_STARTING);
}

/* ---- endpoints (netd) ---- */

static int
lite_data(void *arg, const uint8_t *d, size_t n)
{
	(void)arg;
	(void)d;
	(void)n;
	return 0;
}

static void
lite_status(void *arg, int status)
{
	(void)arg;
	if (status != 200)
		log_warnx("control: endpoint update: HTTP %d", status);
}

static void
lite_close(void *arg, uint32_t code)
{
	(void)arg;
	(void)code;
}

/*
 * netd's direct endpoints.  A report also means netd started or has a
 * new channel to us: it gets the whole peer set again.  Changed endpoints
 * reach control at once as a non-streaming MapRequest (OmitPeers, as
 * tailscale's controlclient sends them), else with the next map request.
 */
/* Endpoints or Hostinfo changed: once the streaming request is out
 * (answered or not), only an update carries them; before it, that
 * request will. */
void
control_send_update(struct control *c)
{
	struct h2_handler h = { lite_status, lite_data, lite_close, c };
	char lb[KEY_TEXT_MAX], *body;

	if (c->conn != NULL && c->map_stream >= 0 && c->have_keys &&
	    (body = ctrlmsg_map(&c->prefs, c->node_pub, c->disco_pub,
	    fanout_endpoints_json(), fanout_endpoint_types_json(),
	    false)) != NULL) {
		if (conn_post(c->conn, "/machine/map", body, strlen(body),
		    key_format(lb, "nodekey:", c->node_pub), &h) < 0)
			log_warnx("control: cannot send the update");
		free(body);
	}
}

void
control_endpoints(struct control *c, char **eps, const uint32_t *types,
    size_t n, bool changed_only)
{
	bool same = fanout_same_endpoints(eps, types, n);

	fanout_set_endpoints(eps, types, n);
	if (!same)
		control_send_update(c);
	if (changed_only)
		return;
	fanout_netd_restarted();
	fanout_apply(c->cd, &c->nm, &c->prefs);
}

/* netd's netcheck result: Hostinfo.NetInfo; control hears of it when it
 * changed in substance (not on every latency wobble). */
void
control_net_info(struct control *c, const Pm__NetInfo *ni)
{
	struct ctrl_derp_latency *lat = calloc(ni->n_latencies + 1,
	    sizeof(*lat));
	struct ctrl_net_info n = { ni->preferred_derp,
	    ni->mapping_varies_by_dest_ip, ni->working_udp, ni->working_v6,
	    ni->os_has_v6, lat, ni->n_latencies };

	if (lat == NULL) {
		log_warnx("control: out of memory for NetInfo");
		return;
	}
	for (size_t i = 0; i < ni->n_latencies; i++) {
		lat[i].region = ni->latencies[i]->region_id;
		lat[i].v4_us = ni->latencies[i]->v4_us;
		lat[i].v6_us = ni->latencies[i]->v6_us;
	}
	if (ctrlmsg_set_net_info(&n)) {
		log_info("control: NetInfo: home region %u, UDP %s",
		    ni->preferred_derp, ni->working_udp ? "works" : "blocked");
		control_send_update(c);
	}
	free(lat);
}
