#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "config.h"

#define LINE_MAX_LEN	1024

static char *
trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

static int
parse_line(char *line, unsigned lineno, config_cb cb, void *arg, char *err,
    size_t errlen)
{
	char *hash, *key, *val;
	int r;

	if ((hash = strchr(line, '#')) != NULL)
		*hash = '\0';
	key = trim(line);
	if (*key == '\0')
		return 0;
	val = key + strcspn(key, " \t");
	if (*val == '\0') {
		snprintf(err, errlen, "line %u: '%s' has no value", lineno, key);
		return -EINVAL;
	}
	*val++ = '\0';
	val = trim(val);
	if ((r = cb(key, val, arg)) < 0) {
		snprintf(err, errlen, "line %u: %s '%s': %s", lineno,
		    r == -ENOENT ? "unknown key" : "bad value for", key,
		    r == -ENOENT ? "not a privd setting" : val);
		return -EINVAL;
	}
	return 0;
}

int
config_parse(const char *text, size_t len, config_cb cb, void *arg, char *err,
    size_t errlen)
{
	char line[LINE_MAX_LEN];
	unsigned lineno = 0;
	size_t i = 0;

	while (i < len) {
		size_t n = 0;

		lineno++;
		while (i < len && text[i] != '\n') {
			if (text[i] == '\0' || n == sizeof(line) - 1) {
				snprintf(err, errlen, "line %u: %s", lineno,
				    text[i] == '\0' ? "NUL byte" : "too long");
				return -EINVAL;
			}
			line[n++] = text[i++];
		}
		line[n] = '\0';
		i++;
		if (parse_line(line, lineno, cb, arg, err, errlen) < 0)
			return -EINVAL;
	}
	return 0;
}
