/* One DERP connection's protocol, no I/O (see derp_conn.h). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "derp_conn.h"

static int
fail(struct derp_conn *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->err, sizeof(c->err), fmt, ap);
	va_end(ap);
	c->state = DERP_CONN_FAILED;
	c->st.failed++;
	return -1;
}

/* Appends to the output queue, compacting it first; false when the
 * result would pass DERP_CONN_OUT_MAX. */
static bool
out_reserve(struct derp_conn *c, size_t n)
{
	if (c->out_off > 0) {
		memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
		c->out_len -= c->out_off;
		c->out_off = 0;
	}
	if (c->out_len + n > DERP_CONN_OUT_MAX)
		return false;
	if (c->out_len + n > c->out_cap) {
		size_t cap = c->out_cap ? c->out_cap : 4096;
		uint8_t *p;

		while (cap < c->out_len + n)
			cap *= 2;
		if (cap > DERP_CONN_OUT_MAX)
			cap = DERP_CONN_OUT_MAX;
		if ((p = realloc(c->out, cap)) == NULL)
			return false;
		c->out = p;
		c->out_cap = cap;
	}
	return true;
}

int
derp_conn_init(struct derp_conn *c, const char *host,
    const uint8_t pub[DERP_KEY_LEN], const uint8_t priv[DERP_KEY_LEN],
    const struct derp_conn_cb *cb, void *arg)
{
	int n;

	memset(c, 0, sizeof(*c));
	memcpy(c->pub, pub, DERP_KEY_LEN);
	memcpy(c->priv, priv, DERP_KEY_LEN);
	if (cb != NULL)
		c->cb = *cb;
	c->arg = arg;
	derp_reader_init(&c->rd, DERP_MAX_FRAME_SIZE);
	if (!out_reserve(c, 512))
		return -1;
	/* The headers derphttp's client sends (Go's Request.Write order). */
	n = snprintf((char *)c->out, c->out_cap, "GET /derp HTTP/1.1\r\n"
	    "Host: %s\r\nUser-Agent: Go-http-client/1.1\r\n"
	    "Connection: Upgrade\r\nUpgrade: DERP\r\n\r\n", host);
	if (n < 0 || (size_t)n >= c->out_cap)
		return -1;
	c->out_len = (size_t)n;
	c->state = DERP_CONN_HTTP;
	return 0;
}

void
derp_conn_free(struct derp_conn *c)
{
	derp_reader_free(&c->rd);
	free(c->out);
	sodium_memzero(c->priv, sizeof(c->priv));
	c->out = NULL;
	c->out_len = c->out_off = c->out_cap = 0;
}

const uint8_t *
derp_conn_pending(const struct derp_conn *c, size_t *len)
{
	*len = c->out_len - c->out_off;
	return *len ? c->out + c->out_off : NULL;
}

void
derp_conn_written(struct derp_conn *c, size_t n)
{
	if (n > c->out_len - c->out_off)
		n = c->out_len - c->out_off;
	c->out_off += n;
	if (c->out_off == c->out_len)
		c->out_off = c->out_len = 0;
}

/* Consumes the HTTP answer's head byte by byte (frames may follow in the
 * same read); returns how much was used, -1 on a bad answer. */
static ssize_t
http_input(struct derp_conn *c, const uint8_t *p, size_t len)
{
	size_t i;
	int code;

	for (i = 0; i < len; i++) {
		if (c->head_len == sizeof(c->head) - 1)
			return fail(c, "HTTP answer head too long");
		c->head[c->head_len++] = (char)p[i];
		if (c->head_len >= 4 &&
		    memcmp(c->head + c->head_len - 4, "\r\n\r\n", 4) == 0)
			break;
	}
	if (i == len)
		return (ssize_t)len;
	c->head[c->head_len] = '\0';
	/* Go's client wants 101 Switching Protocols and nothing else. */
	if (strncmp(c->head, "HTTP/1.", 7) != 0 || (c->head[7] != '0' &&
	    c->head[7] != '1') || c->head[8] != ' ' ||
	    sscanf(c->head + 9, "%3d", &code) != 1)
		return fail(c, "not an HTTP answer");
	if (code != 101)
		return fail(c, "HTTP status %d, not 101", code);
	c->state = DERP_CONN_SERVER_KEY;
	return (ssize_t)i + 1;
}

static int
queue_frame(struct derp_conn *c, const uint8_t *b, ssize_t n)
{
	if (n < 0 || !out_reserve(c, (size_t)n))
		return -1;
	memcpy(c->out + c->out_len, b, (size_t)n);
	c->out_len += (size_t)n;
	return 0;
}

static int
handshake(struct derp_conn *c, const struct derp_frame *f)
{
	struct derp_client_info ci = { .can_ack_pings = true };
	uint8_t buf[512];

	if (c->state == DERP_CONN_SERVER_KEY) {
		if (f->type != DERP_FRAME_SERVER_KEY ||
		    derp_parse_server_key(f->payload, f->len, c->server) != 0)
			return fail(c, "bad ServerKey");
		if (queue_frame(c, buf, derp_build_client_info(buf,
		    sizeof(buf), c->pub, c->priv, c->server, &ci)) < 0)
			return fail(c, "cannot queue ClientInfo");
		c->state = DERP_CONN_SERVER_INFO;
		return 0;
	}
	if (f->type != DERP_FRAME_SERVER_INFO ||
	    derp_open_server_info(f->payload, f->len, c->priv, c->server,
	    &c->info) != 0)
		return fail(c, "bad ServerInfo");
	c->state = DERP_CONN_READY;
	return 0;
}

static int
frame(struct derp_conn *c, const struct derp_frame *f)
{
	const uint8_t *key, *pkt;
	uint8_t peer[DERP_KEY_LEN], data[DERP_PING_LEN], buf[16], reason;
	size_t n;

	if (c->state != DERP_CONN_READY)
		return handshake(c, f);
	switch (f->type) {
	case DERP_FRAME_RECV_PACKET:
		if (derp_parse_packet(f->payload, f->len, &key, &pkt, &n) != 0)
			break;
		c->st.rx_packets++;
		c->st.rx_bytes += n;
		if (c->cb.recv != NULL)
			c->cb.recv(c->arg, key, pkt, n);
		return 0;
	case DERP_FRAME_KEEP_ALIVE:
		c->st.keepalives++;
		return 0;
	case DERP_FRAME_PING:
		if (derp_parse_ping(f->payload, f->len, data) != 0)
			break;
		c->st.pings++;
		/* No room for the pong: the server sees a missed ping. */
		(void)queue_frame(c, buf, derp_build_ping(buf, sizeof(buf),
		    DERP_FRAME_PONG, data));
		return 0;
	case DERP_FRAME_PONG:
		c->st.pongs++;
		return 0;
	case DERP_FRAME_PEER_GONE:
		if (derp_parse_peer_gone(f->payload, f->len, peer,
		    &reason) != 0)
			break;
		c->st.peer_gone++;
		if (c->cb.peer_gone != NULL)
			c->cb.peer_gone(c->arg, peer, reason);
		return 0;
	case DERP_FRAME_HEALTH:
		c->st.health++;
		(void)derp_parse_health(f->payload, f->len, c->health_text,
		    sizeof(c->health_text));
		return 0;
	case DERP_FRAME_RESTARTING:
		if (derp_parse_restarting(f->payload, f->len,
		    &c->reconnect_in_ms, &c->try_for_ms) != 0)
			break;
		c->st.restarting++;
		return 0;
	default:
		break;
	}
	c->st.skipped++;
	return 0;
}

int
derp_conn_input(struct derp_conn *c, const uint8_t *data, size_t len)
{
	struct derp_frame f;
	enum derp_read r;

	if (c->state == DERP_CONN_FAILED)
		return -1;
	if (c->state == DERP_CONN_HTTP) {
		ssize_t used = http_input(c, data, len);

		if (used < 0)
			return -1;
		data += used;
		len -= (size_t)used;
	}
	while (len > 0) {
		r = derp_reader_next(&c->rd, &data, &len, &f);
		if (r == DERP_READ_ERROR)
			return fail(c, "frame too large");
		if (r == DERP_READ_MORE)
			break;
		if (frame(c, &f) < 0)
			return -1;
	}
	return 0;
}

int
derp_conn_note_preferred(struct derp_conn *c, bool preferred)
{
	uint8_t buf[DERP_HEADER_LEN + 1];

	if (c->state != DERP_CONN_READY)
		return -1;
	return queue_frame(c, buf, derp_build_note_preferred(buf, sizeof(buf),
	    preferred));
}

int
derp_conn_send(struct derp_conn *c, const uint8_t dst[DERP_KEY_LEN],
    const uint8_t *pkt, size_t len)
{
	size_t n = DERP_HEADER_LEN + DERP_KEY_LEN + len;
	ssize_t w;

	if (c->state != DERP_CONN_READY || len > DERP_MAX_PACKET_SIZE ||
	    !out_reserve(c, n)) {
		c->st.tx_dropped++;
		return -1;
	}
	w = derp_build_send_packet(c->out + c->out_len, n, dst, pkt, len);
	if (w < 0) {
		c->st.tx_dropped++;
		return -1;
	}
	c->out_len += (size_t)w;
	c->st.tx_packets++;
	c->st.tx_bytes += len;
	return 0;
}
