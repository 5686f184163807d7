/*
 * Disco packets: the wrapper opened with a fixed key pair (the seed corpus
 * holds packets sealed to it), and the input parsed as an inner message,
 * marshalled back and sealed/opened again.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <sodium.h>

#include "demux.h"
#include "disco.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Sender private key 0x11.. (public below), receiver private key 0x22... */
static const uint8_t sender_pub[32] = {
	0x7b, 0x4e, 0x90, 0x9b, 0xbe, 0x7f, 0xfe, 0x44,
	0xc4, 0x65, 0xa2, 0x20, 0x03, 0x7d, 0x60, 0x8e,
	0xe3, 0x58, 0x97, 0xd3, 0x1e, 0xf9, 0x72, 0xf0,
	0x7f, 0x74, 0x89, 0x2c, 0xb0, 0xf7, 0x3f, 0x13,
};
static uint8_t shared[32];
static uint8_t inner[8192], again[8192], pkt[8192 + DISCO_OVERHEAD];

static void
check_inner(const uint8_t *p, size_t n)
{
	struct disco_msg m, m2;
	ssize_t len;

	if (n > sizeof(again) || disco_parse(p, n, &m) != 0)
		return;
	if (m.type == DISCO_CALL_ME_MAYBE && m.cmm.n > DISCO_CMM_MAX)
		__builtin_trap();
	len = disco_marshal(&m, again, sizeof(again));
	if (len < 2 || disco_parse(again, (size_t)len, &m2) != 0 ||
	    m2.type != m.type)
		__builtin_trap();
	switch (m.type) {
	case DISCO_PING:
		if (memcmp(m.ping.txid, m2.ping.txid, DISCO_TXID_LEN) != 0 ||
		    m.ping.has_node_key != m2.ping.has_node_key ||
		    memcmp(m.ping.node_key, m2.ping.node_key,
		    DISCO_KEY_LEN) != 0 || m.ping.padding != m2.ping.padding)
			__builtin_trap();
		break;
	case DISCO_PONG:
		if (memcmp(&m.pong, &m2.pong, sizeof(m.pong)) != 0)
			__builtin_trap();
		break;
	case DISCO_CALL_ME_MAYBE:
		if (m2.cmm.n != m.cmm.n)
			__builtin_trap();
		break;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	uint8_t priv[32];
	ssize_t n, s;

	if (!ready) {
		if (sodium_init() < 0)
			__builtin_trap();
		memset(priv, 0x22, sizeof(priv));
		if (disco_shared_key(shared, sender_pub, priv) != 0)
			__builtin_trap();
		ready = 1;
	}
	if (disco_looks_like_wrapper(data, size)) {
		if (demux_classify(data, size) != PKT_DISCO ||
		    disco_sender(data, size) != data + DISCO_MAGIC_LEN)
			__builtin_trap();
		n = disco_open(data, size, shared, inner, sizeof(inner));
		if (n >= 0)
			check_inner(inner, (size_t)n);
	}
	check_inner(data, size);
	/* Whatever is sealed opens to the same bytes. */
	if (size <= sizeof(inner)) {
		s = disco_seal(pkt, sizeof(pkt), sender_pub, shared, data, size);
		if (s != (ssize_t)(size + DISCO_OVERHEAD) ||
		    disco_open(pkt, (size_t)s, shared, inner, sizeof(inner)) !=
		    (ssize_t)size || memcmp(inner, data, size) != 0)
			__builtin_trap();
	}
	return 0;
}
