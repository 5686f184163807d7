/* The --dns-config JSON file dnsd parses (dnsd/dnsconf.c). */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "dnsconf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct zone z;
	char err[512];
	struct dns_name nm;

	zone_init(&z);
	memset(err, 'x', sizeof(err));
	if (dnsconf_parse((const char *)data, size, &z, err, sizeof(err)) == 0) {
		/* Lookups on what was built stay in bounds. */
		for (size_t i = 0; i < z.nhosts; i++)
			if (zone_host(&z, &z.hosts[i].name) == NULL)
				__builtin_trap();
		if (dns_name_from_text("x.tail.example", &nm) == 0)
			(void)zone_route(&z, &nm);
	} else if (memchr(err, '\0', sizeof(err)) == NULL)
		__builtin_trap();
	zone_free(&z);
	return 0;
}
