#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "keys.h"

int
key_parse(const char *s, const char *prefix, uint8_t out[32])
{
	size_t pl = strlen(prefix);

	if (strncmp(s, prefix, pl) != 0 || strlen(s + pl) != 64)
		return -1;
	return sodium_hex2bin(out, 32, s + pl, 64, NULL, NULL, NULL);
}

char *
key_format(char *out, const char *prefix, const uint8_t key[32])
{
	size_t pl = strlen(prefix);

	memcpy(out, prefix, pl);
	sodium_bin2hex(out + pl, 65, key, 32);
	return out;
}
