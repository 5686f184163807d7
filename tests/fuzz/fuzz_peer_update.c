/*
 * netd's side of the fan-out (netd/peers_ctrld.c): the bytes are one
 * PeerUpdate as ctrld (a sandboxed peer, not trusted with netd's memory)
 * could send it.  Messages that pass the channel's decoder and check go to
 * peers_ctrld_update(), which parses prefixes and endpoints and applies
 * the transaction to a real WireGuard device.  Parts of a generation carry
 * over between inputs; every 64 inputs a reset commit empties the set.
 * The node key file is written in a temporary directory.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "check.h"
#include "netd.h"
#include "ctrld_to_netd.pb-c.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct netd nd;
static char dir[] = "/tmp/fuzz_peer_update.XXXXXX";

static void
cleanup(void)
{
	(void)unlink("nodekeys");
	(void)rmdir(dir);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static unsigned n;
	Pm__PeerUpdate *u;

	if (nd.c.loop == NULL) {
		if (mkdtemp(dir) == NULL || chdir(dir) != 0)
			abort();
		atexit(cleanup);
		nd.c.loop = uv_default_loop();
		nd.tun_fd = nd.wg.udp_fd = -1;
	}
	if (size > 4096)
		return 0;
	u = pm__peer_update__unpack(NULL, size, data);
	if (u == NULL)
		return 0;
	if (check_peer_update(NULL, &u->base) == 0)
		peers_ctrld_update(&nd, u);
	pm__peer_update__free_unpacked(u, NULL);
	if (++n % 64 == 0) {
		Pm__PeerUpdate reset = PM__PEER_UPDATE__INIT;

		reset.generation = n;
		reset.reset = true;
		peers_ctrld_update(&nd, &reset);
		if (nd.wg.on && nd.wg.dev.npeers != 0)
			__builtin_trap();
	}
	return 0;
}
