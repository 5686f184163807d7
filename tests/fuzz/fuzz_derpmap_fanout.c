/*
 * ctrld's DERPMap fan-out (ctrld/fanout_derp.c): the bytes are MapResponse
 * JSON messages from the control server, separated by NUL, applied to one
 * netmap in order; after each, the DerpMapUpdate built from the merged
 * DERPMap must pass netd's channel check (what ctrld sends, netd accepts)
 * and fit the channel once split into parts, and netd's copy
 * (netd/derpmap.c) must take it with regions sorted and unique.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "derpmap.h"
#include "fanout.h"
#include "netmap.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_build(const struct netmap *nm, struct derpmap *dm, uint64_t gen)
{
	struct derp_build b;

	if (fanout_derp_build(nm, &b) < 0)
		return;
	if (check_derp_map_update(NULL, &b.u.base) != 0)
		__builtin_trap();
	for (size_t i = 0; i < b.u.n_regions; i++)
		if (pm__derp_region__get_packed_size(b.u.regions[i]) > 3072 ||
		    (i > 0 && b.u.regions[i - 1]->region_id >=
		    b.u.regions[i]->region_id))
			__builtin_trap();
	b.u.generation = gen;
	if (derpmap_update(dm, &b.u) == 1)
		for (size_t i = 1; i < dm->nregions; i++)
			if (dm->regions[i - 1].id >= dm->regions[i].id)
				__builtin_trap();
	fanout_derp_build_free(&b);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct netmap nm;
	struct derpmap dm = { 0 };
	char err[256];
	const uint8_t *p = data, *end = data + size, *nul;
	uint64_t gen = 0;

	if (size > 1 << 20)
		return 0;
	netmap_init(&nm);
	while (p < end) {
		nul = memchr(p, 0, (size_t)(end - p));
		if (nul == NULL)
			nul = end;
		if (netmap_apply(&nm, (const char *)p, (size_t)(nul - p),
		    false, err, sizeof(err)) == NM_APPLIED)
			check_build(&nm, &dm, ++gen);
		p = nul + 1;
	}
	derpmap_free(&dm);
	netmap_free(&nm);
	return 0;
}
