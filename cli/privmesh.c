/*
 * privmesh: the command-line client of ctrld's local API.
 *
 *   privmesh [--socket PATH] status [--json]
 *   privmesh up [--login-server URL] [--auth-key KEY] [--hostname NAME]
 *               [--accept-routes[=BOOL]] [--accept-dns[=BOOL]]
 *               [--exit-node IP] [--exit-node-allow-lan-access[=BOOL]]
 *               [--advertise-exit-node[=BOOL]] [--advertise-routes LIST]
 *               [--advertise-tags LIST] [--timeout SECONDS]
 *   privmesh set [the flags of up but --login-server/--auth-key/--timeout]
 *   privmesh down | logout | ip [-4|-6]
 *   privmesh netcheck [--format=json|json-line]
 *   privmesh ping [-c COUNT] [--timeout DURATION] NODE
 */
#include <errno.h>
#include <stdbool.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <sys/un.h>
#include <unistd.h>

#include <jansson.h>

#include "pm_config.h"

#define REPLY_MAX	(1 << 20)
#define API_TIMEOUT_S	10

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr,
	    "usage: privmesh [--socket PATH] COMMAND\n"
	    "  status [--json]\n"
	    "  up [--login-server URL] [--auth-key KEY] [--hostname NAME]\n"
	    "     [--accept-routes] [--accept-dns=false] [--exit-node IP]\n"
	    "     [--exit-node-allow-lan-access] [--advertise-exit-node]\n"
	    "     [--advertise-routes P,P] [--advertise-tags tag:a,tag:b]\n"
	    "     [--timeout SECONDS]\n"
	    "  set [the flags of up, without --login-server/--auth-key/"
	    "--timeout]\n"
	    "  down\n  logout\n  ip [-4|-6]\n"
	    "  netcheck [--format=json|json-line]\n"
	    "  ping [-c COUNT] [--timeout DURATION] NODE\n");
	exit(2);
}

static long api_timeout_s = API_TIMEOUT_S;

static int
api_connect(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = api_timeout_s };
	int fd;

	if (strlen(path) >= sizeof(sun.sun_path)) {
		fprintf(stderr, "privmesh: socket path too long: %s\n", path);
		exit(1);
	}
	strcpy(sun.sun_path, path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
	    connect(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0) {
		fprintf(stderr, "privmesh: cannot connect to %s: %s (is privd "
		    "running?)\n", path, strerror(errno));
		exit(1);
	}
	/* A stuck ctrld must not hang the user's shell. */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) != 0) {
		perror("privmesh: setsockopt");
		exit(1);
	}
	return fd;
}

/* Sends one request line and returns the parsed one-line reply. */
static json_t *
api_call_obj(const char *path, json_t *reqobj)
{
	char *req, *buf;
	size_t len = 0;
	ssize_t n = 0;
	json_error_t err;
	json_t *reply;
	int fd = api_connect(path);

	if ((req = json_dumps(reqobj, JSON_COMPACT)) == NULL)
		exit(1);
	json_decref(reqobj);
	if (write(fd, req, strlen(req)) != (ssize_t)strlen(req) ||
	    write(fd, "\n", 1) != 1) {
		perror("privmesh: write");
		exit(1);
	}
	free(req);
	if ((buf = malloc(REPLY_MAX)) == NULL)
		exit(1);
	while (len < REPLY_MAX && (n = read(fd, buf + len, REPLY_MAX - len)) > 0)
		len += (size_t)n;
	if (n < 0) {
		fprintf(stderr, "privmesh: no reply from ctrld: %s\n",
		    strerror(errno));
		exit(1);
	}
	close(fd);
	if ((reply = json_loadb(buf, len, 0, &err)) == NULL) {
		fprintf(stderr, "privmesh: bad reply from ctrld: %s\n", err.text);
		exit(1);
	}
	free(buf);
	if (json_is_string(json_object_get(reply, "error"))) {
		fprintf(stderr, "privmesh: %s\n",
		    json_string_value(json_object_get(reply, "error")));
		exit(1);
	}
	return reply;
}

static json_t *
api_call(const char *path, const char *op)
{
	return api_call_obj(path, json_pack("{s:s}", "op", op));
}

static json_int_t
geti(json_t *o, const char *key)
{
	return json_integer_value(json_object_get(o, key));
}

static const char *
gets_(json_t *o, const char *key, const char *dflt)
{
	const char *s = json_string_value(json_object_get(o, key));
	return s != NULL && *s != '\0' ? s : dflt;
}

/* One line per DERP connection: the numbers that say whether the relay
 * works and whether it or a peer sends garbage. */
static void
print_derp(json_t *d)
{
	json_t *r;
	size_t i;

	json_array_foreach(json_object_get(d, "regions"), i, r) {
		printf("derp region %lld%s: %s, %lld logins, %lld drops, "
		    "%lld server errors, %lld garbage frames; rx %lld pkts, "
		    "tx %lld pkts (%lld dropped), %lld refused\n",
		    (long long)geti(r, "region"),
		    json_is_true(json_object_get(r, "home")) ? " (home)" : "",
		    json_is_true(json_object_get(r, "connected")) ?
		    "connected" : "not connected",
		    (long long)geti(r, "logins"), (long long)geti(r, "drops"),
		    (long long)geti(r, "server_errors"),
		    (long long)geti(r, "garbage_frames"),
		    (long long)geti(r, "rx_packets"),
		    (long long)geti(r, "tx_packets"),
		    (long long)geti(r, "tx_dropped"),
		    (long long)geti(r, "rx_refused"));
	}
	if (geti(d, "tx_no_region") > 0)
		printf("derp: %lld packets for regions with no connection\n",
		    (long long)geti(d, "tx_no_region"));
}

/* netcheck's STUN numbers: whether answers come and whether someone
 * sends junk that looks like them. */
static void
print_stun_counters(json_t *n)
{
	printf("netcheck: %lld runs (%lld full); STUN %lld sent (%lld failed),"
	    " %lld answers, %lld ignored, %lld unparsable\n",
	    (long long)(geti(n, "runs_full") + geti(n, "runs_incremental")),
	    (long long)geti(n, "runs_full"), (long long)geti(n, "tx"),
	    (long long)geti(n, "tx_errors"), (long long)geti(n, "rx"),
	    (long long)geti(n, "rx_ignored"), (long long)geti(n, "rx_bad"));
	if (geti(n, "https_tx") > 0)
		printf("netcheck: UDP blocked: %lld HTTPS latency checks, %lld "
		    "answered\n", (long long)geti(n, "https_tx"),
		    (long long)geti(n, "https_rx"));
}

static void
print_wireguard(json_t *wg)
{
	json_t *peers = json_object_get(wg, "peers"), *p, *a;
	size_t i, j;
	time_t now = time(NULL);

	printf("\nwireguard: public key %s, listening on UDP %lld\n",
	    gets_(wg, "public_key", "?"), (long long)geti(wg, "listen_port"));
	json_array_foreach(peers, i, p) {
		json_int_t hs = geti(p, "latest_handshake");

		printf("peer %s\n", gets_(p, "public_key", "?"));
		printf("  endpoint:         %s\n", gets_(p, "endpoint", "(none)"));
		printf("  allowed ips:      ");
		json_array_foreach(json_object_get(p, "allowed_ips"), j, a)
			printf("%s%s", j ? ", " : "", json_string_value(a));
		printf("\n  latest handshake: ");
		if (hs == 0)
			printf("never\n");
		else
			printf("%lld seconds ago\n", (long long)(now - hs));
		printf("  transfer:         %lld B received, %lld B sent\n",
		    (long long)geti(p, "rx_bytes"), (long long)geti(p, "tx_bytes"));
	}
	if (json_is_object(json_object_get(wg, "derp")))
		print_derp(json_object_get(wg, "derp"));
	if (json_is_object(json_object_get(wg, "netcheck")))
		print_stun_counters(json_object_get(wg, "netcheck"));
}

static void
print_dns(json_t *d)
{
	printf("\ndns: %lld queries: %lld answered locally, %lld forwarded, "
	    "%lld from the cache\n", (long long)geti(d, "queries"),
	    (long long)geti(d, "local"), (long long)geti(d, "forwarded"),
	    (long long)geti(d, "cache_hits"));
	printf("  answers:   %lld NXDOMAIN, %lld SERVFAIL, %lld FORMERR, "
	    "%lld unreadable dropped\n", (long long)geti(d, "nxdomain"),
	    (long long)geti(d, "servfail"), (long long)geti(d, "formerr"),
	    (long long)geti(d, "dropped"));
	printf("  upstreams: %lld timeouts, %lld spoofed answers dropped\n",
	    (long long)geti(d, "upstream_timeouts"),
	    (long long)geti(d, "spoofed"));
}

static void
print_status(json_t *reply)
{
	json_t *procs = json_object_get(reply, "processes"), *p;
	size_t i;

	printf("%-6s %7s %-9s %6s %-16s %-7s %-3s %8s %8s  %s\n", "NAME",
	    "PID", "USER", "UID", "CAPEFF", "SECCOMP", "NNP", "UPTIME",
	    "RESTARTS", "STATE");
	json_array_foreach(procs, i, p) {
		bool have = json_object_get(p, "uid") != NULL;
		char uid[16] = "-", cap[24] = "-", sc[8] = "-", nnp[4] = "-";

		if (have) {
			snprintf(uid, sizeof(uid), "%lld", (long long)geti(p, "uid"));
			snprintf(cap, sizeof(cap), "%016llx",
			    (unsigned long long)geti(p, "cap_eff"));
			snprintf(sc, sizeof(sc), "%s", geti(p, "seccomp") == 2 ?
			    "filter" : geti(p, "seccomp") == 1 ? "strict" : "none");
			snprintf(nnp, sizeof(nnp), "%lld",
			    (long long)geti(p, "no_new_privs"));
		}
		printf("%-6s %7lld %-9s %6s %-16s %-7s %-3s %7llds %8lld  %s%s%s\n",
		    gets_(p, "name", "?"), (long long)geti(p, "pid"),
		    gets_(p, "user", "-"), uid, cap, sc, nnp,
		    (long long)geti(p, "uptime_s"), (long long)geti(p, "restarts"),
		    gets_(p, "state", "?"),
		    *gets_(p, "last_exit", "") ? ", last " : "",
		    gets_(p, "last_exit", ""));
	}
	if (!json_is_true(json_object_get(reply, "complete")))
		printf("(some processes did not answer in time)\n");
	if (json_is_object(json_object_get(reply, "wireguard")))
		print_wireguard(json_object_get(reply, "wireguard"));
	if (json_is_object(json_object_get(reply, "dns")))
		print_dns(json_object_get(reply, "dns"));
}

/* "tag:a,tag:b" -> ["tag:a","tag:b"]; "" -> []. */
static json_t *
split_list(const char *s)
{
	json_t *a = json_array();
	char *dup = strdup(s), *save = NULL, *tok;

	if (dup == NULL)
		exit(1);
	for (tok = strtok_r(dup, ",", &save); tok != NULL;
	    tok = strtok_r(NULL, ",", &save))
		json_array_append_new(a, json_string(tok));
	free(dup);
	return a;
}

static bool
parse_bool(const char *opt, const char *v)
{
	if (v == NULL || strcmp(v, "true") == 0)
		return true;
	if (strcmp(v, "false") == 0)
		return false;
	fprintf(stderr, "privmesh: --%s takes true or false\n", opt);
	exit(2);
}

static json_t *
backend_of(json_t *reply)
{
	return json_object_get(reply, "backend");
}

static void
print_backend(json_t *b)
{
	json_t *self = json_object_get(b, "self"), *p;
	size_t i;

	printf("\nbackend: %s", gets_(b, "state", "?"));
	if (*gets_(b, "login_server", ""))
		printf(", login server %s (%s)", gets_(b, "login_server", ""),
		    json_is_true(json_object_get(b, "connected")) ?
		    "connected" : "not connected");
	printf("\n");
	if (*gets_(b, "auth_url", ""))
		printf("to log in, visit: %s\n", gets_(b, "auth_url", ""));
	if (*gets_(b, "error", ""))
		printf("error: %s\n", gets_(b, "error", ""));
	if (self != NULL)
		printf("%-40s %-32s %-8s %-8s %s\n", "ADDRESSES", "NAME", "OS",
		    "ONLINE", "PATH");
	for (int pass = 0; self != NULL && pass < 2; pass++) {
		json_t *list = pass == 0 ? json_pack("[O]", self) :
		    json_incref(json_object_get(b, "peers"));
		json_array_foreach(list, i, p) {
			char addrs[128] = "";
			json_t *a, *on = json_object_get(p, "online");
			size_t j;

			json_array_foreach(json_object_get(p, "addresses"), j, a) {
				char one[64];
				snprintf(one, sizeof(one), "%s", json_string_value(a));
				one[strcspn(one, "/")] = '\0';
				if (strlen(addrs) + strlen(one) + 2 < sizeof(addrs))
					snprintf(addrs + strlen(addrs),
					    sizeof(addrs) - strlen(addrs), "%s%s",
					    j ? " " : "", one);
			}
			printf("%-40s %-32s %-8s %-8s %s\n", addrs,
			    gets_(p, "name", gets_(p, "hostname", "-")),
			    gets_(p, "os", "-"), pass == 0 ? "self" :
			    json_is_true(on) ? "online" : json_is_false(on) ?
			    "offline" : "-", pass == 0 ? "-" :
			    gets_(p, "path", "-"));
		}
		json_decref(list);
	}
}

static int
cmd_status(const char *sock, int argc, char **argv)
{
	bool json = false;
	json_t *reply;

	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			json = true;
		else
			usage();
	}
	reply = api_call(sock, "status");
	if (json) {
		json_dumpf(reply, stdout, JSON_INDENT(2));
		putchar('\n');
	} else {
		print_status(reply);
		if (backend_of(reply) != NULL)
			print_backend(backend_of(reply));
	}
	json_decref(reply);
	return 0;
}

/* After `up`: wait for Running, print an AuthURL once, fail on a login
 * error (an unreachable server is retried by ctrld: keep waiting). */
static int
wait_running(const char *sock, long timeout_s)
{
	char shown_url[512] = "", shown_err[512] = "", state[32];
	time_t deadline = timeout_s > 0 ? time(NULL) + timeout_s : 0;

	for (;;) {
		json_t *r = api_call(sock, "backend"), *b = backend_of(r);
		const char *st = gets_(b, "state", "?");
		const char *url = gets_(b, "auth_url", "");
		const char *err = gets_(b, "error", "");

		if (strcmp(st, "Running") == 0) {
			json_decref(r);
			return 0;
		}
		if (*url && strcmp(url, shown_url) != 0) {
			printf("\nTo authenticate, visit:\n\n\t%s\n\n", url);
			fflush(stdout);
			snprintf(shown_url, sizeof(shown_url), "%s", url);
		}
		if (*err && strcmp(err, shown_err) != 0) {
			snprintf(shown_err, sizeof(shown_err), "%s", err);
			if (strcmp(st, "NeedsLogin") == 0 && !*url) {
				fprintf(stderr, "privmesh: %s\n", err);
				json_decref(r);
				return 1;
			}
			fprintf(stderr, "privmesh: %s (retrying)\n", err);
		}
		snprintf(state, sizeof(state), "%s", st);
		json_decref(r);
		if (deadline != 0 && time(NULL) >= deadline) {
			fprintf(stderr, "privmesh: timed out waiting for the "
			    "node to come up (state %s)\n", state);
			return 1;
		}
		usleep(250 * 1000);
	}
}

/* `up` and `set` share the flags; `set` takes no login options. */
static int
cmd_up_set(const char *sock, int argc, char **argv, bool set)
{
	enum { O_LOGIN = 256, O_AUTHKEY, O_HOSTNAME, O_ACCEPT_ROUTES,
	    O_ACCEPT_DNS, O_EXIT, O_EXIT_LAN, O_ADV_EXIT, O_ADV_ROUTES,
	    O_ADV_TAGS, O_TIMEOUT };
	static const struct option lo[] = {
		{ "login-server", required_argument, NULL, O_LOGIN },
		{ "auth-key", required_argument, NULL, O_AUTHKEY },
		{ "authkey", required_argument, NULL, O_AUTHKEY },
		{ "hostname", required_argument, NULL, O_HOSTNAME },
		{ "accept-routes", optional_argument, NULL, O_ACCEPT_ROUTES },
		{ "accept-dns", optional_argument, NULL, O_ACCEPT_DNS },
		{ "exit-node", required_argument, NULL, O_EXIT },
		{ "exit-node-allow-lan-access", optional_argument, NULL,
		    O_EXIT_LAN },
		{ "advertise-exit-node", optional_argument, NULL, O_ADV_EXIT },
		{ "advertise-routes", required_argument, NULL, O_ADV_ROUTES },
		{ "advertise-tags", required_argument, NULL, O_ADV_TAGS },
		{ "timeout", required_argument, NULL, O_TIMEOUT },
		{ NULL, 0, NULL, 0 },
	};
	json_t *prefs = json_object(), *req, *reply;
	const char *auth = NULL;
	long timeout_s = 0;
	int ch;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		if (set && (ch == O_LOGIN || ch == O_AUTHKEY || ch == O_TIMEOUT)) {
			fprintf(stderr, "privmesh: set does not log in; use "
			    "up\n");
			exit(2);
		}
		switch (ch) {
		case O_LOGIN:
			json_object_set_new(prefs, "login_server",
			    json_string(optarg));
			break;
		case O_AUTHKEY: auth = optarg; break;
		case O_HOSTNAME:
			json_object_set_new(prefs, "hostname", json_string(optarg));
			break;
		case O_ACCEPT_ROUTES:
			json_object_set_new(prefs, "accept_routes", json_boolean(
			    parse_bool("accept-routes", optarg)));
			break;
		case O_ACCEPT_DNS:
			json_object_set_new(prefs, "accept_dns", json_boolean(
			    parse_bool("accept-dns", optarg)));
			break;
		case O_EXIT:
			json_object_set_new(prefs, "exit_node", json_string(optarg));
			break;
		case O_EXIT_LAN:
			json_object_set_new(prefs, "exit_node_allow_lan_access",
			    json_boolean(parse_bool("exit-node-allow-lan-access",
			    optarg)));
			break;
		case O_ADV_EXIT:
			json_object_set_new(prefs, "advertise_exit_node",
			    json_boolean(parse_bool("advertise-exit-node",
			    optarg)));
			break;
		case O_ADV_ROUTES:
			json_object_set_new(prefs, "advertise_routes",
			    split_list(optarg));
			break;
		case O_ADV_TAGS:
			json_object_set_new(prefs, "advertise_tags",
			    split_list(optarg));
			break;
		case O_TIMEOUT: timeout_s = atol(optarg); break;
		default: usage();
		}
	}
	if (optind != argc)
		usage();
	req = json_pack("{s:s,s:o}", "op", set ? "set" : "up", "prefs", prefs);
	if (auth != NULL)
		json_object_set_new(req, "auth_key", json_string(auth));
	reply = api_call_obj(sock, req);
	json_decref(reply);
	return set ? 0 : wait_running(sock, timeout_s);
}

static int
cmd_ip(const char *sock, int argc, char **argv)
{
	int fam = 0;
	json_t *reply, *self, *a;
	size_t i;

	for (int k = 0; k < argc; k++) {
		if (strcmp(argv[k], "-4") == 0)
			fam = 4;
		else if (strcmp(argv[k], "-6") == 0)
			fam = 6;
		else
			usage();
	}
	reply = api_call(sock, "backend");
	self = json_object_get(backend_of(reply), "self");
	if (self == NULL) {
		fprintf(stderr, "privmesh: no addresses yet (state %s)\n",
		    gets_(backend_of(reply), "state", "?"));
		return 1;
	}
	json_array_foreach(json_object_get(self, "addresses"), i, a) {
		char ip[64];
		bool v6;

		snprintf(ip, sizeof(ip), "%s", json_string_value(a));
		ip[strcspn(ip, "/")] = '\0';
		v6 = strchr(ip, ':') != NULL;
		if (fam == 0 || (fam == 6) == v6)
			printf("%s\n", ip);
	}
	json_decref(reply);
	return 0;
}

static int
cmd_simple(const char *sock, const char *op, int argc)
{
	json_t *reply;

	if (argc != 0)
		usage();
	reply = api_call(sock, op);
	json_decref(reply);
	return 0;
}

/* Go's time.Duration.String() of a latency rounded to 0.1 ms, as
 * `tailscale netcheck` prints it. */
static void
fmt_latency(char *buf, size_t len, json_int_t ns)
{
	long long d = (ns + 50000) / 100000 * 100000;
	char *dot;

	if (d == 0)
		snprintf(buf, len, "0s");
	else if (d < 1000000)
		snprintf(buf, len, "%lldµs", d / 1000);
	else if (d < 1000000000) {
		snprintf(buf, len, "%lld.%lld", d / 1000000,
		    d % 1000000 / 100000);
		if ((dot = strchr(buf, '.')) != NULL && strcmp(dot, ".0") == 0)
			*dot = '\0';
		strncat(buf, "ms", len - strlen(buf) - 1);
	} else {
		snprintf(buf, len, "%lld.%04lld", d / 1000000000,
		    d % 1000000000 / 100000);
		for (char *e = buf + strlen(buf) - 1; *e == '0'; e--)
			*e = '\0';
		if (buf[strlen(buf) - 1] == '.')
			buf[strlen(buf) - 1] = '\0';
		strncat(buf, "s", len - strlen(buf) - 1);
	}
}

/* "5s", "500ms", "1m", or plain seconds; milliseconds, or -1. */
static long
parse_duration_ms(const char *s)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || v <= 0)
		return -1;
	if (strcmp(end, "ms") == 0)
		;
	else if (strcmp(end, "s") == 0 || *end == '\0')
		v *= 1000;
	else if (strcmp(end, "m") == 0)
		v *= 60000;
	else
		return -1;
	return v < 1 || v > 60000 ? -1 : (long)v;
}

/* Go's Duration.String() of a latency rounded to the millisecond. */
static void
fmt_ms(double ms, char *buf, size_t len)
{
	long r = (long)(ms + 0.5);

	if (r == 0)
		snprintf(buf, len, "0s");
	else if (r < 1000)
		snprintf(buf, len, "%ldms", r);
	else {
		char *p;

		snprintf(buf, len, "%.3f", (double)r / 1000);
		p = buf + strlen(buf) - 1;
		while (*p == '0')
			*p-- = '\0';
		if (*p == '.')
			*p = '\0';
		strncat(buf, "s", len - strlen(buf) - 1);
	}
}

static json_int_t
region_latency(json_t *rep, json_int_t id)
{
	char k[24];

	snprintf(k, sizeof(k), "%lld", (long long)id);
	return json_integer_value(json_object_get(json_object_get(rep,
	    "RegionLatency"), k));
}

/* RegionLatency.Compare: measured first, by latency, then by ID. */
static json_t *sort_rep;

static int
by_latency(const void *a, const void *b)
{
	json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
	json_int_t ix = geti(x, "RegionID"), iy = geti(y, "RegionID");
	json_int_t lx = region_latency(sort_rep, ix);
	json_int_t ly = region_latency(sort_rep, iy);

	if ((lx == 0) != (ly == 0))
		return lx == 0 ? 1 : -1;
	if (lx != ly)
		return lx < ly ? -1 : 1;
	return (ix > iy) - (ix < iy);
}

/* The report's RFC 3339 UTC time as tailscale netcheck prints it: local
 * time, tstime.DateSpTimeNanoZ ("2006-01-02 15:04:05.999999999Z07:00"). */
static void
print_time(const char *rfc3339)
{
	struct tm tm = { 0 };
	const char *frac = strchr(rfc3339, '.'), *end;
	char date[32], off[40] = "Z";
	time_t t;

	end = strptime(rfc3339, "%Y-%m-%dT%H:%M:%S", &tm);
	if (end == NULL) {
		printf("\t* Time: %s\n", rfc3339);
		return;
	}
	t = timegm(&tm);
	localtime_r(&t, &tm);
	strftime(date, sizeof(date), "%Y-%m-%d %H:%M:%S", &tm);
	if (tm.tm_gmtoff != 0)
		snprintf(off, sizeof(off), "%c%02ld:%02ld",
		    tm.tm_gmtoff < 0 ? '-' : '+', labs(tm.tm_gmtoff) / 3600,
		    labs(tm.tm_gmtoff) % 3600 / 60);
	printf("\t* Time: %s%.*s%s\n", date, frac != NULL ?
	    (int)strcspn(frac, "Z+-") : 0, frac != NULL ? frac : "", off);
}

static void
print_netcheck(json_t *rep, json_t *regions)
{
	json_t *varies = json_object_get(rep, "MappingVariesByDestIP");
	const char *g4 = gets_(rep, "GlobalV4", "");
	const char *g6 = gets_(rep, "GlobalV6", "");
	json_int_t pref = geti(rep, "PreferredDERP");
	size_t n = json_array_size(regions);
	json_t **rs = calloc(n + 1, sizeof(*rs));
	const char *pname = NULL;

	if (rs == NULL)
		exit(1);
	printf("\nReport:\n");
	print_time(gets_(rep, "Now", ""));
	printf("\t* UDP: %s\n", json_is_true(json_object_get(rep, "UDP")) ?
	    "true" : "false");
	if (*g4)
		printf("\t* IPv4: yes, %s\n", g4);
	else
		printf("\t* IPv4: (no addr found)\n");
	if (*g6)
		printf("\t* IPv6: yes, %s\n", g6);
	else if (json_is_true(json_object_get(rep, "IPv6")))
		printf("\t* IPv6: (no addr found)\n");
	else if (json_is_true(json_object_get(rep, "OSHasIPv6")))
		printf("\t* IPv6: no, but OS has support\n");
	else
		printf("\t* IPv6: no, unavailable in OS\n");
	printf("\t* MappingVariesByDestIP: %s\n", json_is_true(varies) ?
	    "true" : json_is_false(varies) ? "false" : "");
	printf("\t* PortMapping: not checked\n");
	if (json_object_size(json_object_get(rep, "RegionLatency")) == 0) {
		printf("\t* Nearest DERP: unknown (no response to latency "
		    "probes)\n");
		free(rs);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		rs[i] = json_array_get(regions, i);
		if (geti(rs[i], "RegionID") == pref)
			pname = gets_(rs[i], "RegionName", "");
	}
	if (pref == 0)
		printf("\t* Nearest DERP: [none]\n");
	else if (pname != NULL)
		printf("\t* Nearest DERP: %s\n", pname);
	else
		printf("\t* Nearest DERP: %lld (region not found in map)\n",
		    (long long)pref);
	printf("\t* DERP latency:\n");
	sort_rep = rep;
	qsort(rs, n, sizeof(*rs), by_latency);
	for (size_t i = 0; i < n; i++) {
		json_int_t ns = region_latency(rep, geti(rs[i], "RegionID"));
		char lat[32] = "";
		int runes = 0;

		if (ns > 0)
			fmt_latency(lat, sizeof(lat), ns);
		/* Go pads %-7s by runes: "µ" is two bytes, one rune. */
		for (const char *c = lat; *c; c++)
			runes += ((unsigned char)*c & 0xc0) != 0x80;
		printf("\t\t- %3s: %s%*s (%s)\n", gets_(rs[i], "RegionCode",
		    ""), lat, runes < 7 ? 7 - runes : 0, "",
		    gets_(rs[i], "RegionName", ""));
	}
	free(rs);
}

static int
cmd_netcheck(const char *sock, int argc, char **argv)
{
	const char *format = "";
	json_t *reply, *rep;

	for (int i = 0; i < argc; i++) {
		if (strncmp(argv[i], "--format=", 9) == 0)
			format = argv[i] + 9;
		else if (strcmp(argv[i], "--format") == 0 && i + 1 < argc)
			format = argv[++i];
		else
			usage();
	}
	if (*format && strcmp(format, "json") != 0 &&
	    strcmp(format, "json-line") != 0) {
		fprintf(stderr, "privmesh: unknown output format \"%s\"\n",
		    format);
		return 1;
	}
	reply = api_call(sock, "netcheck");
	rep = json_object_get(reply, "report");
	if (!json_is_object(rep)) {
		fprintf(stderr, "privmesh: no report in ctrld's reply\n");
		return 1;
	}
	if (*format) {
		json_dumpf(rep, stdout, strcmp(format, "json") == 0 ?
		    JSON_INDENT(1) | JSON_PRESERVE_ORDER : JSON_COMPACT |
		    JSON_PRESERVE_ORDER);
		putchar('\n');
	} else
		print_netcheck(rep, json_object_get(reply, "regions"));
	json_decref(reply);
	return 0;
}

/*
 * As `tailscale ping`: one disco ping round per second until a pong comes
 * over a direct path or COUNT rounds are done.
 */
static int
cmd_ping(const char *sock, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "c", required_argument, NULL, 'c' },
		{ "timeout", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 },
	};
	long count = 10, timeout_ms = 5000;
	bool any = false;
	const char *node;
	char *end;
	int ch;

	optind = 1;
	while ((ch = getopt_long_only(argc, argv, "c:", lo, NULL)) != -1) {
		switch (ch) {
		case 'c':
			count = strtol(optarg, &end, 10);
			if (*end != '\0' || count < 0)
				usage();
			break;
		case 't':
			if ((timeout_ms = parse_duration_ms(optarg)) < 0) {
				fprintf(stderr, "privmesh: bad --timeout %s "
				    "(1ms..60s)\n", optarg);
				return 2;
			}
			break;
		default:
			usage();
		}
	}
	if (optind != argc - 1)
		usage();
	node = argv[optind];
	api_timeout_s = timeout_ms / 1000 + API_TIMEOUT_S;
	for (long n = 1;; n++) {
		json_t *r = api_call_obj(sock, json_pack("{s:s,s:s,s:I}", "op",
		    "ping", "node", node, "timeout_ms", (json_int_t)timeout_ms));
		const char *ep = gets_(r, "endpoint", NULL);
		char via[128], lat[32];

		if (json_is_true(json_object_get(r, "timeout"))) {
			printf("ping \"%s\" timed out\n", gets_(r, "ip", node));
			json_decref(r);
			fflush(stdout);
			if (count != 0 && n >= count) {
				if (!any) {
					fprintf(stderr, "privmesh: no reply\n");
					return 1;
				}
				return 0;
			}
			continue;
		}
		any = true;
		if (ep != NULL)
			snprintf(via, sizeof(via), "%s", ep);
		else
			snprintf(via, sizeof(via), "DERP(%s)",
			    gets_(r, "derp_code", "?"));
		fmt_ms(json_real_value(json_object_get(r, "latency_ms")),
		    lat, sizeof(lat));
		printf("pong from %s (%s) via %s in %s\n", gets_(r, "node", "?"),
		    gets_(r, "ip", "?"), via, lat);
		fflush(stdout);
		json_decref(r);
		if (ep != NULL)
			return 0;
		if (count != 0 && n >= count) {
			fprintf(stderr, "privmesh: direct connection not "
			    "established\n");
			return 1;
		}
		sleep(1);
	}
}

int
main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *sock = PM_DEFAULT_SOCKET, *cmd;
	int ch;

	/* Global options stop at the command ("+"). */
	while ((ch = getopt_long(argc, argv, "+", lo, NULL)) != -1) {
		switch (ch) {
		case 's': sock = optarg; break;
		default: usage();
		}
	}
	if (optind >= argc)
		usage();
	cmd = argv[optind];
	argc -= optind;
	argv += optind;
	if (strcmp(cmd, "status") == 0)
		return cmd_status(sock, argc - 1, argv + 1);
	if (strcmp(cmd, "up") == 0)
		return cmd_up_set(sock, argc, argv, false);
	if (strcmp(cmd, "set") == 0)
		return cmd_up_set(sock, argc, argv, true);
	if (strcmp(cmd, "down") == 0 || strcmp(cmd, "logout") == 0)
		return cmd_simple(sock, cmd, argc - 1);
	if (strcmp(cmd, "ip") == 0)
		return cmd_ip(sock, argc - 1, argv + 1);
	if (strcmp(cmd, "netcheck") == 0)
		return cmd_netcheck(sock, argc - 1, argv + 1);
	if (strcmp(cmd, "ping") == 0)
		return cmd_ping(sock, argc, argv);
	usage();
}
