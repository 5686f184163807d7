/*
 * netcheck's input path: STUN answers from the network, parsed as
 * netcheck_stun_input() does, feed a report (netd/netcheck_report.c); a
 * marker ends the report and runs the home choice over the history.
 * Records: [kind][region][latency ms, 2][len, 2][bytes], kind 0: an
 * answer, 1: end of report (time advances by `latency` seconds).
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "netcheck.h"
#include "stun.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check(const struct nc_report *r, uint32_t prev)
{
	struct ipport out[4];
	bool found = r->preferred == 0 || r->preferred == prev;

	for (size_t i = 0; i < r->nlat; i++) {
		if (i > 0 && r->lat[i - 1].region >= r->lat[i].region)
			__builtin_trap();	/* ascending, unique */
		found |= r->lat[i].region == r->preferred;
	}
	if (!found || nc_global_addrs(r, false, out, 4) > 4 ||
	    nc_global_addrs(r, true, out, 4) > 4 ||
	    (r->varies == NC_TRUE && r->nseen4 < 2))
		__builtin_trap();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct nc_history h = { 0 };
	struct nc_derp_activity act = { UINT64_MAX, 1000000000ull };
	struct nc_report r;
	uint64_t now = 1;
	size_t off = 0;

	nc_report_init(&r);
	while (off + 6 <= size) {
		uint8_t kind = data[off], region = data[off + 1];
		uint16_t ms = (uint16_t)(data[off + 2] << 8 | data[off + 3]);
		size_t len = (size_t)(data[off + 4] << 8 | data[off + 5]);
		uint8_t txid[STUN_TXID_LEN];
		struct ipport mapped;
		uint32_t prev = h.last_preferred;

		off += 6;
		if (len > size - off)
			len = size - off;
		if (kind & 1) {
			now += (uint64_t)ms * 1000000000ull;
			r.at_ns = now;
			act.prev_heard_ago = (kind & 2) ? 0 : UINT64_MAX;
			nc_choose_home(&h, &r, &act, NULL, NULL);
			check(&r, prev);
			if (h.n > NC_HIST_MAX)
				__builtin_trap();
			nc_report_free(&r);
		} else if (stun_parse_response(data + off, len, NULL, txid,
		    &mapped) == STUN_OK && region != 0)
			(void)nc_add_latency(&r, region, &mapped,
			    (uint64_t)ms * 1000000ull);
		off += len;
	}
	nc_report_free(&r);
	nc_history_free(&h);
	return 0;
}
