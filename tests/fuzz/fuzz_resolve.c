/* DNS answers to ctrld's lookups of the login server's name. */
#include <arpa/nameser.h>
#include <stddef.h>
#include <stdint.h>

#include "resolve.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t addr[16];
	uint16_t id;

	if (size < 2 || size > 65535)
		return 0;
	/* The id the answer claims, so the parser gets past the id check. */
	id = (uint16_t)(data[0] << 8 | data[1]);
	(void)resolve_parse(data, (int)size, id, ns_t_a, addr);
	(void)resolve_parse(data, (int)size, id, ns_t_aaaa, addr);
	return 0;
}
