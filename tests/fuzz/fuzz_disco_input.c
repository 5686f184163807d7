/*
 * netd's disco input path (netd/disco_peer.c) as a peer or anyone on the
 * network drives it: one tailnet peer with a known disco key is set up
 * through peers_ctrld_update(); each input's first byte chooses how the
 * rest arrives:
 *   0: a raw datagram on the UDP socket (demux, then disco or WireGuard)
 *   1: a raw packet relayed by DERP from the peer's node key
 *   2: an inner message sealed by the peer's disco key, over UDP
 *   3: the same, through DERP (CallMeMaybe is accepted only here)
 * so that the boxes open and Ping/Pong/CallMeMaybe handling runs on
 * arbitrary bodies.  Nothing is sent (no socket, no DERP connection).
 */
#include <arpa/inet.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "disco.h"
#include "disco_peer.h"
#include "netd.h"
#include "ctrld_to_netd.pb-c.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct netd nd;
static char dir[] = "/tmp/fuzz_disco_input.XXXXXX";
static uint8_t node_key[32], disco_priv[32], disco_pub[32], shared[32];

static void
cleanup(void)
{
	(void)unlink("nodekeys");
	(void)rmdir(dir);
}

static void
setup(void)
{
	Pm__PeerUpdate u = PM__PEER_UPDATE__INIT;
	Pm__TailnetPeer tp = PM__TAILNET_PEER__INIT, *tpp = &tp;
	char *aips[] = { "100.64.0.2/32" };
	char *eps[] = { "192.0.2.12:41641", "[2001:db8::12]:41641" };

	if (mkdtemp(dir) == NULL || chdir(dir) != 0)
		abort();
	atexit(cleanup);
	nd.c.loop = uv_default_loop();
	nd.tun_fd = nd.wg.udp_fd = -1;
	memset(node_key, 0x42, sizeof(node_key));
	crypto_box_keypair(disco_pub, disco_priv);
	tp.node_key.data = node_key;
	tp.node_key.len = 32;
	tp.disco_key.data = disco_pub;
	tp.disco_key.len = 32;
	tp.allowed_ips = aips;
	tp.n_allowed_ips = 1;
	tp.endpoints = eps;
	tp.n_endpoints = 2;
	tp.home_derp = 900;
	u.generation = 1;
	u.upsert = &tpp;
	u.n_upsert = 1;
	peers_ctrld_update(&nd, &u);
	if (!nd.wg.on || nd.wg.dev.npeers != 1 ||
	    disco_shared_key(shared, netd_disco_public(), disco_priv) < 0)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t pkt[4096];
	struct sockaddr_in src = { .sin_family = AF_INET,
	    .sin_port = htons(41641) };
	ssize_t n;

	if (nd.c.loop == NULL)
		setup();
	if (size < 1 || size > 2048)
		return 0;
	src.sin_addr.s_addr = htonl(0xc000020c);	/* 192.0.2.12 */
	switch (data[0] & 3) {
	case 0:
		disco_input(&nd, data + 1, size - 1,
		    (const struct sockaddr *)&src, sizeof(src), NULL, 0);
		break;
	case 1:
		wg_io_from_derp(&nd, 900, node_key, data + 1, size - 1);
		break;
	default:
		n = disco_seal(pkt, sizeof(pkt), disco_pub, shared, data + 1,
		    size - 1);
		if (n < 0)
			break;
		if ((data[0] & 3) == 2)
			disco_input(&nd, pkt, (size_t)n,
			    (const struct sockaddr *)&src, sizeof(src), NULL,
			    0);
		else
			wg_io_from_derp(&nd, 900, node_key, pkt, (size_t)n);
		break;
	}
	return 0;
}
