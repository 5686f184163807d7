/*
 * wg_handshake_bench: WireGuard handshakes per second on one core, through
 * the same entry points netd uses (netd/wg, no sockets).
 *
 * Two in-memory devices, each the other's only peer.  One handshake is
 *
 *	initiator  wg_send_initiation()                    create + MAC1
 *	responder  wg_device_receive(initiation)           MAC1, consume,
 *	                                                   create response,
 *	                                                   begin_session
 *	initiator  wg_device_receive(response)             MAC1, consume,
 *	                                                   begin_session
 *
 * run back to back on one thread for about `seconds` (default 3).  The
 * clock is simulated (REKEY_TIMEOUT + 1 s per handshake), so neither the
 * REKEY_TIMEOUT rate limit nor the initiation flood check gets in the way,
 * and every initiation's timestamp is newer than the last.
 *
 * Prints full handshakes/s (both sides' work on one core), the time each
 * side spends, and from the responder's share alone the handshakes/s one
 * core can answer: the number that matters for a server, or under a flood
 * of valid initiations.
 *
 *	usage: wg_handshake_bench [seconds]
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "aead.h"
#include "peer.h"

#define NS		UINT64_C(1000000000)
#define REAL(mono)	(UINT64_C(1700000000) * NS + (mono))
/* Simulated time per handshake: past REKEY_TIMEOUT, so every initiation
 * may be sent. */
#define STEP		((WG_REKEY_TIMEOUT + 1) * NS)

struct node {
	struct wg_device	 dev;
	struct wg_peer		*peer;
	struct sockaddr_in	 addr;
};

static uint64_t
clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * NS + (uint64_t)ts.tv_nsec;
}

static int
node_init(struct node *n, uint16_t port)
{
	uint8_t priv[WG_KEY_LEN];
	int r;

	randombytes_buf(priv, sizeof(priv));
	r = wg_device_init(&n->dev, priv);
	sodium_memzero(priv, sizeof(priv));
	n->addr.sin_family = AF_INET;
	n->addr.sin_port = htons(port);
	n->addr.sin_addr.s_addr = htonl(0xc6336400 | (port & 0xff));
	return r;
}

/* One handshake; adds each side's nanoseconds.  0 or a negative errno. */
static int
handshake(struct node *init, struct node *resp, uint64_t now,
    uint64_t *init_ns, uint64_t *resp_ns)
{
	struct wg_msg_initiation msg;
	uint8_t reply[WG_REPLY_MAX], reply2[WG_REPLY_MAX];
	struct wg_rx rx;
	uint64_t t0, t1, t2, t3;
	int r;

	t0 = clock_ns(CLOCK_MONOTONIC);
	if ((r = wg_send_initiation(init->peer, &msg, now, REAL(now))) < 0)
		return r;
	t1 = clock_ns(CLOCK_MONOTONIC);
	r = wg_device_receive(&resp->dev, (uint8_t *)&msg, sizeof(msg),
	    (const struct sockaddr *)&init->addr, sizeof(init->addr), false,
	    now, REAL(now), reply, &rx);
	if (r < 0)
		return r;
	if (rx.reply_len != WG_MSG_RESPONSE_LEN)
		return -EPROTO;
	t2 = clock_ns(CLOCK_MONOTONIC);
	r = wg_device_receive(&init->dev, reply, rx.reply_len,
	    (const struct sockaddr *)&resp->addr, sizeof(resp->addr), false,
	    now, REAL(now), reply2, &rx);
	if (r < 0)
		return r;
	if (init->peer->keypairs.current == NULL)
		return -EPROTO;
	t3 = clock_ns(CLOCK_MONOTONIC);
	*init_ns += (t1 - t0) + (t3 - t2);
	*resp_ns += t2 - t1;
	return 0;
}

int
main(int argc, char **argv)
{
	static struct node a, b;	/* big: the index and peer tables */
	double secs = argc > 1 ? atof(argv[1]) : 3.0;
	uint64_t n = 0, now = 1000 * NS, init_ns = 0, resp_ns = 0;
	uint64_t w0, c0, wall, cpu;
	int r;

	if (secs <= 0) {
		fprintf(stderr, "usage: %s [seconds]\n", argv[0]);
		return 2;
	}
	if (aead_global_init() < 0 || node_init(&a, 51820) < 0 ||
	    node_init(&b, 51821) < 0 ||
	    wg_peer_add(&a.dev, b.dev.static_public, NULL, &a.peer) < 0 ||
	    wg_peer_add(&b.dev, a.dev.static_public, NULL, &b.peer) < 0) {
		fprintf(stderr, "wg_handshake_bench: setup failed\n");
		return 1;
	}
	/* Warm-up, outside the timed part. */
	for (int i = 0; i < 50; i++, now += STEP)
		if ((r = handshake(&a, &b, now, &init_ns, &resp_ns)) < 0)
			goto fail;
	init_ns = resp_ns = 0;

	w0 = clock_ns(CLOCK_MONOTONIC);
	c0 = clock_ns(CLOCK_PROCESS_CPUTIME_ID);
	do {
		for (int i = 0; i < 64; i++, n++, now += STEP)
			if ((r = handshake(&a, &b, now, &init_ns, &resp_ns)) < 0)
				goto fail;
		wall = clock_ns(CLOCK_MONOTONIC) - w0;
	} while (wall < (uint64_t)(secs * 1e9));
	cpu = clock_ns(CLOCK_PROCESS_CPUTIME_ID) - c0;

	printf("handshakes:            %llu in %.2f s wall, %.2f s CPU "
	    "(1 thread)\n", (unsigned long long)n, (double)wall / 1e9,
	    (double)cpu / 1e9);
	printf("full handshakes/s:     %.0f per core (initiator + responder "
	    "work)\n", (double)n / ((double)cpu / 1e9));
	printf("  initiator:           %.1f us per handshake "
	    "(create initiation, consume response, begin session)\n",
	    (double)init_ns / (double)n / 1e3);
	printf("  responder:           %.1f us per handshake "
	    "(consume initiation, create response, begin session)\n",
	    (double)resp_ns / (double)n / 1e3);
	printf("responder handshakes/s: %.0f per core\n",
	    (double)n / ((double)resp_ns / 1e9));
	wg_device_destroy(&a.dev);
	wg_device_destroy(&b.dev);
	return 0;
fail:
	fprintf(stderr, "wg_handshake_bench: handshake %llu failed: %s\n",
	    (unsigned long long)n, strerror(-r));
	return 1;
}
