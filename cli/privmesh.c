/*
 * privmesh: the command-line client of ctrld's local API.
 *
 *   privmesh [--socket PATH] status [--json]
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
	fprintf(stderr, "usage: privmesh [--socket PATH] status [--json]\n");
	exit(2);
}

static int
api_connect(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = API_TIMEOUT_S };
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
api_call(const char *path, const char *op)
{
	char req[256], *buf;
	size_t len = 0;
	ssize_t n = 0;
	json_error_t err;
	json_t *reply;
	int fd = api_connect(path);

	snprintf(req, sizeof(req), "{\"op\":\"%s\"}\n", op);
	if (write(fd, req, strlen(req)) != (ssize_t)strlen(req)) {
		perror("privmesh: write");
		exit(1);
	}
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

int
main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *sock = PM_DEFAULT_SOCKET;
	bool json = false;
	json_t *reply;
	int ch;

	while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (ch) {
		case 's': sock = optarg; break;
		case 'j': json = true; break;
		default: usage();
		}
	}
	if (optind != argc - 1 || strcmp(argv[optind], "status") != 0)
		usage();
	reply = api_call(sock, "status");
	if (json) {
		json_dumpf(reply, stdout, JSON_INDENT(2));
		putchar('\n');
	} else
		print_status(reply);
	json_decref(reply);
	return 0;
}
