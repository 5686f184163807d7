/*
 * A minimal client made only of netd's codecs, for the integration test
 * that checks them against the independent Python DERP/STUN server
 * (tests/integration/test_derp_codec.py).  Not part of netd.
 *
 *	codec_probe stun IP PORT	one Binding Request, prints the mapping
 *	codec_probe derp IP PORT	plain-HTTP DERP login, a packet to itself
 *					and a ping; then prints every frame
 *					the server sends (answering pings)
 *					until a Restarting frame
 *	codec_probe derp IP PORT PEER	the same, and first a disco Ping sealed
 *					to disco key PEER (hex), sent to node key
 *					PEER; received disco packets are opened
 *	codec_probe derp-listen IP PORT	login only (no NotePreferred), then
 *					prints the server's frames
 */
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sodium.h>

#include "derp_frame.h"
#include "disco.h"
#include "stun.h"

static void __attribute__((noreturn))
die(const char *what)
{
	printf("error %s\n", what);
	fflush(stdout);
	exit(1);
}

static void
hex(const uint8_t *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		printf("%02x", b[i]);
}

static int
connect_to(const char *ip, const char *port, int type,
    struct sockaddr_storage *ss, socklen_t *sslen)
{
	struct addrinfo hints = { .ai_socktype = type,
	    .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV }, *ai;
	int fd;

	if (getaddrinfo(ip, port, &hints, &ai) != 0)
		die("address");
	fd = socket(ai->ai_family, type, 0);
	if (fd < 0 || connect(fd, ai->ai_addr, ai->ai_addrlen) < 0)
		die("connect");
	memcpy(ss, ai->ai_addr, ai->ai_addrlen);
	*sslen = ai->ai_addrlen;
	freeaddrinfo(ai);
	return fd;
}

static int
do_stun(const char *ip, const char *port)
{
	struct sockaddr_storage ss, local;
	socklen_t sslen, llen = sizeof(local);
	uint8_t req[STUN_REQUEST_LEN], txid[STUN_TXID_LEN], resp[1500];
	struct pollfd pfd;
	struct ipport mapped, me;
	char buf[IPPORT_STRLEN], buf2[IPPORT_STRLEN];
	enum stun_err e;
	ssize_t n;
	int fd = connect_to(ip, port, SOCK_DGRAM, &ss, &sslen);

	stun_new_txid(txid);
	stun_build_request(req, txid);
	if (send(fd, req, sizeof(req), 0) != (ssize_t)sizeof(req))
		die("send");
	pfd = (struct pollfd){ .fd = fd, .events = POLLIN };
	if (poll(&pfd, 1, 5000) != 1 || (n = recv(fd, resp, sizeof(resp), 0)) < 0)
		die("no STUN answer");
	if ((e = stun_parse_response(resp, (size_t)n, txid, NULL, &mapped)) !=
	    STUN_OK)
		die(stun_strerror(e));
	getsockname(fd, (struct sockaddr *)&local, &llen);
	ipport_from_sockaddr(&me, (struct sockaddr *)&local, llen);
	printf("txid ");
	hex(txid, sizeof(txid));
	printf("\nmapped %s local %s\n", ipport_str(&mapped, buf),
	    ipport_str(&me, buf2));
	return 0;
}

struct conn {
	int			fd;
	struct derp_reader	r;
	uint8_t			in[7];	/* small on purpose: frames arrive split */
	const uint8_t		*p;
	size_t			left;
};

static void
next_frame(struct conn *c, struct derp_frame *f)
{
	ssize_t n;

	for (;;) {
		switch (derp_reader_next(&c->r, &c->p, &c->left, f)) {
		case DERP_READ_FRAME:
			return;
		case DERP_READ_ERROR:
			die("frame too large");
		case DERP_READ_MORE:
			break;
		}
		if ((n = recv(c->fd, c->in, sizeof(c->in), 0)) <= 0)
			die("connection closed");
		c->p = c->in;
		c->left = (size_t)n;
	}
}

static void
send_all(int fd, const uint8_t *b, ssize_t n)
{
	if (n < 0 || send(fd, b, (size_t)n, MSG_NOSIGNAL) != n)
		die("send frame");
}

static void
http_upgrade(int fd)
{
	static const char req[] = "GET /derp HTTP/1.1\r\nHost: derp.test\r\n"
	    "Upgrade: DERP\r\nConnection: Upgrade\r\n\r\n";
	char resp[2048];
	size_t n = 0;

	send_all(fd, (const uint8_t *)req, sizeof(req) - 1);
	/* Byte by byte, so no DERP frame bytes are read with the headers. */
	while (n < sizeof(resp) - 1 &&
	    (n < 4 || memcmp(resp + n - 4, "\r\n\r\n", 4) != 0)) {
		if (recv(fd, resp + n, 1, 0) != 1)
			die("HTTP response");
		n++;
	}
	resp[n] = '\0';
	if (strncmp(resp, "HTTP/1.1 101", 12) != 0)
		die("no 101");
}

static void
login(struct conn *c, const uint8_t pub[32], const uint8_t priv[32],
    bool home)
{
	struct derp_client_info ci = { .can_ack_pings = true };
	struct derp_server_info si;
	struct derp_frame f;
	uint8_t spub[32], out[512];

	next_frame(c, &f);
	if (f.type != DERP_FRAME_SERVER_KEY ||
	    derp_parse_server_key(f.payload, f.len, spub) != 0)
		die("server key");
	printf("server_key ");
	hex(spub, 32);
	printf("\n");
	send_all(c->fd, out, derp_build_client_info(out, sizeof(out), pub,
	    priv, spub, &ci));
	next_frame(c, &f);
	if (f.type != DERP_FRAME_SERVER_INFO ||
	    derp_open_server_info(f.payload, f.len, priv, spub, &si) != 0)
		die("server info");
	printf("server_info version %lld\n", (long long)si.version);
	if (home)
		send_all(c->fd, out, derp_build_note_preferred(out,
		    sizeof(out), true));
}

/* A packet to ourselves comes back as RecvPacket; a Ping as a Pong. */
static void
self_test(struct conn *c, const uint8_t pub[32])
{
	static const uint8_t msg[] = "codec probe packet";
	uint8_t out[256], ping[8], got[8];
	const uint8_t *src, *data;
	struct derp_frame f;
	size_t dlen;
	bool have_pkt = false, have_pong = false;

	randombytes_buf(ping, sizeof(ping));
	send_all(c->fd, out, derp_build_send_packet(out, sizeof(out), pub, msg,
	    sizeof(msg)));
	send_all(c->fd, out, derp_build_ping(out, sizeof(out), DERP_FRAME_PING,
	    ping));
	while (!have_pkt || !have_pong) {
		next_frame(c, &f);
		if (f.type == DERP_FRAME_RECV_PACKET) {
			if (derp_parse_packet(f.payload, f.len, &src, &data,
			    &dlen) != 0 || memcmp(src, pub, 32) != 0 ||
			    dlen != sizeof(msg) || memcmp(data, msg, dlen) != 0)
				die("recv packet");
			have_pkt = true;
		} else if (f.type == DERP_FRAME_PONG) {
			if (derp_parse_ping(f.payload, f.len, got) != 0 ||
			    memcmp(got, ping, 8) != 0)
				die("pong");
			have_pong = true;
		}
	}
	printf("self_packet ok\npong ok\n");
}

static uint8_t disco_pub[32], disco_priv[32];

static void
parse_hex32(const char *h, uint8_t out[32])
{
	if (strlen(h) != 64 || sodium_hex2bin(out, 32, h, 64, NULL, NULL,
	    NULL) != 0)
		die("bad key");
}

/* A disco Ping (with our node key) to a peer's disco key, over DERP. */
static void
send_disco_ping(struct conn *c, const uint8_t node_pub[32],
    const char *peer_hex)
{
	struct disco_msg m = { .type = DISCO_PING };
	uint8_t peer[32], shared[32], inner[64], pkt[256], out[512];
	ssize_t il, n;

	parse_hex32(peer_hex, peer);
	crypto_box_keypair(disco_pub, disco_priv);
	randombytes_buf(m.ping.txid, sizeof(m.ping.txid));
	m.ping.has_node_key = true;
	memcpy(m.ping.node_key, node_pub, 32);
	if (disco_shared_key(shared, peer, disco_priv) != 0 ||
	    (il = disco_marshal(&m, inner, sizeof(inner))) < 0 ||
	    (n = disco_seal(pkt, sizeof(pkt), disco_pub, shared, inner,
	    (size_t)il)) < 0)
		die("disco seal");
	send_all(c->fd, out, derp_build_send_packet(out, sizeof(out), peer,
	    pkt, (size_t)n));
	printf("disco_key ");
	hex(disco_pub, 32);
	printf("\ndisco_ping ");
	hex(m.ping.txid, sizeof(m.ping.txid));
	printf("\n");
}

/* The sender's key is in the packet; netd would first look it up. */
static void
report_disco(const uint8_t *pkt, size_t len)
{
	uint8_t shared[32], inner[256];
	struct disco_msg m;
	char buf[IPPORT_STRLEN];
	ssize_t n;

	if (disco_shared_key(shared, disco_sender(pkt, len), disco_priv) != 0 ||
	    (n = disco_open(pkt, len, shared, inner, sizeof(inner))) < 0 ||
	    disco_parse(inner, (size_t)n, &m) != 0) {
		printf("disco bad\n");
		return;
	}
	if (m.type == DISCO_PONG) {
		printf("disco pong ");
		hex(m.pong.txid, sizeof(m.pong.txid));
		printf(" %s\n", ipport_str(&m.pong.src, buf));
	} else {
		printf("disco type %d\n", m.type);
	}
}

/* Reports one server frame; returns 0 after Restarting. */
static int
report(struct conn *c, const struct derp_frame *f)
{
	uint8_t key[32], data[8], out[32], reason;
	const uint8_t *src, *pkt;
	uint32_t a, b;
	size_t n;
	char text[256];

	switch (f->type) {
	case DERP_FRAME_HEALTH:
		derp_parse_health(f->payload, f->len, text, sizeof(text));
		printf("health \"%s\"\n", text);
		break;
	case DERP_FRAME_PING:
		if (derp_parse_ping(f->payload, f->len, data) != 0)
			die("ping");
		send_all(c->fd, out, derp_build_ping(out, sizeof(out),
		    DERP_FRAME_PONG, data));
		printf("ping ");
		hex(data, 8);
		printf("\n");
		break;
	case DERP_FRAME_KEEP_ALIVE:
		printf("keepalive\n");
		break;
	case DERP_FRAME_RECV_PACKET:
		if (derp_parse_packet(f->payload, f->len, &src, &pkt, &n) != 0)
			printf("bad %s\n", derp_frame_type_name(f->type));
		else if (disco_looks_like_wrapper(pkt, n))
			report_disco(pkt, n);
		else
			printf("recv %zu\n", n);
		break;
	case DERP_FRAME_PEER_GONE:
		if (derp_parse_peer_gone(f->payload, f->len, key, &reason))
			printf("bad %s\n", derp_frame_type_name(f->type));
		else
			printf("peer_gone %u\n", reason);
		break;
	case DERP_FRAME_RESTARTING:
		if (derp_parse_restarting(f->payload, f->len, &a, &b) != 0)
			die("restarting");
		printf("restarting %u %u\n", a, b);
		return 0;
	default:
		printf("frame %s 0x%02x len %u\n",
		    derp_frame_type_name(f->type), f->type, f->len);
		break;
	}
	return 1;
}

static int
do_derp(const char *ip, const char *port, bool listen_only,
    const char *disco_peer)
{
	struct sockaddr_storage ss;
	socklen_t sslen;
	struct conn c = { 0 };
	struct derp_frame f;
	uint8_t pub[32], priv[32];

	crypto_box_keypair(pub, priv);
	c.fd = connect_to(ip, port, SOCK_STREAM, &ss, &sslen);
	derp_reader_init(&c.r, DERP_MAX_FRAME_SIZE);
	http_upgrade(c.fd);
	/* Listen-only sends nothing after login, racing no server close. */
	login(&c, pub, priv, !listen_only);
	if (!listen_only)
		self_test(&c, pub);
	if (disco_peer != NULL)
		send_disco_ping(&c, pub, disco_peer);
	printf("ready ");
	hex(pub, 32);
	printf("\n");
	fflush(stdout);
	do {
		next_frame(&c, &f);
	} while (report(&c, &f) && fflush(stdout) == 0);
	derp_reader_free(&c.r);
	close(c.fd);
	return 0;
}

int
main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (sodium_init() < 0 || argc < 4 || argc > 5)
		die("usage: codec_probe stun|derp|derp-listen IP PORT [PEER]");
	if (strcmp(argv[1], "stun") == 0 && argc == 4)
		return do_stun(argv[2], argv[3]);
	if (strcmp(argv[1], "derp") == 0)
		return do_derp(argv[2], argv[3], false, argv[4]);
	if (strcmp(argv[1], "derp-listen") == 0 && argc == 4)
		return do_derp(argv[2], argv[3], true, NULL);
	die("usage: codec_probe stun|derp|derp-listen IP PORT [PEER]");
}
