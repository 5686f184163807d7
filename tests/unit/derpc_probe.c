/*
 * netd's DERP connection protocol (netd/derp_conn.c) over plain TCP or
 * TLS (netd/derp_tls.c), for tests/integration/test_derp_conn.py against
 * the independent Python server tests/testderp.  Not part of netd.
 *
 *	derpc_probe [--tls HOST CERTNAME INSECURE CAFILE] MODE ...
 *		TLS with SNI HOST, CertName CERTNAME ("-": none), InsecureForTests
 *		INSECURE (0/1), CA bundle CAFILE ("-": none)
 *
 *	derpc_probe pair IP PORT N	two clients; A sends B N packets
 *					(1..1400 bytes, checksummed), B checks
 *					them; prints "ok N" and A's counters
 *	derpc_probe loop IP PORT	netd's client (derp_client.c) on a libuv
 *					loop, reconnecting; echoes each packet
 *					back to its sender; prints "login N KEY"
 *					and "drop WHY errors N" as they happen
 *	derpc_probe one IP PORT		one client; prints "ready KEY", then each
 *					event, until the server ends it:
 *					"failed <why>" or "eof", and counters
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sodium.h>

#include "derp_client.h"
#include "derp_conn.h"
#include "derp_tls.h"

static SSL_CTX *tls_ctx;	/* NULL: plain TCP */
static const char *tls_host, *tls_cert;
static bool tls_insecure;

struct side {
	int		 fd;
	struct derp_conn c;
	struct derp_tls	 t;
	uint8_t		 cbuf[65536];	/* ciphertext not yet sent */
	size_t		 clen;
	uint8_t		 pub[32], priv[32];
	unsigned	 got, bad;
	bool		 eof;
};

static void __attribute__((noreturn))
die(const char *what)
{
	printf("error %s\n", what);
	fflush(stdout);
	exit(1);
}

static void
payload(unsigned i, uint8_t *out, size_t *len)
{
	uint8_t nonce[crypto_stream_chacha20_NONCEBYTES] = { (uint8_t)i,
	    (uint8_t)(i >> 8), (uint8_t)(i >> 16) };
	static const uint8_t key[crypto_stream_chacha20_KEYBYTES];

	*len = 1 + (i * 7919u) % 1400;
	crypto_stream_chacha20(out, *len, nonce, key);
	out[0] = (uint8_t)i;
}

static void
on_recv(void *arg, const uint8_t src[32], const uint8_t *pkt, size_t len)
{
	struct side *s = arg;
	uint8_t want[1400];
	size_t wl;

	(void)src;
	payload(s->got, want, &wl);
	if (len != wl || memcmp(pkt, want, len) != 0)
		s->bad++;
	s->got++;
}

static void
on_gone(void *arg, const uint8_t peer[32], uint8_t reason)
{
	(void)arg;
	printf("peer_gone %02x%02x.. reason %u\n", peer[0], peer[1], reason);
}

static int
dial(const char *ip, int port)
{
	struct sockaddr_storage ss = { 0 };
	struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
	socklen_t sl;
	int fd;

	if (inet_pton(AF_INET, ip, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		sl = sizeof(*s4);
	} else if (inet_pton(AF_INET6, ip, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		sl = sizeof(*s6);
	} else
		die("address");
	if ((fd = socket(ss.ss_family, SOCK_STREAM, 0)) < 0 ||
	    connect(fd, (struct sockaddr *)&ss, sl) != 0)
		die("connect");
	return fd;
}

static void
open_side(struct side *s, const char *ip, int port)
{
	static const struct derp_conn_cb cb = { on_recv, on_gone };

	crypto_box_keypair(s->pub, s->priv);
	s->fd = dial(ip, port);
	if (derp_conn_init(&s->c, "derp.test", s->pub, s->priv, &cb, s) < 0)
		die("init");
	if (tls_ctx != NULL && derp_tls_init(&s->t, tls_ctx, tls_host,
	    tls_cert, tls_insecure) < 0)
		die(s->t.err);
}

/* What to write to the socket now: the DERP bytes, or under TLS the
 * ciphertext of as many of them as TLS takes. */
static const uint8_t *
wire_out(struct side *s, size_t *len)
{
	const uint8_t *p = derp_conn_pending(&s->c, len);
	ssize_t w;

	if (tls_ctx == NULL)
		return p;
	if ((w = derp_tls_write(&s->t, p, p != NULL ? *len : 0)) > 0)
		derp_conn_written(&s->c, (size_t)w);
	s->clen += derp_tls_out(&s->t, s->cbuf + s->clen,
	    sizeof(s->cbuf) - s->clen);
	*len = s->clen;
	return s->clen ? s->cbuf : NULL;
}

static void
wire_written(struct side *s, size_t n)
{
	if (tls_ctx == NULL) {
		derp_conn_written(&s->c, n);
		return;
	}
	memmove(s->cbuf, s->cbuf + n, s->clen - n);
	s->clen -= n;
}

static void
wire_in(struct side *s, const uint8_t *p, size_t len)
{
	uint8_t plain[65536];
	ssize_t r;

	if (tls_ctx == NULL) {
		(void)derp_conn_input(&s->c, p, len);
		return;
	}
	if (derp_tls_feed(&s->t, p, len) != (ssize_t)len)
		die("TLS input");
	while ((r = derp_tls_read(&s->t, plain, sizeof(plain))) > 0)
		(void)derp_conn_input(&s->c, plain, (size_t)r);
}

/* One round of I/O on every side: write what is queued, read what came. */
static void
pump(struct side *v, int n, int timeout_ms)
{
	struct pollfd pfd[2];
	uint8_t buf[65536];

	for (int i = 0; i < n; i++) {
		size_t len;

		wire_out(&v[i], &len);
		pfd[i].fd = v[i].eof ? -1 : v[i].fd;
		pfd[i].events = POLLIN | (len ? POLLOUT : 0);
	}
	if (poll(pfd, (nfds_t)n, timeout_ms) < 0)
		die("poll");
	for (int i = 0; i < n; i++) {
		size_t len;
		const uint8_t *p = wire_out(&v[i], &len);
		ssize_t r;

		if ((pfd[i].revents & POLLOUT) && p != NULL &&
		    (r = send(v[i].fd, p, len, MSG_NOSIGNAL)) > 0)
			wire_written(&v[i], (size_t)r);
		if (pfd[i].revents & (POLLIN | POLLHUP | POLLERR)) {
			r = recv(v[i].fd, buf, sizeof(buf), 0);
			if (r <= 0)
				v[i].eof = true;
			else
				wire_in(&v[i], buf, (size_t)r);
		}
	}
}

static void
counters(const struct derp_conn *c)
{
	printf("counters rx %llu tx %llu dropped %llu pings %llu skipped %llu "
	    "failed %llu restarting %llu\n",
	    (unsigned long long)c->st.rx_packets,
	    (unsigned long long)c->st.tx_packets,
	    (unsigned long long)c->st.tx_dropped,
	    (unsigned long long)c->st.pings,
	    (unsigned long long)c->st.skipped,
	    (unsigned long long)c->st.failed,
	    (unsigned long long)c->st.restarting);
}

static void
wait_ready(struct side *v, int n)
{
	for (int t = 0; t < 1000; t++) {
		bool all = true;

		for (int i = 0; i < n; i++) {
			if (tls_ctx != NULL && v[i].t.failed) {
				printf("failed TLS %s\n", v[i].t.err);
				counters(&v[i].c);
				exit(0);
			}
			if (v[i].c.state == DERP_CONN_FAILED) {
				printf("failed %s\n", v[i].c.err);
				counters(&v[i].c);
				exit(0);
			}
			if (v[i].eof)
				die("eof before ready");
			all = all && v[i].c.state == DERP_CONN_READY;
		}
		if (all)
			return;
		pump(v, n, 10);
	}
	die("not ready");
}

static void
pair(const char *ip, int port, unsigned total)
{
	static struct side v[2];
	uint8_t pkt[1400];
	unsigned sent = 0;
	size_t len;

	open_side(&v[0], ip, port);
	open_side(&v[1], ip, port);
	wait_ready(v, 2);
	printf("ready\n");
	fflush(stdout);
	for (int idle = 0; v[1].got < total && idle < 500; ) {
		/* Keep the relay's per-client queue (32 packets) from
		 * overflowing: a window of 16 in flight. */
		while (sent < total && sent - v[1].got < 16) {
			payload(sent, pkt, &len);
			if (derp_conn_send(&v[0].c, v[1].pub, pkt, len) < 0)
				die("send");
			sent++;
		}
		unsigned before = v[1].got;

		pump(v, 2, 20);
		idle = v[1].got == before ? idle + 1 : 0;
		if (v[0].eof || v[1].eof)
			die("eof");
	}
	printf("%s %u bad %u\n", v[1].got == total && v[1].bad == 0 ? "ok" :
	    "incomplete", v[1].got, v[1].bad);
	counters(&v[0].c);
}

static void
one(const char *ip, int port)
{
	static struct side v[1];
	struct derp_conn_stats last = { 0 };

	open_side(&v[0], ip, port);
	wait_ready(v, 1);
	printf("ready ");
	for (int i = 0; i < 32; i++)
		printf("%02x", v[0].pub[i]);
	printf("\n");
	fflush(stdout);
	for (;;) {
		pump(v, 1, 50);
		if (v[0].c.st.skipped != last.skipped)
			printf("skipped %llu\n",
			    (unsigned long long)v[0].c.st.skipped);
		if (v[0].c.st.pings != last.pings)
			printf("pings %llu\n",
			    (unsigned long long)v[0].c.st.pings);
		if (v[0].c.st.restarting != last.restarting)
			printf("restarting %u %u\n", v[0].c.reconnect_in_ms,
			    v[0].c.try_for_ms);
		last = v[0].c.st;
		fflush(stdout);
		if (v[0].c.state == DERP_CONN_FAILED) {
			printf("failed %s\n", v[0].c.err);
			break;
		}
		if (v[0].eof) {
			printf("eof\n");
			break;
		}
	}
	counters(&v[0].c);
}

static struct derp_client loop_client;

static void
loop_recv(void *arg, const uint8_t src[32], const uint8_t *pkt, size_t len)
{
	(void)arg;
	(void)derp_client_send(&loop_client, src, pkt, len);
}

static int
loop_socket(void *arg, int family)
{
	int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	(void)arg;
	return fd < 0 ? -errno : fd;
}

static void
loop_tick(uv_timer_t *t)
{
	static uint64_t logins, drops;
	struct derp_client *d = &loop_client;

	(void)t;
	if (d->logins != logins) {
		printf("login %llu ", (unsigned long long)d->logins);
		for (int i = 0; i < 32; i++)
			printf("%02x", d->pub[i]);
		printf("\n");
	}
	if (d->drops != drops)
		printf("drop %s errors %llu\n", d->last_err,
		    (unsigned long long)d->server_errors);
	logins = d->logins;
	drops = d->drops;
}

static void
loop(const char *ip, int port)
{
	static const struct derp_conn_cb cb = { loop_recv, NULL };
	struct derp_target to = { 0 };
	struct sockaddr_in *s4 = (struct sockaddr_in *)&to.addr;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&to.addr;
	uint8_t pub[32], priv[32];
	uv_timer_t tick;

	if (inet_pton(AF_INET, ip, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		to.alen = sizeof(*s4);
	} else if (inet_pton(AF_INET6, ip, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		to.alen = sizeof(*s6);
	} else
		die("address");
	snprintf(to.host, sizeof(to.host), "%s",
	    tls_host != NULL ? tls_host : "derp.test");
	snprintf(to.cert_name, sizeof(to.cert_name), "%s",
	    tls_cert != NULL ? tls_cert : "");
	to.insecure = tls_insecure;
	to.plain = tls_ctx == NULL;
	crypto_box_keypair(pub, priv);
	if (derp_client_start(&loop_client, uv_default_loop(), tls_ctx, &to,
	    pub, priv, loop_socket, NULL, &cb, NULL) < 0)
		die("start");
	uv_timer_init(uv_default_loop(), &tick);
	uv_timer_start(&tick, loop_tick, 20, 20);
	uv_run(uv_default_loop(), UV_RUN_DEFAULT);
}

int
main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (sodium_init() < 0)
		die("sodium");
	if (argc > 6 && strcmp(argv[1], "--tls") == 0) {
		tls_host = argv[2];
		tls_cert = strcmp(argv[3], "-") == 0 ? NULL : argv[3];
		tls_insecure = atoi(argv[4]) != 0;
		if ((tls_ctx = derp_tls_ctx_new(strcmp(argv[5], "-") == 0 ?
		    NULL : argv[5])) == NULL)
			die("TLS context");
		argc -= 5;
		argv += 5;
	}
	if (argc == 5 && strcmp(argv[1], "pair") == 0)
		pair(argv[2], atoi(argv[3]), (unsigned)atoi(argv[4]));
	else if (argc == 4 && strcmp(argv[1], "loop") == 0)
		loop(argv[2], atoi(argv[3]));
	else if (argc == 4 && strcmp(argv[1], "one") == 0)
		one(argv[2], atoi(argv[3]));
	else
		die("usage");
	return 0;
}
