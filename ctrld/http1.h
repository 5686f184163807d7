/*
 * The two HTTP/1.1 exchanges of ts2021 that happen outside Noise: the
 * server key fetch (GET /key?v=N) and the upgrade (POST /ts2021).  Only
 * response heads are parsed here; pure functions, fuzzed.
 */
#ifndef PM_CTRLD_HTTP1_H
#define PM_CTRLD_HTTP1_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define HTTP1_HEAD_MAX	8192

struct http1_resp {
	int		 status;
	ssize_t		 content_length;	/* -1: none given */
	bool		 chunked;
	bool		 upgrade_ts2021;	/* Upgrade: tailscale-control-protocol */
	bool		 connection_upgrade;
};

/*
 * Parses a response head at the start of `buf`.  Returns the head's length
 * (through the blank line), 0 if the head is not complete yet, or -1 with
 * `err` set (malformed, or longer than HTTP1_HEAD_MAX).
 */
ssize_t	http1_parse_head(const char *buf, size_t len, struct http1_resp *,
	    char *err, size_t errlen);

/* Request heads; return the length written or -1 if `out` is too small. */
int	http1_key_request(char *out, size_t outlen, const char *host,
	    unsigned capver);
int	http1_upgrade_request(char *out, size_t outlen, const char *host,
	    const uint8_t *init, size_t initlen);

/* The /key body: {"publicKey":"mkey:<hex>",...}.  0, or -1 with `err`. */
int	http1_parse_key(const char *body, size_t len, uint8_t pub[32],
	    char *err, size_t errlen);

#endif
