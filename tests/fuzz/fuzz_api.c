/* ctrld's local API request parser (input from any local user). */
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "api.h"
#include "prefs.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct api_request req;
	struct prefs p;
	json_t *root, *prefs;
	char err[128];

	if (api_parse_request((const char *)data, size, &req, err,
	    sizeof(err)) == 0 && (unsigned)req.op >= API_OP_MAX)
		__builtin_trap();
	{
		char node[256];
		long ms;

		if (api_parse_ping((const char *)data, size, node, sizeof(node),
		    &ms, err, sizeof(err)) == 0 && (ms < 1 || ms > 60000 ||
		    node[0] == '\0'))
			__builtin_trap();
	}
	/* `up`/`set` arguments: the prefs object, as control.c reads it. */
	root = json_loadb((const char *)data, size, 0, NULL);
	prefs = json_object_get(root, "prefs");
	if (json_is_object(prefs)) {
		prefs_default(&p);
		(void)prefs_from_json(&p, prefs, err, sizeof(err));
		json_decref(prefs_to_json(&p));
		prefs_free(&p);
	}
	json_decref(root);
	return 0;
}
