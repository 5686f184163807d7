/*
 * HTTP/1.1 heads for the key fetch and the ts2021 upgrade
 * (tailscale control/controlhttp/client.go; headscale hscontrol/noise.go):
 *
 *   POST /ts2021 HTTP/1.1
 *   Upgrade: tailscale-control-protocol
 *   Connection: upgrade
 *   X-Tailscale-Handshake: <base64 of the 101-byte Noise initiation>
 *
 * answered by "101 Switching Protocols" with the same Upgrade token, after
 * which the socket carries the Noise response.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <sodium.h>

#include "http1.h"
#include "keys.h"

static int
fail(char *err, size_t errlen, const char *msg)
{
	snprintf(err, errlen, "%s", msg);
	return -1;
}

/* Case-insensitive token search in a comma-separated header value. */
static bool
has_token(const char *v, size_t vlen, const char *tok)
{
	size_t tl = strlen(tok), i = 0;

	while (i < vlen) {
		size_t s, e;

		while (i < vlen && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
			i++;
		s = i;
		while (i < vlen && v[i] != ',')
			i++;
		e = i;
		while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t'))
			e--;
		if (e - s == tl && strncasecmp(v + s, tok, tl) == 0)
			return true;
	}
	return false;
}

static int
header(struct http1_resp *r, const char *line, size_t len, char *err,
    size_t errlen)
{
	const char *colon = memchr(line, ':', len), *v;
	size_t nlen, vlen;

	if (colon == NULL || colon == line)
		return fail(err, errlen, "http: malformed header line");
	nlen = (size_t)(colon - line);
	for (size_t i = 0; i < nlen; i++)
		if (!isgraph((unsigned char)line[i]))
			return fail(err, errlen, "http: bad header name");
	v = colon + 1;
	vlen = len - nlen - 1;
	while (vlen > 0 && (*v == ' ' || *v == '\t')) {
		v++;
		vlen--;
	}
	while (vlen > 0 && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
		vlen--;
	if (nlen == 14 && strncasecmp(line, "Content-Length", 14) == 0) {
		size_t n = 0;

		if (vlen == 0 || vlen > 12)
			return fail(err, errlen, "http: bad Content-Length");
		for (size_t i = 0; i < vlen; i++) {
			if (!isdigit((unsigned char)v[i]))
				return fail(err, errlen,
				    "http: bad Content-Length");
			n = n * 10 + (size_t)(v[i] - '0');
		}
		if (r->content_length >= 0 && (size_t)r->content_length != n)
			return fail(err, errlen,
			    "http: conflicting Content-Length");
		r->content_length = (ssize_t)n;
	} else if (nlen == 17 && strncasecmp(line, "Transfer-Encoding", 17) == 0)
		r->chunked = has_token(v, vlen, "chunked");
	else if (nlen == 7 && strncasecmp(line, "Upgrade", 7) == 0)
		r->upgrade_ts2021 = vlen == 26 &&
		    strncasecmp(v, "tailscale-control-protocol", 26) == 0;
	else if (nlen == 10 && strncasecmp(line, "Connection", 10) == 0)
		r->connection_upgrade = has_token(v, vlen, "upgrade");
	return 0;
}

static int
status_line(struct http1_resp *r, const char *line, size_t len, char *err,
    size_t errlen)
{
	if (len < 12 || strncmp(line, "HTTP/1.", 7) != 0 ||
	    (line[7] != '0' && line[7] != '1') || line[8] != ' ' ||
	    !isdigit((unsigned char)line[9]) ||
	    !isdigit((unsigned char)line[10]) ||
	    !isdigit((unsigned char)line[11]) || (len > 12 && line[12] != ' '))
		return fail(err, errlen, "http: malformed status line");
	r->status = (line[9] - '0') * 100 + (line[10] - '0') * 10 +
	    (line[11] - '0');
	return 0;
}

ssize_t
http1_parse_head(const char *buf, size_t len, struct http1_resp *r,
    char *err, size_t errlen)
{
	const char *end = NULL, *p = buf, *nl;
	size_t scan = len < HTTP1_HEAD_MAX ? len : HTTP1_HEAD_MAX;

	for (size_t i = 0; i + 3 < scan + 0 && end == NULL; i++)
		if (memcmp(buf + i, "\r\n\r\n", 4) == 0)
			end = buf + i + 4;
	if (end == NULL)
		return len >= HTTP1_HEAD_MAX ?
		    fail(err, errlen, "http: response head too long") : 0;
	memset(r, 0, sizeof(*r));
	r->content_length = -1;
	for (bool first = true; p < end - 2; first = false) {
		size_t ll;

		nl = memchr(p, '\n', (size_t)(end - p));
		if (nl == NULL || nl == p || nl[-1] != '\r')
			return fail(err, errlen, "http: bare newline in head");
		ll = (size_t)(nl - 1 - p);
		for (size_t i = 0; i < ll; i++)
			if (p[i] == '\0' || p[i] == '\r')
				return fail(err, errlen,
				    "http: control byte in head");
		if ((first ? status_line(r, p, ll, err, errlen) :
		    header(r, p, ll, err, errlen)) < 0)
			return -1;
		p = nl + 1;
	}
	return end - buf;
}

int
http1_key_request(char *out, size_t outlen, const char *host,
    unsigned capver)
{
	int n = snprintf(out, outlen,
	    "GET /key?v=%u HTTP/1.1\r\n"
	    "Host: %s\r\n"
	    "User-Agent: privmesh\r\n"
	    "Accept: application/json\r\n"
	    "Connection: close\r\n\r\n", capver, host);
	return n > 0 && (size_t)n < outlen ? n : -1;
}

int
http1_upgrade_request(char *out, size_t outlen, const char *host,
    const uint8_t *init, size_t initlen)
{
	char b64[256];
	int n;

	if (sodium_base64_encoded_len(initlen,
	    sodium_base64_VARIANT_ORIGINAL) > sizeof(b64))
		return -1;
	sodium_bin2base64(b64, sizeof(b64), init, initlen,
	    sodium_base64_VARIANT_ORIGINAL);
	n = snprintf(out, outlen,
	    "POST /ts2021 HTTP/1.1\r\n"
	    "Host: %s\r\n"
	    "User-Agent: privmesh\r\n"
	    "Upgrade: tailscale-control-protocol\r\n"
	    "Connection: upgrade\r\n"
	    "X-Tailscale-Handshake: %s\r\n"
	    "Content-Length: 0\r\n\r\n", host, b64);
	return n > 0 && (size_t)n < outlen ? n : -1;
}

int
http1_parse_key(const char *body, size_t len, uint8_t pub[32], char *err,
    size_t errlen)
{
	json_error_t jerr;
	json_t *root;
	const char *s;
	int r;

	if ((root = json_loadb(body, len, 0, &jerr)) == NULL)
		return fail(err, errlen, "key: server key response is not JSON");
	s = json_string_value(json_object_get(root, "publicKey"));
	if (s == NULL)
		r = fail(err, errlen, "key: no publicKey in server response");
	else if ((r = key_parse(s, "mkey:", pub)) < 0)
		fail(err, errlen, "key: malformed publicKey");
	else if (sodium_is_zero(pub, 32))
		r = fail(err, errlen, "key: control server is too old; no "
		    "noise key");
	json_decref(root);
	return r;
}
