/* ctrld's local API request parser (input from any local user). */
#include <stddef.h>
#include <stdint.h>

#include "api.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct api_request req;
	char err[128];

	if (api_parse_request((const char *)data, size, &req, err,
	    sizeof(err)) == 0 && (unsigned)req.op >= API_OP_MAX)
		__builtin_trap();
	return 0;
}
