#include <stdio.h>
#include <string.h>

#include "keys.h"

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int
key_parse(const char *s, const char *prefix, uint8_t out[32])
{
	size_t pl = strlen(prefix);

	if (strncmp(s, prefix, pl) != 0 || strlen(s + pl) != 64)
		return -1;
	s += pl;
	for (int i = 0; i < 32; i++) {
		int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return -1;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

char *
key_format(char *out, const char *prefix, const uint8_t key[32])
{
	static const char hex[] = "0123456789abcdef";
	size_t pl = strlen(prefix);

	memcpy(out, prefix, pl);
	for (int i = 0; i < 32; i++) {
		out[pl + 2 * i] = hex[key[i] >> 4];
		out[pl + 2 * i + 1] = hex[key[i] & 15];
	}
	out[pl + 64] = '\0';
	return out;
}
