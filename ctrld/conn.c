/*
 * ts2021 transport (tailscale control/controlhttp/client.go, ts2021/conn.go):
 * TCP, optionally TLS (system roots, hostname verified: the /key fetch is
 * authenticated by TLS alone), the HTTP/1.1 upgrade, the Noise response,
 * then HTTP/2 with prior knowledge inside Noise records.  The server may
 * open with an early payload ("\xff\xff\xffTS" + BE32 length + JSON
 * EarlyNoise) before its first HTTP/2 frame; it is skipped.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <nghttp2/nghttp2.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sodium.h>

#include "conn.h"
#include "http1.h"
#include "log.h"
#include "noise.h"

#define READ_CHUNK	16384
#define KEY_BODY_MAX	65536
#define EARLY_MAX	(1u << 20)
#define OUT_MAX		(8u << 20)

enum stage {
	ST_CONNECTING,
	ST_TLS,
	ST_HEAD,	/* waiting for the response head */
	ST_KEYBODY,
	ST_NOISE,	/* waiting for Noise message 2 */
	ST_EARLY,	/* first 9 plaintext bytes */
	ST_EARLYBODY,
	ST_H2,
	ST_DEAD,
};

struct stream {
	struct stream	*next;
	int32_t		 id;
	struct h2_handler h;
	uint8_t		*body;
	size_t		 len, off;
};

struct conn {
	uv_loop_t	*loop;
	uv_poll_t	 poll;
	bool		 poll_init;
	int		 fd;
	SSL		*ssl;
	struct ctrl_url	 url;
	enum conn_mode	 mode;
	enum stage	 st;
	uint16_t	 capver;
	struct conn_cbs	 cbs;
	uint8_t		 machine_priv[32], server_pub[32];

	uint8_t		*out;		/* bytes waiting for the socket */
	size_t		 outlen, outoff, outcap;

	char		 head[HTTP1_HEAD_MAX];
	size_t		 headlen;
	struct http1_resp resp;
	uint8_t		*body;
	size_t		 bodylen;

	struct noise_hs	 hs;
	struct noise_transport nt;
	struct noise_reader rd;
	uint8_t		 early[9];
	size_t		 earlylen;
	size_t		 skip;		/* early payload bytes left */

	nghttp2_session	*h2;
	struct stream	*streams;
	bool		 in_cb;		/* inside a libuv callback */
	bool		 want_free;
};

static void conn_update_poll(struct conn *);
static void conn_process(struct conn *, const uint8_t *, size_t);
static void on_poll(uv_poll_t *, int, int);


static void
conn_fail(struct conn *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
conn_fail(struct conn *c, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	if (c->st == ST_DEAD)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	c->st = ST_DEAD;
	if (c->poll_init)
		uv_poll_stop(&c->poll);
	if (c->cbs.on_error != NULL)
		c->cbs.on_error(c->cbs.arg, msg);
}

static int
out_append(struct conn *c, const void *d, size_t n)
{
	if (c->outoff > 0 && c->outoff == c->outlen)
		c->outoff = c->outlen = 0;
	if (c->outlen + n > c->outcap) {
		size_t ncap = c->outcap ? c->outcap : 16384;
		uint8_t *p;

		while (ncap < c->outlen + n)
			ncap *= 2;
		if (ncap > OUT_MAX || (p = realloc(c->out, ncap)) == NULL)
			return -1;
		c->out = p;
		c->outcap = ncap;
	}
	memcpy(c->out + c->outlen, d, n);
	c->outlen += n;
	return 0;
}

/* Seals plaintext into as many records as it takes. */
static int
noise_send(struct conn *c, const uint8_t *d, size_t n)
{
	uint8_t rec[NOISE_MAX_RECORD];

	while (n > 0) {
		size_t take = n > NOISE_MAX_PLAIN ? NOISE_MAX_PLAIN : n;
		int r = noise_seal(&c->nt.tx, d, take, rec);

		if (r < 0 || out_append(c, rec, (size_t)r) < 0)
			return -1;
		d += take;
		n -= take;
	}
	return 0;
}

static const char *
ssl_err(void)
{
	static char buf[160];
	unsigned long e = ERR_get_error();

	if (e == 0)
		return "connection reset";
	ERR_error_string_n(e, buf, sizeof(buf));
	ERR_clear_error();
	return buf;
}

/* Writes what is queued.  0, or -1 after conn_fail. */
static int
flush(struct conn *c)
{
	while (c->outoff < c->outlen) {
		size_t n = c->outlen - c->outoff;
		ssize_t w;

		if (c->ssl != NULL) {
			int r = SSL_write(c->ssl, c->out + c->outoff,
			    n > INT32_MAX ? INT32_MAX : (int)n);
			if (r <= 0) {
				int e = SSL_get_error(c->ssl, r);
				if (e == SSL_ERROR_WANT_WRITE ||
				    e == SSL_ERROR_WANT_READ)
					return 0;
				conn_fail(c, "control: TLS write: %s", ssl_err());
				return -1;
			}
			w = r;
		} else {
			w = write(c->fd, c->out + c->outoff, n);
			if (w < 0) {
				if (errno == EAGAIN || errno == EINTR)
					return 0;
				conn_fail(c, "control: write: %s",
				    strerror(errno));
				return -1;
			}
		}
		c->outoff += (size_t)w;
	}
	return 0;
}

static void
send_head(struct conn *c)
{
	char buf[1024];
	int n;

	if (c->mode == CONN_KEY)
		n = http1_key_request(buf, sizeof(buf), c->url.authority,
		    c->capver);
	else {
		uint8_t init[NOISE_INIT_SIZE];

		if (noise_initiate(&c->hs, c->capver, c->machine_priv,
		    c->server_pub, NULL, init) < 0) {
			conn_fail(c, "control: server key is unusable");
			return;
		}
		n = http1_upgrade_request(buf, sizeof(buf), c->url.authority,
		    init, sizeof(init));
	}
	if (n < 0 || out_append(c, buf, (size_t)n) < 0) {
		conn_fail(c, "control: request too long");
		return;
	}
	c->st = ST_HEAD;
}

static int
start_tls(struct conn *c, SSL_CTX *ctx)
{
	if (ctx == NULL || (c->ssl = SSL_new(ctx)) == NULL ||
	    SSL_set_fd(c->ssl, c->fd) != 1)
		return -1;
	/* SNI and the name to verify; IP literals are checked as IPs. */
	if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl),
	    c->url.host) != 1) {
		ERR_clear_error();
		if (SSL_set_tlsext_host_name(c->ssl, c->url.host) != 1 ||
		    SSL_set1_host(c->ssl, c->url.host) != 1)
			return -1;
	}
	SSL_set_verify(c->ssl, SSL_VERIFY_PEER, NULL);
	SSL_set_mode(c->ssl, SSL_MODE_ENABLE_PARTIAL_WRITE |
	    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	SSL_set_connect_state(c->ssl);
	return 0;
}

static void
do_tls(struct conn *c)
{
	int r = SSL_do_handshake(c->ssl), e;

	if (r == 1) {
		send_head(c);
		return;
	}
	e = SSL_get_error(c->ssl, r);
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
		return;
	if (SSL_get_verify_result(c->ssl) != X509_V_OK)
		conn_fail(c, "control: TLS certificate of %s not trusted: %s",
		    c->url.host, X509_verify_cert_error_string(
		    SSL_get_verify_result(c->ssl)));
	else
		conn_fail(c, "control: TLS handshake with %s: %s",
		    c->url.host, ssl_err());
}

/* ---- HTTP/2 ---- */

static struct stream *
find_stream(struct conn *c, int32_t id)
{
	for (struct stream *s = c->streams; s != NULL; s = s->next)
		if (s->id == id)
			return s;
	return NULL;
}

static void
drop_stream(struct conn *c, struct stream *s)
{
	for (struct stream **pp = &c->streams; *pp != NULL; pp = &(*pp)->next)
		if (*pp == s) {
			*pp = s->next;
			break;
		}
	free(s->body);
	free(s);
}

static ssize_t
h2_send_cb(nghttp2_session *h, const uint8_t *d, size_t n, int flags,
    void *arg)
{
	struct conn *c = arg;

	(void)h;
	(void)flags;
	if (noise_send(c, d, n) < 0)
		return NGHTTP2_ERR_CALLBACK_FAILURE;
	return (ssize_t)n;
}

static int
h2_header_cb(nghttp2_session *h, const nghttp2_frame *f, const uint8_t *name,
    size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
    void *arg)
{
	struct conn *c = arg;
	struct stream *s;

	(void)h;
	(void)flags;
	if (f->hd.type != NGHTTP2_HEADERS ||
	    (s = find_stream(c, f->hd.stream_id)) == NULL)
		return 0;
	if (namelen == 7 && memcmp(name, ":status", 7) == 0 && valuelen == 3 &&
	    s->h.on_status != NULL)
		s->h.on_status(s->h.arg, (value[0] - '0') * 100 +
		    (value[1] - '0') * 10 + (value[2] - '0'));
	return 0;
}

static int
h2_data_cb(nghttp2_session *h, uint8_t flags, int32_t id, const uint8_t *d,
    size_t n, void *arg)
{
	struct conn *c = arg;
	struct stream *s = find_stream(c, id);

	(void)flags;
	if (s == NULL || s->h.on_data == NULL)
		return 0;
	if (s->h.on_data(s->h.arg, d, n) < 0) {
		s->h.on_close = NULL;	/* the handler already knows */
		nghttp2_submit_rst_stream(h, NGHTTP2_FLAG_NONE, id,
		    NGHTTP2_CANCEL);
	}
	return 0;
}

static int
h2_close_cb(nghttp2_session *h, int32_t id, uint32_t code, void *arg)
{
	struct conn *c = arg;
	struct stream *s = find_stream(c, id);

	(void)h;
	if (s == NULL)
		return 0;
	if (s->h.on_close != NULL)
		s->h.on_close(s->h.arg, code);
	drop_stream(c, s);
	return 0;
}

static ssize_t
body_read_cb(nghttp2_session *h, int32_t id, uint8_t *buf, size_t len,
    uint32_t *flags, nghttp2_data_source *src, void *arg)
{
	struct stream *s = src->ptr;
	size_t n = s->len - s->off;

	(void)h;
	(void)id;
	(void)arg;
	if (n > len)
		n = len;
	memcpy(buf, s->body + s->off, n);
	s->off += n;
	if (s->off == s->len)
		*flags |= NGHTTP2_DATA_FLAG_EOF;
	return (ssize_t)n;
}

static void
h2_pump(struct conn *c)
{
	int r;

	if (c->st != ST_H2 && c->st != ST_EARLY && c->st != ST_EARLYBODY)
		return;
	if ((r = nghttp2_session_send(c->h2)) != 0)
		conn_fail(c, "control: HTTP/2: %s", nghttp2_strerror(r));
	else if (!nghttp2_session_want_read(c->h2) &&
	    !nghttp2_session_want_write(c->h2))
		conn_fail(c, "control: HTTP/2 session ended by the server");
}

static int
h2_start(struct conn *c)
{
	nghttp2_session_callbacks *cb;
	nghttp2_settings_entry iv[] = {
		{ NGHTTP2_SETTINGS_ENABLE_PUSH, 0 },
		{ NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 4 << 20 },
		{ NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, 65536 },
	};
	int r;

	if (nghttp2_session_callbacks_new(&cb) != 0)
		return -1;
	nghttp2_session_callbacks_set_send_callback(cb, h2_send_cb);
	nghttp2_session_callbacks_set_on_header_callback(cb, h2_header_cb);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb,
	    h2_data_cb);
	nghttp2_session_callbacks_set_on_stream_close_callback(cb,
	    h2_close_cb);
	r = nghttp2_session_client_new(&c->h2, cb, c);
	nghttp2_session_callbacks_del(cb);
	if (r != 0)
		return -1;
	if (nghttp2_submit_settings(c->h2, NGHTTP2_FLAG_NONE, iv,
	    sizeof(iv) / sizeof(iv[0])) != 0 ||
	    nghttp2_session_set_local_window_size(c->h2, NGHTTP2_FLAG_NONE, 0,
	    16 << 20) != 0)
		return -1;
	return 0;
}

int32_t
conn_post(struct conn *c, const char *path, const char *body, size_t len,
    const char *lb_nodekey, const struct h2_handler *h)
{
	struct stream *s;
	nghttp2_data_provider dp;
	nghttp2_nv nv[6];
	char clen[24];
	size_t n = 0;

#define NV(k, v) (nghttp2_nv){ (uint8_t *)(k), (uint8_t *)(v), strlen(k), \
	    strlen(v), NGHTTP2_NV_FLAG_NONE }
	if (c->h2 == NULL || c->st == ST_DEAD ||
	    (s = calloc(1, sizeof(*s))) == NULL)
		return -1;
	if (len > 0 && (s->body = malloc(len)) == NULL) {
		free(s);
		return -1;
	}
	memcpy(s->body, body, len);
	s->len = len;
	s->h = *h;
	snprintf(clen, sizeof(clen), "%zu", len);
	nv[n++] = NV(":method", "POST");
	nv[n++] = NV(":scheme", "https");
	nv[n++] = NV(":authority", c->url.authority);
	nv[n++] = NV(":path", path);
	nv[n++] = NV("content-type", "application/json");
	if (lb_nodekey != NULL)
		nv[n++] = NV("ts-lb", lb_nodekey);
#undef NV
	dp.source.ptr = s;
	dp.read_callback = body_read_cb;
	s->id = nghttp2_submit_request(c->h2, NULL, nv, n, &dp, NULL);
	if (s->id < 0) {
		free(s->body);
		free(s);
		return -1;
	}
	s->next = c->streams;
	c->streams = s;
	if (!c->in_cb) {
		h2_pump(c);
		flush(c);
		conn_update_poll(c);
	}
	return s->id;
}

void
conn_cancel(struct conn *c, int32_t id)
{
	struct stream *s = find_stream(c, id);

	if (s == NULL)
		return;
	s->h.on_close = NULL;
	s->h.on_data = NULL;
	s->h.on_status = NULL;
	if (c->h2 != NULL && c->st != ST_DEAD) {
		nghttp2_submit_rst_stream(c->h2, NGHTTP2_FLAG_NONE, id,
		    NGHTTP2_CANCEL);
		if (!c->in_cb) {
			h2_pump(c);
			flush(c);
			conn_update_poll(c);
		}
	}
}

/* ---- reading ---- */

static void
h2_input(struct conn *c, const uint8_t *d, size_t n)
{
	ssize_t r = nghttp2_session_mem_recv(c->h2, d, n);

	if (r < 0)
		conn_fail(c, "control: bad HTTP/2 from server: %s",
		    nghttp2_strerror((int)r));
}

/* Plaintext from the Noise layer: early payload, then HTTP/2. */
static void
plain_input(struct conn *c, const uint8_t *d, size_t n)
{
	static const uint8_t magic[5] = { 0xff, 0xff, 0xff, 'T', 'S' };

	while (n > 0 && c->st != ST_DEAD) {
		if (c->st == ST_EARLY) {
			size_t take = 9 - c->earlylen;
			if (take > n)
				take = n;
			memcpy(c->early + c->earlylen, d, take);
			c->earlylen += take;
			d += take;
			n -= take;
			if (c->earlylen < 9)
				return;
			if (memcmp(c->early, magic, 5) != 0) {
				c->st = ST_H2;
				h2_input(c, c->early, 9);
				continue;
			}
			c->skip = (size_t)c->early[5] << 24 |
			    (size_t)c->early[6] << 16 |
			    (size_t)c->early[7] << 8 | c->early[8];
			if (c->skip > EARLY_MAX) {
				conn_fail(c, "control: early payload too large");
				return;
			}
			c->st = c->skip > 0 ? ST_EARLYBODY : ST_H2;
		} else if (c->st == ST_EARLYBODY) {
			size_t take = c->skip < n ? c->skip : n;
			c->skip -= take;
			d += take;
			n -= take;
			if (c->skip == 0)
				c->st = ST_H2;
		} else {
			h2_input(c, d, n);
			return;
		}
	}
}

static void
noise_input(struct conn *c, const uint8_t *d, size_t n)
{
	uint8_t plain[NOISE_MAX_PLAIN];
	char err[128];

	while (c->st != ST_DEAD) {
		int r = noise_read(&c->rd, &c->nt.rx, &d, &n, plain, err,
		    sizeof(err));
		if (r == -2)
			return;
		if (r < 0) {
			conn_fail(c, "control: %s", err);
			return;
		}
		plain_input(c, plain, (size_t)r);
	}
}

/* Noise message 2 (or an error frame) right after the 101. */
static size_t
noise_resp_input(struct conn *c, const uint8_t *d, size_t n)
{
	size_t take, need = NOISE_RESP_SIZE;
	char err[160];

	if (c->rd.len >= 3 && c->rd.buf[0] == NOISE_MSG_ERROR)
		need = 3 + ((size_t)c->rd.buf[1] << 8 | c->rd.buf[2]);
	take = need - c->rd.len;
	if (take > n)
		take = n;
	if (c->rd.len + take > sizeof(c->rd.buf))
		take = sizeof(c->rd.buf) - c->rd.len;
	memcpy(c->rd.buf + c->rd.len, d, take);
	c->rd.len += take;
	if (c->rd.len >= 3 && c->rd.buf[0] == NOISE_MSG_ERROR) {
		size_t elen = (size_t)c->rd.buf[1] << 8 | c->rd.buf[2];
		if (c->rd.len < 3 + elen)
			return take + (n > take ? noise_resp_input(c, d + take,
			    n - take) : 0);
		if (elen > 120)
			elen = 120;
		for (size_t i = 0; i < elen; i++)
			if (c->rd.buf[3 + i] < 0x20 || c->rd.buf[3 + i] > 0x7e)
				c->rd.buf[3 + i] = '?';
		conn_fail(c, "control: server refused the handshake: %.*s",
		    (int)elen, (const char *)c->rd.buf + 3);
		return n;
	}
	if (c->rd.len < NOISE_RESP_SIZE)
		return take;
	if (noise_respond(&c->hs, c->rd.buf, NOISE_RESP_SIZE, &c->nt, err,
	    sizeof(err)) < 0) {
		conn_fail(c, "control: %s", err);
		return n;
	}
	c->rd.len = 0;
	if (h2_start(c) < 0) {
		conn_fail(c, "control: HTTP/2 setup failed");
		return n;
	}
	c->st = ST_EARLY;
	if (c->cbs.on_ready != NULL)
		c->cbs.on_ready(c->cbs.arg);
	return take;
}

static void
head_input(struct conn *c, const uint8_t *d, size_t n)
{
	char err[128];
	size_t take = sizeof(c->head) - c->headlen;
	ssize_t hl;

	if (take > n)
		take = n;
	memcpy(c->head + c->headlen, d, take);
	c->headlen += take;
	hl = http1_parse_head(c->head, c->headlen, &c->resp, err, sizeof(err));
	if (hl < 0) {
		conn_fail(c, "control: %s", err);
		return;
	}
	if (hl == 0)
		return;
	/* Bytes after the head belong to the next stage. */
	d = (const uint8_t *)c->head + hl;
	n = c->headlen - (size_t)hl;
	if (c->mode == CONN_KEY) {
		if (c->resp.status != 200) {
			conn_fail(c, "control: GET /key: HTTP %d",
			    c->resp.status);
			return;
		}
		if (c->resp.chunked) {
			conn_fail(c, "control: GET /key: chunked body not "
			    "supported");
			return;
		}
		c->st = ST_KEYBODY;
	} else {
		if (c->resp.status != 101 || !c->resp.upgrade_ts2021) {
			conn_fail(c, "control: /ts2021 upgrade refused: HTTP %d%s",
			    c->resp.status, c->resp.status == 101 ?
			    " with the wrong Upgrade" : "");
			return;
		}
		c->st = ST_NOISE;
	}
	/* Re-enter with what followed the head; the head buffer is done. */
	if (n > 0) {
		uint8_t rest[HTTP1_HEAD_MAX];
		memcpy(rest, d, n);
		conn_process(c, rest, n);
	}
}

static void
key_done(struct conn *c)
{
	uint8_t pub[32];
	char err[128];

	if (http1_parse_key((const char *)c->body, c->bodylen, pub, err,
	    sizeof(err)) < 0) {
		conn_fail(c, "control: %s", err);
		return;
	}
	c->st = ST_DEAD;
	uv_poll_stop(&c->poll);
	if (c->cbs.on_key != NULL)
		c->cbs.on_key(c->cbs.arg, pub);
}

static void
keybody_input(struct conn *c, const uint8_t *d, size_t n)
{
	if (c->bodylen + n > KEY_BODY_MAX) {
		conn_fail(c, "control: GET /key: body too large");
		return;
	}
	if (c->body == NULL && (c->body = malloc(KEY_BODY_MAX)) == NULL) {
		conn_fail(c, "control: out of memory");
		return;
	}
	memcpy(c->body + c->bodylen, d, n);
	c->bodylen += n;
	if (c->resp.content_length >= 0 &&
	    c->bodylen >= (size_t)c->resp.content_length) {
		c->bodylen = (size_t)c->resp.content_length;
		key_done(c);
	}
}

static void
conn_process(struct conn *c, const uint8_t *d, size_t n)
{
	while (n > 0 && c->st != ST_DEAD) {
		size_t used;

		switch (c->st) {
		case ST_HEAD:
			head_input(c, d, n);
			return;
		case ST_KEYBODY:
			keybody_input(c, d, n);
			return;
		case ST_NOISE:
			used = noise_resp_input(c, d, n);
			d += used;
			n -= used;
			break;
		case ST_EARLY:
		case ST_EARLYBODY:
		case ST_H2:
			noise_input(c, d, n);
			return;
		default:
			conn_fail(c, "control: unexpected data from server");
			return;
		}
	}
}

static void
on_eof(struct conn *c)
{
	if (c->st == ST_KEYBODY && c->resp.content_length < 0)
		key_done(c);
	else
		conn_fail(c, "control: connection closed by the server");
}

static void
do_read(struct conn *c)
{
	uint8_t buf[READ_CHUNK];

	while (c->st != ST_DEAD && c->st != ST_CONNECTING && c->st != ST_TLS) {
		ssize_t n;

		if (c->ssl != NULL) {
			int r = SSL_read(c->ssl, buf, sizeof(buf)), e;
			if (r <= 0) {
				e = SSL_get_error(c->ssl, r);
				if (e == SSL_ERROR_WANT_READ ||
				    e == SSL_ERROR_WANT_WRITE)
					return;
				if (e == SSL_ERROR_ZERO_RETURN ||
				    (e == SSL_ERROR_SYSCALL &&
				    ERR_peek_error() == 0)) {
					on_eof(c);
					return;
				}
				conn_fail(c, "control: TLS read: %s", ssl_err());
				return;
			}
			n = r;
		} else {
			n = read(c->fd, buf, sizeof(buf));
			if (n < 0 && (errno == EAGAIN || errno == EINTR))
				return;
			if (n < 0) {
				conn_fail(c, "control: read: %s",
				    strerror(errno));
				return;
			}
			if (n == 0) {
				on_eof(c);
				return;
			}
		}
		conn_process(c, buf, (size_t)n);
		h2_pump(c);
	}
}

static void
conn_update_poll(struct conn *c)
{
	int ev = UV_READABLE;

	if (c->st == ST_DEAD || !c->poll_init)
		return;
	if (c->st == ST_CONNECTING || c->outoff < c->outlen ||
	    (c->ssl != NULL && c->st == ST_TLS && SSL_want_write(c->ssl)))
		ev |= UV_WRITABLE;
	uv_poll_start(&c->poll, ev, on_poll);
}



static void
conn_step(struct conn *c, int events)
{
	if (c->st == ST_CONNECTING) {
		int soerr = 0;
		socklen_t sl = sizeof(soerr);

		if (!(events & UV_WRITABLE))
			return;
		if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0)
			soerr = errno;
		if (soerr != 0) {
			conn_fail(c, "control: cannot connect to %s: %s",
			    c->url.authority, strerror(soerr));
			return;
		}
		if (c->ssl != NULL)
			c->st = ST_TLS;
		else
			send_head(c);
	}
	if (c->st == ST_TLS)
		do_tls(c);
	if (c->st == ST_DEAD)
		return;
	if (flush(c) < 0)
		return;
	do_read(c);
	h2_pump(c);
	if (c->st != ST_DEAD)
		flush(c);
}

static void
on_poll(uv_poll_t *p, int status, int events)
{
	struct conn *c = p->data;

	if (status < 0) {
		conn_fail(c, "control: socket error: %s", uv_strerror(status));
		return;
	}
	c->in_cb = true;
	conn_step(c, events);
	c->in_cb = false;
	conn_update_poll(c);
}

static void
on_poll_closed(uv_handle_t *h)
{
	free(h->data);
}

struct conn *
conn_new(uv_loop_t *loop, const struct ctrl_url *u, enum conn_mode mode,
    uint16_t capver, const uint8_t machine_priv[32],
    const uint8_t server_pub[32], SSL_CTX *tls, const struct conn_cbs *cbs)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	struct conn *c;
	char err[512];

	/* Failures before the socket exists are reported synchronously. */
	if (url_resolve(u, &ss, &sl, err, sizeof(err)) < 0) {
		cbs->on_error(cbs->arg, err);
		return NULL;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		cbs->on_error(cbs->arg, "control: out of memory");
		return NULL;
	}
	c->loop = loop;
	c->url = *u;
	c->mode = mode;
	c->capver = capver;
	c->cbs = *cbs;
	if (machine_priv != NULL)
		memcpy(c->machine_priv, machine_priv, 32);
	if (server_pub != NULL)
		memcpy(c->server_pub, server_pub, 32);
	c->fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0);
	if (c->fd < 0 || (connect(c->fd, (struct sockaddr *)&ss, sl) != 0 &&
	    errno != EINPROGRESS)) {
		snprintf(err, sizeof(err), "control: cannot connect to %s: %s",
		    u->authority, strerror(errno));
		goto fail;
	}
	if (u->tls && start_tls(c, tls) < 0) {
		snprintf(err, sizeof(err), "control: TLS setup: %s", ssl_err());
		goto fail;
	}
	c->st = ST_CONNECTING;
	uv_poll_init(loop, &c->poll, c->fd);
	c->poll.data = c;
	c->poll_init = true;
	conn_update_poll(c);
	return c;
fail:
	cbs->on_error(cbs->arg, err);
	c->cbs.on_error = NULL;
	conn_free(c);
	return NULL;
}

void
conn_free(struct conn *c)
{
	int fd;

	if (c == NULL)
		return;
	while (c->streams != NULL)
		drop_stream(c, c->streams);
	if (c->h2 != NULL)
		nghttp2_session_del(c->h2);
	if (c->ssl != NULL)
		SSL_free(c->ssl);
	noise_transport_wipe(&c->nt);
	sodium_memzero(&c->hs, sizeof(c->hs));
	sodium_memzero(c->machine_priv, sizeof(c->machine_priv));
	free(c->out);
	free(c->body);
	c->st = ST_DEAD;
	fd = c->fd;
	if (c->poll_init) {
		/* Stop polling before the fd goes; the handle frees c. */
		uv_poll_stop(&c->poll);
		uv_close((uv_handle_t *)&c->poll, on_poll_closed);
	} else
		free(c);
	if (fd >= 0)
		close(fd);
}

void
conn_detach(struct conn *c)
{
	memset(&c->cbs, 0, sizeof(c->cbs));
	for (struct stream *s = c->streams; s != NULL; s = s->next)
		memset(&s->h, 0, sizeof(s->h));
	if (c->st != ST_DEAD) {
		c->st = ST_DEAD;
		if (c->poll_init)
			uv_poll_stop(&c->poll);
	}
}

int
conn_fuzz_upgrade(const uint8_t *data, size_t len)
{
	static const struct conn_cbs none;
	struct conn *c = calloc(1, sizeof(*c));
	uint8_t priv[32], pub[32];

	if (c == NULL)
		return -1;
	c->fd = -1;
	memset(priv, 0x41, sizeof(priv));
	crypto_scalarmult_base(pub, priv);
	c->fd = -1;
	c->mode = CONN_TS2021;
	c->capver = 113;
	c->cbs = none;
	memcpy(c->machine_priv, priv, 32);
	memcpy(c->server_pub, pub, 32);
	send_head(c);
	conn_process(c, data, len);
	c->poll_init = false;
	conn_free(c);
	return 0;
}
