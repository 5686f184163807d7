/* The wg-quick config parser netd runs on the file privd hands it. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "wgconf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct wg_config *c;
	char err[256];

	if (wg_config_parse((const char *)data, size, &c, err,
	    sizeof(err)) == 0) {
		/* A parsed config honours its own bounds. */
		if (c->n_peers > WG_CONFIG_MAX_PEERS ||
		    c->n_addresses > WG_CONFIG_MAX_ADDRESSES ||
		    c->n_dns > WG_CONFIG_MAX_DNS ||
		    c->n_search > WG_CONFIG_MAX_DNS || !c->has_private_key)
			__builtin_trap();
		wg_config_free(c);
	} else if (c != NULL || memchr(err, '\0', sizeof(err)) == NULL) {
		__builtin_trap();
	}
	return 0;
}
