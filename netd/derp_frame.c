/* DERP frames: build, parse, and read them incrementally from a stream. */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include "derp_frame.h"

/* Larger writes are refused by the Go writer too. */
#define DERP_MAX_WRITE		(10u << 20)

static void
put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static uint32_t
get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

/* Writes the header for a payload of len and returns where it goes. */
static uint8_t *
frame_start(uint8_t *out, size_t cap, uint8_t type, size_t len)
{
	if (len > DERP_MAX_WRITE || cap < DERP_HEADER_LEN ||
	    len > cap - DERP_HEADER_LEN)
		return NULL;
	out[0] = type;
	put32(out + 1, (uint32_t)len);
	return out + DERP_HEADER_LEN;
}

ssize_t
derp_build_frame(uint8_t *out, size_t cap, uint8_t type,
    const uint8_t *payload, size_t len)
{
	uint8_t *p = frame_start(out, cap, type, len);

	if (p == NULL)
		return -1;
	if (len > 0)
		memmove(p, payload, len);
	return (ssize_t)(DERP_HEADER_LEN + len);
}

ssize_t
derp_build_server_key(uint8_t *out, size_t cap,
    const uint8_t server_pub[DERP_KEY_LEN])
{
	uint8_t *p = frame_start(out, cap, DERP_FRAME_SERVER_KEY,
	    DERP_SERVER_KEY_LEN);

	if (p == NULL)
		return -1;
	memcpy(p, DERP_MAGIC, DERP_MAGIC_LEN);
	memcpy(p + DERP_MAGIC_LEN, server_pub, DERP_KEY_LEN);
	return DERP_HEADER_LEN + DERP_SERVER_KEY_LEN;
}

/* Field order and omissions as Go's encoding/json writes ClientInfo. */
static char *
client_info_json(const struct derp_client_info *ci)
{
	json_t *o = json_object();
	char *s;

	if (o == NULL)
		return NULL;
	if (ci->mesh_key != NULL && ci->mesh_key[0] != '\0')
		json_object_set_new(o, "meshKey", json_string(ci->mesh_key));
	json_object_set_new(o, "version", json_integer(DERP_PROTOCOL_VERSION));
	json_object_set_new(o, "CanAckPings", json_boolean(ci->can_ack_pings));
	if (ci->is_prober)
		json_object_set_new(o, "IsProber", json_true());
	if (ci->app_name != NULL && ci->app_name[0] != '\0')
		json_object_set_new(o, "AppName", json_string(ci->app_name));
	s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(o);
	return s;
}

ssize_t
derp_build_client_info(uint8_t *out, size_t cap,
    const uint8_t client_pub[DERP_KEY_LEN],
    const uint8_t client_priv[DERP_KEY_LEN],
    const uint8_t server_pub[DERP_KEY_LEN], const struct derp_client_info *ci)
{
	char *json;
	size_t jlen, len;
	uint8_t *p;
	ssize_t rc = -1;

	if ((json = client_info_json(ci)) == NULL)
		return -1;
	jlen = strlen(json);
	len = DERP_KEY_LEN + DERP_NONCE_LEN + DERP_MAC_LEN + jlen;
	if (jlen <= DERP_MAX_INFO_LEN &&
	    (p = frame_start(out, cap, DERP_FRAME_CLIENT_INFO, len)) != NULL) {
		memcpy(p, client_pub, DERP_KEY_LEN);
		randombytes_buf(p + DERP_KEY_LEN, DERP_NONCE_LEN);
		if (crypto_box_easy(p + DERP_KEY_LEN + DERP_NONCE_LEN,
		    (const uint8_t *)json, jlen, p + DERP_KEY_LEN, server_pub,
		    client_priv) == 0)
			rc = (ssize_t)(DERP_HEADER_LEN + len);
	}
	free(json);
	return rc;
}

static ssize_t
build_keyed(uint8_t *out, size_t cap, uint8_t type,
    const uint8_t key[DERP_KEY_LEN], const uint8_t *pkt, size_t len)
{
	uint8_t *p;

	if (len > DERP_MAX_PACKET_SIZE ||
	    (p = frame_start(out, cap, type, DERP_KEY_LEN + len)) == NULL)
		return -1;
	memcpy(p, key, DERP_KEY_LEN);
	if (len > 0)
		memcpy(p + DERP_KEY_LEN, pkt, len);
	return (ssize_t)(DERP_HEADER_LEN + DERP_KEY_LEN + len);
}

ssize_t
derp_build_send_packet(uint8_t *out, size_t cap,
    const uint8_t dst[DERP_KEY_LEN], const uint8_t *pkt, size_t len)
{
	return build_keyed(out, cap, DERP_FRAME_SEND_PACKET, dst, pkt, len);
}

ssize_t
derp_build_recv_packet(uint8_t *out, size_t cap,
    const uint8_t src[DERP_KEY_LEN], const uint8_t *pkt, size_t len)
{
	return build_keyed(out, cap, DERP_FRAME_RECV_PACKET, src, pkt, len);
}

ssize_t
derp_build_keep_alive(uint8_t *out, size_t cap)
{
	return derp_build_frame(out, cap, DERP_FRAME_KEEP_ALIVE, NULL, 0);
}

ssize_t
derp_build_note_preferred(uint8_t *out, size_t cap, bool preferred)
{
	uint8_t b = preferred ? 0x01 : 0x00;

	return derp_build_frame(out, cap, DERP_FRAME_NOTE_PREFERRED, &b, 1);
}

ssize_t
derp_build_peer_gone(uint8_t *out, size_t cap,
    const uint8_t peer[DERP_KEY_LEN], uint8_t reason)
{
	uint8_t *p = frame_start(out, cap, DERP_FRAME_PEER_GONE,
	    DERP_KEY_LEN + 1);

	if (p == NULL)
		return -1;
	memcpy(p, peer, DERP_KEY_LEN);
	p[DERP_KEY_LEN] = reason;
	return DERP_HEADER_LEN + DERP_KEY_LEN + 1;
}

ssize_t
derp_build_peer_present(uint8_t *out, size_t cap,
    const struct derp_peer_present *pp)
{
	size_t len = DERP_KEY_LEN;
	uint8_t *p;

	if (pp->has_addr)
		len += IPPORT_WIRE_LEN + (pp->has_flags ? 1 : 0);
	if ((p = frame_start(out, cap, DERP_FRAME_PEER_PRESENT, len)) == NULL)
		return -1;
	memcpy(p, pp->key, DERP_KEY_LEN);
	if (pp->has_addr) {
		ipport_put(p + DERP_KEY_LEN, &pp->addr);
		if (pp->has_flags)
			p[DERP_KEY_LEN + IPPORT_WIRE_LEN] = pp->flags;
	}
	return (ssize_t)(DERP_HEADER_LEN + len);
}

ssize_t
derp_build_ping(uint8_t *out, size_t cap, uint8_t type,
    const uint8_t data[DERP_PING_LEN])
{
	if (type != DERP_FRAME_PING && type != DERP_FRAME_PONG)
		return -1;
	return derp_build_frame(out, cap, type, data, DERP_PING_LEN);
}

ssize_t
derp_build_health(uint8_t *out, size_t cap, const char *problem)
{
	return derp_build_frame(out, cap, DERP_FRAME_HEALTH,
	    (const uint8_t *)problem, strlen(problem));
}

ssize_t
derp_build_restarting(uint8_t *out, size_t cap, uint32_t reconnect_in_ms,
    uint32_t try_for_ms)
{
	uint8_t *p = frame_start(out, cap, DERP_FRAME_RESTARTING, 8);

	if (p == NULL)
		return -1;
	put32(p, reconnect_in_ms);
	put32(p + 4, try_for_ms);
	return DERP_HEADER_LEN + 8;
}

/* Extra bytes after the key are reserved for future use and ignored. */
int
derp_parse_server_key(const uint8_t *p, size_t len,
    uint8_t server_pub[DERP_KEY_LEN])
{
	if (len < DERP_SERVER_KEY_LEN ||
	    memcmp(p, DERP_MAGIC, DERP_MAGIC_LEN) != 0)
		return -1;
	memcpy(server_pub, p + DERP_MAGIC_LEN, DERP_KEY_LEN);
	return 0;
}

static int
json_int_field(json_t *o, const char *name, int64_t *v)
{
	json_t *f = json_object_get(o, name);

	if (f == NULL || json_is_null(f)) {
		*v = 0;
		return 0;
	}
	if (!json_is_integer(f) || json_integer_value(f) < 0)
		return -1;
	*v = json_integer_value(f);
	return 0;
}

int
derp_open_server_info(const uint8_t *p, size_t len,
    const uint8_t client_priv[DERP_KEY_LEN],
    const uint8_t server_pub[DERP_KEY_LEN], struct derp_server_info *si)
{
	uint8_t *msg;
	size_t mlen;
	json_t *o;
	int rc = -1;

	if (len < DERP_NONCE_LEN + DERP_MAC_LEN ||
	    len > DERP_NONCE_LEN + DERP_MAX_INFO_LEN)
		return -1;
	mlen = len - DERP_NONCE_LEN - DERP_MAC_LEN;
	if ((msg = malloc(mlen + 1)) == NULL)
		return -1;
	if (crypto_box_open_easy(msg, p + DERP_NONCE_LEN,
	    len - DERP_NONCE_LEN, p, server_pub, client_priv) == 0 &&
	    (o = json_loadb((const char *)msg, mlen, 0, NULL)) != NULL) {
		if (json_is_object(o) &&
		    json_int_field(o, "version", &si->version) == 0 &&
		    json_int_field(o, "TokenBucketBytesPerSecond",
		    &si->token_bucket_bytes_per_second) == 0 &&
		    json_int_field(o, "TokenBucketBytesBurst",
		    &si->token_bucket_bytes_burst) == 0)
			rc = 0;
		json_decref(o);
	}
	free(msg);
	return rc;
}

int
derp_parse_packet(const uint8_t *p, size_t len, const uint8_t **key,
    const uint8_t **pkt, size_t *pkt_len)
{
	if (len < DERP_KEY_LEN || len - DERP_KEY_LEN > DERP_MAX_PACKET_SIZE)
		return -1;
	*key = p;
	*pkt = p + DERP_KEY_LEN;
	*pkt_len = len - DERP_KEY_LEN;
	return 0;
}

int
derp_parse_note_preferred(const uint8_t *p, size_t len, bool *preferred)
{
	if (len < 1)
		return -1;
	*preferred = p[0] != 0;
	return 0;
}

int
derp_parse_peer_gone(const uint8_t *p, size_t len,
    uint8_t peer[DERP_KEY_LEN], uint8_t *reason)
{
	if (len < DERP_KEY_LEN)
		return -1;
	memcpy(peer, p, DERP_KEY_LEN);
	*reason = len > DERP_KEY_LEN ? p[DERP_KEY_LEN] :
	    DERP_PEER_GONE_DISCONNECTED;
	return 0;
}

/* Each optional part is present only if all of it is. */
int
derp_parse_peer_present(const uint8_t *p, size_t len,
    struct derp_peer_present *pp)
{
	if (len < DERP_KEY_LEN)
		return -1;
	memset(pp, 0, sizeof(*pp));
	memcpy(pp->key, p, DERP_KEY_LEN);
	p += DERP_KEY_LEN;
	len -= DERP_KEY_LEN;
	if (len < IPPORT_WIRE_LEN)
		return 0;
	pp->has_addr = true;
	ipport_get(&pp->addr, p);
	if (len > IPPORT_WIRE_LEN) {
		pp->has_flags = true;
		pp->flags = p[IPPORT_WIRE_LEN];
	}
	return 0;
}

int
derp_parse_ping(const uint8_t *p, size_t len, uint8_t data[DERP_PING_LEN])
{
	if (len < DERP_PING_LEN)
		return -1;
	memcpy(data, p, DERP_PING_LEN);
	return 0;
}

int
derp_parse_health(const uint8_t *p, size_t len, char *text, size_t cap)
{
	size_t i;

	if (cap == 0)
		return -1;
	for (i = 0; i < len && i < cap - 1; i++)
		text[i] = p[i] >= 0x20 && p[i] < 0x7f ? (char)p[i] : '?';
	text[i] = '\0';
	return 0;
}

int
derp_parse_restarting(const uint8_t *p, size_t len,
    uint32_t *reconnect_in_ms, uint32_t *try_for_ms)
{
	if (len < 8)
		return -1;
	*reconnect_in_ms = get32(p);
	*try_for_ms = get32(p + 4);
	return 0;
}

void
derp_reader_init(struct derp_reader *r, uint32_t max_frame)
{
	memset(r, 0, sizeof(*r));
	r->max_frame = max_frame;
}

void
derp_reader_free(struct derp_reader *r)
{
	free(r->buf);
	r->buf = NULL;
	r->buf_cap = 0;
}

/* Takes header bytes; on a complete header, sizes the payload buffer. */
static enum derp_read
reader_header(struct derp_reader *r, const uint8_t **data, size_t *len)
{
	size_t n = DERP_HEADER_LEN - r->hdr_have;
	uint8_t *nbuf;

	if (n > *len)
		n = *len;
	if (n > 0) {	/* *data may be NULL with no input left */
		memcpy(r->hdr + r->hdr_have, *data, n);
		r->hdr_have += n;
		*data += n;
		*len -= n;
	}
	if (r->hdr_have < DERP_HEADER_LEN)
		return DERP_READ_MORE;
	r->type = r->hdr[0];
	r->want = get32(r->hdr + 1);
	r->have = 0;
	if (r->want > r->max_frame)
		return DERP_READ_ERROR;
	if (r->want > r->buf_cap) {
		if ((nbuf = realloc(r->buf, r->want)) == NULL)
			return DERP_READ_ERROR;
		r->buf = nbuf;
		r->buf_cap = r->want;
	}
	return DERP_READ_FRAME;
}

enum derp_read
derp_reader_next(struct derp_reader *r, const uint8_t **data, size_t *len,
    struct derp_frame *frame)
{
	size_t n;

	if (r->failed)
		return DERP_READ_ERROR;
	if (r->hdr_have < DERP_HEADER_LEN) {
		switch (reader_header(r, data, len)) {
		case DERP_READ_MORE:
			return DERP_READ_MORE;
		case DERP_READ_ERROR:
			r->failed = true;
			return DERP_READ_ERROR;
		case DERP_READ_FRAME:
			break;
		}
	}
	n = r->want - r->have;
	if (n > *len)
		n = *len;
	if (n > 0) {
		memcpy(r->buf + r->have, *data, n);
		r->have += (uint32_t)n;
		*data += n;
		*len -= n;
	}
	if (r->have < r->want)
		return DERP_READ_MORE;
	frame->type = r->type;
	frame->len = r->want;
	frame->payload = r->buf;
	r->hdr_have = 0;	/* the next call starts a new frame */
	return DERP_READ_FRAME;
}

const char *
derp_frame_type_name(uint8_t type)
{
	switch (type) {
	case DERP_FRAME_SERVER_KEY:	return "ServerKey";
	case DERP_FRAME_CLIENT_INFO:	return "ClientInfo";
	case DERP_FRAME_SERVER_INFO:	return "ServerInfo";
	case DERP_FRAME_SEND_PACKET:	return "SendPacket";
	case DERP_FRAME_RECV_PACKET:	return "RecvPacket";
	case DERP_FRAME_KEEP_ALIVE:	return "KeepAlive";
	case DERP_FRAME_NOTE_PREFERRED:	return "NotePreferred";
	case DERP_FRAME_PEER_GONE:	return "PeerGone";
	case DERP_FRAME_PEER_PRESENT:	return "PeerPresent";
	case DERP_FRAME_FORWARD_PACKET:	return "ForwardPacket";
	case DERP_FRAME_WATCH_CONNS:	return "WatchConns";
	case DERP_FRAME_CLOSE_PEER:	return "ClosePeer";
	case DERP_FRAME_PING:		return "Ping";
	case DERP_FRAME_PONG:		return "Pong";
	case DERP_FRAME_HEALTH:		return "Health";
	case DERP_FRAME_RESTARTING:	return "Restarting";
	}
	return "unknown";
}
