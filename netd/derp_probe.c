/* The HTTPS latency check's request and status line (derp_probe.h). */
#include <stdio.h>
#include <string.h>

#include "derp_probe.h"

int
derp_probe_request(char *out, size_t outlen, const char *host)
{
	/* Go's Request.Write order; the Transport adds gzip by itself. */
	int n = snprintf(out, outlen, "GET " DERP_PROBE_PATH " HTTP/1.1\r\n"
	    "Host: %s\r\nUser-Agent: Go-http-client/1.1\r\n"
	    "Accept-Encoding: gzip\r\n\r\n", host);

	return n < 0 || (size_t)n >= outlen ? -1 : n;
}

static int
digit(uint8_t c)
{
	return c >= '0' && c <= '9' ? c - '0' : -1;
}

ssize_t
derp_probe_status(const uint8_t *buf, size_t len, int *status)
{
	const uint8_t *nl;
	size_t n = len < DERP_PROBE_LINE_MAX ? len : DERP_PROBE_LINE_MAX;
	int d0, d1, d2;

	if ((nl = memchr(buf, '\n', n)) == NULL)
		return len < DERP_PROBE_LINE_MAX ? 0 : -1;
	n = (size_t)(nl - buf) + 1;
	/* "HTTP/1.x NNN" then a reason (maybe empty) and CRLF. */
	if (n < 14 || memcmp(buf, "HTTP/1.", 7) != 0 ||
	    (buf[7] != '0' && buf[7] != '1') || buf[8] != ' ' ||
	    buf[n - 2] != '\r')
		return -1;
	if ((d0 = digit(buf[9])) < 1 || (d1 = digit(buf[10])) < 0 ||
	    (d2 = digit(buf[11])) < 0 || (buf[12] != ' ' && n != 14))
		return -1;
	*status = d0 * 100 + d1 * 10 + d2;
	return (ssize_t)n;
}
