/*
 * The map response stream: [LE32 n][zstd or raw JSON] messages (byte 0
 * picks zstd) applied to one netmap in order, as ctrld does; every
 * applied map must keep its invariants (sorted, bounded peers).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "mapstream.h"
#include "netmap.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
apply(void *arg, const char *json, size_t len)
{
	struct netmap *nm = arg;
	char err[256];

	(void)netmap_apply(nm, json, len, !nm->have_self, err, sizeof(err));
	if (nm->npeers > NM_MAX_PEERS)
		__builtin_trap();
	for (size_t i = 1; i < nm->npeers; i++)
		if (nm->peers[i - 1].id >= nm->peers[i].id)
			__builtin_trap();
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mapstream ms;
	struct netmap nm;
	char err[256];

	if (size == 0)
		return 0;
	netmap_init(&nm);
	if (mapstream_init(&ms, data[0] & 1) == 0) {
		(void)mapstream_feed(&ms, data + 1, size - 1, apply, &nm, err,
		    sizeof(err));
		mapstream_free(&ms);
	}
	netmap_free(&nm);
	return 0;
}
