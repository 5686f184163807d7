/*
 * netd's DERP map (netd/derpmap.c): the bytes are one DerpMapUpdate as
 * ctrld (a sandboxed peer, not trusted with netd's memory) could send it.
 * What passes the channel check goes to derpmap_update(); parts of a
 * generation carry over between inputs.  A committed map has its regions
 * sorted and unique, every node with a host name and a DERP port.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "check.h"
#include "derpmap.h"
#include "ctrld_to_netd.pb-c.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct derpmap dm;

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	Pm__DerpMapUpdate *u;

	if (size > 4096)
		return 0;
	u = pm__derp_map_update__unpack(NULL, size, data);
	if (u == NULL)
		return 0;
	if (check_derp_map_update(NULL, &u->base) == 0 &&
	    derpmap_update(&dm, u) == 1)
		for (size_t i = 0; i < dm.nregions; i++) {
			if (i > 0 && dm.regions[i - 1].id >= dm.regions[i].id)
				__builtin_trap();
			for (size_t j = 0; j < dm.regions[i].nnodes; j++)
				if (dm.regions[i].nodes[j].host[0] == '\0' ||
				    dm.regions[i].nodes[j].derp_port == 0)
					__builtin_trap();
		}
	pm__derp_map_update__free_unpacked(u, NULL);
	return 0;
}
