/* Tailscale's text form of keys: "<prefix><64 lowercase hex>". */
#ifndef PM_CTRLD_KEYS_H
#define PM_CTRLD_KEYS_H

#include <stdint.h>

#define KEY_TEXT_MAX	80	/* longest prefix + 64 hex + NUL */

/* 0, or -1 when `s` is not prefix + 64 hex digits. */
int	key_parse(const char *s, const char *prefix, uint8_t out[32]);
/* Writes prefix + hex into `out` (KEY_TEXT_MAX bytes); returns out. */
char   *key_format(char *out, const char *prefix, const uint8_t key[32]);

#endif
