/* The HTTPS latency check's status-line parser on arbitrary bytes. */
#include <stddef.h>
#include <stdint.h>

#include "derp_probe.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int status = -1;
	ssize_t n = derp_probe_status(data, size, &status);

	/* A line is within what was given and the limit, with a status. */
	if (n > 0 && ((size_t)n > size || n > DERP_PROBE_LINE_MAX ||
	    status < 100 || status > 999))
		__builtin_trap();
	return 0;
}
