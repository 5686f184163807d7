/*
 * The HTTPS latency check of tailscale's netcheck (measureHTTPSLatency),
 * without I/O: the request Go's http.Client writes for
 * `GET https://<HostName>/derp/latency-check` on a fresh TLS connection to
 * a region's first DERP node, and the status line of the answer (a DERP
 * server answers 200; anything above 299 is probably a middlebox and the
 * measurement is not used).  Only the status line is read: the latency is
 * taken at the answer's first byte, as httpstat's ServerProcessing.
 */
#ifndef PM_NETD_DERP_PROBE_H
#define PM_NETD_DERP_PROBE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define DERP_PROBE_PATH		"/derp/latency-check"
#define DERP_PROBE_LINE_MAX	256	/* longest status line accepted */

/* The request for `host` (the Host header); its length, or -1 when `out`
 * is too small. */
int	derp_probe_request(char *out, size_t outlen, const char *host);

/*
 * The status line at the start of buf ("HTTP/1.x NNN ...\r\n").  Returns
 * its length with *status set, 0 when it is not complete yet, -1 when it
 * is malformed or longer than DERP_PROBE_LINE_MAX.
 */
ssize_t	derp_probe_status(const uint8_t *buf, size_t len, int *status);

#endif
