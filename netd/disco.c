/* Disco packets: the outer NaCl box and the Ping/Pong/CallMeMaybe bodies. */
#include <string.h>

#include <sodium.h>

#include "disco.h"

bool
disco_looks_like(const uint8_t *p, size_t len)
{
	return len >= DISCO_DEMUX_LEN &&
	    memcmp(p, DISCO_MAGIC, DISCO_MAGIC_LEN) == 0;
}

bool
disco_looks_like_wrapper(const uint8_t *p, size_t len)
{
	return len >= DISCO_HEADER_LEN &&
	    memcmp(p, DISCO_MAGIC, DISCO_MAGIC_LEN) == 0;
}

const uint8_t *
disco_sender(const uint8_t *p, size_t len)
{
	return disco_looks_like_wrapper(p, len) ? p + DISCO_MAGIC_LEN : NULL;
}

static ssize_t
marshal_ping(const struct disco_ping *m, uint8_t *d, size_t cap)
{
	size_t n = DISCO_TXID_LEN + (m->has_node_key ? DISCO_KEY_LEN : 0);

	if (m->padding > cap || n > cap - m->padding)
		return -1;
	memcpy(d, m->txid, DISCO_TXID_LEN);
	if (m->has_node_key)
		memcpy(d + DISCO_TXID_LEN, m->node_key, DISCO_KEY_LEN);
	memset(d + n, 0, m->padding);
	return (ssize_t)(n + m->padding);
}

static ssize_t
marshal_pong(const struct disco_pong *m, uint8_t *d, size_t cap)
{
	if (cap < DISCO_PONG_LEN - 2)
		return -1;
	memcpy(d, m->txid, DISCO_TXID_LEN);
	ipport_put(d + DISCO_TXID_LEN, &m->src);
	return DISCO_PONG_LEN - 2;
}

static ssize_t
marshal_cmm(const struct disco_call_me_maybe *m, uint8_t *d, size_t cap)
{
	size_t i;

	if (m->n > DISCO_CMM_MAX || m->n > cap / IPPORT_WIRE_LEN)
		return -1;
	for (i = 0; i < m->n; i++)
		ipport_put(d + i * IPPORT_WIRE_LEN, &m->ep[i]);
	return (ssize_t)(m->n * IPPORT_WIRE_LEN);
}

ssize_t
disco_marshal(const struct disco_msg *m, uint8_t *out, size_t cap)
{
	ssize_t n;

	if (cap < 2)
		return -1;
	out[0] = (uint8_t)m->type;
	out[1] = 0;	/* every message type is still at version 0 */
	switch (m->type) {
	case DISCO_PING:
		n = marshal_ping(&m->ping, out + 2, cap - 2);
		break;
	case DISCO_PONG:
		n = marshal_pong(&m->pong, out + 2, cap - 2);
		break;
	case DISCO_CALL_ME_MAYBE:
		n = marshal_cmm(&m->cmm, out + 2, cap - 2);
		break;
	default:
		return -1;
	}
	return n < 0 ? -1 : n + 2;
}

/* What follows the txid is the node key if there is room, then padding. */
static int
parse_ping(const uint8_t *p, size_t len, struct disco_ping *m)
{
	if (len < DISCO_TXID_LEN)
		return -1;
	memcpy(m->txid, p, DISCO_TXID_LEN);
	p += DISCO_TXID_LEN;
	len -= DISCO_TXID_LEN;
	m->has_node_key = len >= DISCO_KEY_LEN;
	if (m->has_node_key) {
		memcpy(m->node_key, p, DISCO_KEY_LEN);
		len -= DISCO_KEY_LEN;
	} else {
		memset(m->node_key, 0, DISCO_KEY_LEN);
	}
	m->padding = len;
	return 0;
}

static int
parse_pong(const uint8_t *p, size_t len, struct disco_pong *m)
{
	if (len < DISCO_PONG_LEN - 2)
		return -1;
	memcpy(m->txid, p, DISCO_TXID_LEN);
	ipport_get(&m->src, p + DISCO_TXID_LEN);
	return 0;
}

/*
 * Tailscale reads a CallMeMaybe of another version, or whose length is not
 * a whole number of endpoints, as one with no endpoints, not as an error.
 */
static int
parse_cmm(uint8_t version, const uint8_t *p, size_t len,
    struct disco_call_me_maybe *m)
{
	size_t i, total;

	m->n = m->n_dropped = 0;
	if (version != 0 || len % IPPORT_WIRE_LEN != 0)
		return 0;
	total = len / IPPORT_WIRE_LEN;
	for (i = 0; i < total && i < DISCO_CMM_MAX; i++)
		ipport_get(&m->ep[i], p + i * IPPORT_WIRE_LEN);
	m->n = i;
	m->n_dropped = total - i;
	return 0;
}

int
disco_parse(const uint8_t *p, size_t len, struct disco_msg *m)
{
	if (len < 2)
		return -1;
	m->type = (enum disco_type)p[0];
	m->version = p[1];
	switch (p[0]) {
	case DISCO_PING:
		return parse_ping(p + 2, len - 2, &m->ping);
	case DISCO_PONG:
		return parse_pong(p + 2, len - 2, &m->pong);
	case DISCO_CALL_ME_MAYBE:
		return parse_cmm(p[1], p + 2, len - 2, &m->cmm);
	default:
		return -1;
	}
}

int
disco_shared_key(uint8_t shared[DISCO_KEY_LEN],
    const uint8_t peer_pub[DISCO_KEY_LEN],
    const uint8_t own_priv[DISCO_KEY_LEN])
{
	return crypto_box_beforenm(shared, peer_pub, own_priv) == 0 ? 0 : -1;
}

ssize_t
disco_seal(uint8_t *out, size_t cap, const uint8_t own_pub[DISCO_KEY_LEN],
    const uint8_t shared[DISCO_KEY_LEN], const uint8_t *inner,
    size_t inner_len)
{
	uint8_t *nonce;

	if (inner_len > cap || cap - inner_len < DISCO_OVERHEAD)
		return -1;
	nonce = out + DISCO_DEMUX_LEN;
	memcpy(out, DISCO_MAGIC, DISCO_MAGIC_LEN);
	memcpy(out + DISCO_MAGIC_LEN, own_pub, DISCO_KEY_LEN);
	randombytes_buf(nonce, DISCO_NONCE_LEN);
	crypto_box_easy_afternm(out + DISCO_HEADER_LEN, inner, inner_len,
	    nonce, shared);
	return (ssize_t)(DISCO_OVERHEAD + inner_len);
}

ssize_t
disco_open(const uint8_t *pkt, size_t len, const uint8_t shared[DISCO_KEY_LEN],
    uint8_t *inner, size_t cap)
{
	size_t n;

	if (!disco_looks_like_wrapper(pkt, len) || len < DISCO_OVERHEAD)
		return -1;
	n = len - DISCO_OVERHEAD;
	if (n > cap)
		return -1;
	if (crypto_box_open_easy_afternm(inner, pkt + DISCO_HEADER_LEN,
	    len - DISCO_HEADER_LEN, pkt + DISCO_MAGIC_LEN + DISCO_KEY_LEN,
	    shared) != 0)
		return -1;
	return (ssize_t)n;
}
