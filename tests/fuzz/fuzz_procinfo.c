/* The /proc/<pid>/status parser privd uses on its children. */
#include <stddef.h>
#include <stdint.h>

#include "procinfo.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct procinfo pi;

	(void)procinfo_parse((const char *)data, size, &pi);
	return 0;
}
