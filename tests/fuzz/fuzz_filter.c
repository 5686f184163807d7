/*
 * netd's tailnet packet filter (netd/filter.c): the first two bytes give
 * the length of a FilterUpdate as ctrld could send it (through the
 * channel's check, then filter_update()); the rest is one packet, judged
 * inbound and recorded outbound as a peer or a local program could send
 * it.  Rules and the flow table carry over between inputs.
 */
#include <stddef.h>
#include <stdint.h>

#include "check.h"
#include "filter.h"
#include "ctrld_to_netd.pb-c.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct filter f;

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	Pm__FilterUpdate *u;
	size_t n;

	if (size < 2)
		return 0;
	n = (size_t)(data[0] << 8 | data[1]);
	data += 2;
	size -= 2;
	if (n > size)
		n = size;
	if (n > 0 && (u = pm__filter_update__unpack(NULL, n, data)) != NULL) {
		if (check_filter_update(NULL, &u->base) == 0)
			(void)filter_update(&f, u);
		pm__filter_update__free_unpacked(u, NULL);
	}
	(void)filter_in(&f, data + n, size - n);
	filter_out(&f, data + n, size - n);
	(void)filter_in(&f, data + n, size - n);
	return 0;
}
