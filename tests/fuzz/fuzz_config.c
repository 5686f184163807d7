/* privd's config file parser. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
check_pair(const char *key, const char *value, void *arg)
{
	(void)arg;
	/* Keys and values arrive trimmed, non-empty, comment-free. */
	if (*key == '\0' || *value == '\0' || strchr(key, '#') ||
	    strchr(value, '#'))
		__builtin_trap();
	return strcmp(key, "bad") == 0 ? -1 : 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[256];

	(void)config_parse((const char *)data, size, check_pair, NULL, err,
	    sizeof(err));
	return 0;
}
