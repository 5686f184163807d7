/*
 * Disco: inner messages against the vectors of Tailscale's
 * disco/disco_test.go, and the outer box against a packet sealed by PyNaCl
 * and against libsodium's unprecomputed crypto_box.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <sodium.h>

#include "disco.h"

static const uint8_t txid[12] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12 };

/* "01 00 0a ..." as the Go test writes its vectors. */
static size_t
unhex(const char *s, uint8_t *out)
{
	size_t n = 0;

	while (*s != '\0') {
		out[n++] = (uint8_t)strtoul(s, NULL, 16);
		s += s[2] == ' ' ? 3 : 2;
	}
	return n;
}

static void
check_vector(const struct disco_msg *m, const char *want_hex)
{
	uint8_t want[512], got[512];
	struct disco_msg back;
	size_t wn = unhex(want_hex, want);
	ssize_t n = disco_marshal(m, got, sizeof(got));

	assert_int_equal(n, wn);
	assert_memory_equal(got, want, wn);
	/* Exactly enough room works; one byte less does not. */
	assert_int_equal(disco_marshal(m, got, wn), wn);
	assert_int_equal(disco_marshal(m, got, wn - 1), -1);
	memset(&back, 0xa5, sizeof(back));
	assert_int_equal(disco_parse(got, (size_t)n, &back), 0);
	assert_int_equal(back.type, m->type);
	assert_int_equal(back.version, 0);
	switch (m->type) {
	case DISCO_PING:
		assert_memory_equal(back.ping.txid, m->ping.txid, 12);
		assert_int_equal(back.ping.has_node_key, m->ping.has_node_key);
		if (m->ping.has_node_key)
			assert_memory_equal(back.ping.node_key,
			    m->ping.node_key, 32);
		assert_int_equal(back.ping.padding, m->ping.padding);
		break;
	case DISCO_PONG:
		assert_memory_equal(back.pong.txid, m->pong.txid, 12);
		assert_memory_equal(back.pong.src.ip, m->pong.src.ip, 16);
		assert_int_equal(back.pong.src.port, m->pong.src.port);
		break;
	case DISCO_CALL_ME_MAYBE:
		assert_int_equal(back.cmm.n, m->cmm.n);
		assert_int_equal(back.cmm.n_dropped, 0);
		for (size_t i = 0; i < m->cmm.n; i++) {
			assert_memory_equal(back.cmm.ep[i].ip,
			    m->cmm.ep[i].ip, 16);
			assert_int_equal(back.cmm.ep[i].port,
			    m->cmm.ep[i].port);
		}
		break;
	}
}

static void
set_test_node_key(struct disco_ping *p)
{
	p->has_node_key = true;
	memset(p->node_key, 0, 32);
	p->node_key[1] = 1;
	p->node_key[2] = 2;
	p->node_key[30] = 30;
	p->node_key[31] = 31;
}

static void
test_ping_vectors(void **state)
{
	struct disco_msg m = { .type = DISCO_PING };

	(void)state;
	memcpy(m.ping.txid, txid, 12);
	check_vector(&m, "01 00 01 02 03 04 05 06 07 08 09 0a 0b 0c");
	set_test_node_key(&m.ping);
	check_vector(&m, "01 00 01 02 03 04 05 06 07 08 09 0a 0b 0c 00 01 02 00"
	    " 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00"
	    " 00 00 00 00 1e 1f");
	m.ping.padding = 3;
	check_vector(&m, "01 00 01 02 03 04 05 06 07 08 09 0a 0b 0c 00 01 02 00"
	    " 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00"
	    " 00 00 00 00 1e 1f 00 00 00");
	m.ping.has_node_key = false;
	check_vector(&m, "01 00 01 02 03 04 05 06 07 08 09 0a 0b 0c 00 00 00");
}

static void
test_pong_vectors(void **state)
{
	struct disco_msg m = { .type = DISCO_PONG };
	static const uint8_t v6[16] = { 0xfe, 0xd0, [15] = 0x12 };

	(void)state;
	memcpy(m.pong.txid, txid, 12);
	ipport_set_v4(&m.pong.src, (const uint8_t[]){ 2, 3, 4, 5 }, 1234);
	check_vector(&m, "02 00 01 02 03 04 05 06 07 08 09 0a 0b 0c 00 00 00 00"
	    " 00 00 00 00 00 00 ff ff 02 03 04 05 04 d2");
	ipport_set_v6(&m.pong.src, v6, 6666);
	check_vector(&m, "02 00 01 02 03 04 05 06 07 08 09 0a 0b 0c fe d0 00 00"
	    " 00 00 00 00 00 00 00 00 00 00 00 12 1a 0a");
}

static void
test_call_me_maybe_vectors(void **state)
{
	struct disco_msg m = { .type = DISCO_CALL_ME_MAYBE };
	static const uint8_t v6[16] = { 0x20, 0x01, [14] = 0x34, [15] = 0x56 };

	(void)state;
	check_vector(&m, "03 00");
	m.cmm.n = 2;
	ipport_set_v4(&m.cmm.ep[0], (const uint8_t[]){ 1, 2, 3, 4 }, 567);
	ipport_set_v6(&m.cmm.ep[1], v6, 789);
	check_vector(&m, "03 00 00 00 00 00 00 00 00 00 00 00 ff ff 01 02 03 04"
	    " 02 37 20 01 00 00 00 00 00 00 00 00 00 00 00 00 34 56 03 15");
}

static void
test_parse_rules(void **state)
{
	uint8_t b[2 + 18 * (DISCO_CMM_MAX + 3)];
	struct disco_msg m;

	(void)state;
	memset(b, 0, sizeof(b));
	/* Too short for a type and version, or for the type's fields. */
	assert_int_equal(disco_parse(b, 1, &m), -1);
	b[0] = DISCO_PING;
	assert_int_equal(disco_parse(b, 13, &m), -1);
	assert_int_equal(disco_parse(b, 14, &m), 0);
	assert_false(m.ping.has_node_key);
	/* 31 bytes after the txid: not a key, all padding. */
	assert_int_equal(disco_parse(b, 14 + 31, &m), 0);
	assert_false(m.ping.has_node_key);
	assert_int_equal(m.ping.padding, 31);
	/* A ping of another version is still read (trailing bytes too). */
	b[1] = 7;
	assert_int_equal(disco_parse(b, 14 + 40, &m), 0);
	assert_true(m.ping.has_node_key);
	assert_int_equal(m.ping.padding, 8);
	b[0] = DISCO_PONG;
	b[1] = 0;
	assert_int_equal(disco_parse(b, 31, &m), -1);
	assert_int_equal(disco_parse(b, 32, &m), 0);
	assert_int_equal(disco_parse(b, 40, &m), 0);
	/* Unknown types, including the peer-relay ones we do not speak. */
	b[0] = 0x04;
	assert_int_equal(disco_parse(b, 74, &m), -1);
	b[0] = 0x00;
	assert_int_equal(disco_parse(b, 40, &m), -1);
	/* CallMeMaybe that is not whole endpoints, or not version 0: none. */
	b[0] = DISCO_CALL_ME_MAYBE;
	assert_int_equal(disco_parse(b, 2 + 17, &m), 0);
	assert_int_equal(m.cmm.n, 0);
	b[1] = 1;
	assert_int_equal(disco_parse(b, 2 + 18, &m), 0);
	assert_int_equal(m.cmm.n, 0);
	/* More endpoints than we keep: the rest are counted. */
	b[1] = 0;
	assert_int_equal(disco_parse(b, sizeof(b), &m), 0);
	assert_int_equal(m.cmm.n, DISCO_CMM_MAX);
	assert_int_equal(m.cmm.n_dropped, 3);
	/* Unknown message type to marshal. */
	m.type = (enum disco_type)9;
	assert_int_equal(disco_marshal(&m, b, sizeof(b)), -1);
}

/* Keys 0x11.. (sender) and 0x22.. (receiver); PyNaCl Box(a, B).encrypt. */
static const uint8_t pub_a[32] = {
	0x7b, 0x4e, 0x90, 0x9b, 0xbe, 0x7f, 0xfe, 0x44,
	0xc4, 0x65, 0xa2, 0x20, 0x03, 0x7d, 0x60, 0x8e,
	0xe3, 0x58, 0x97, 0xd3, 0x1e, 0xf9, 0x72, 0xf0,
	0x7f, 0x74, 0x89, 0x2c, 0xb0, 0xf7, 0x3f, 0x13,
};
static const uint8_t pynacl_ping[124] = {
	0x54, 0x53, 0xf0, 0x9f, 0x92, 0xac, 0x7b, 0x4e,
	0x90, 0x9b, 0xbe, 0x7f, 0xfe, 0x44, 0xc4, 0x65,
	0xa2, 0x20, 0x03, 0x7d, 0x60, 0x8e, 0xe3, 0x58,
	0x97, 0xd3, 0x1e, 0xf9, 0x72, 0xf0, 0x7f, 0x74,
	0x89, 0x2c, 0xb0, 0xf7, 0x3f, 0x13, 0x00, 0x01,
	0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09,
	0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x11,
	0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x4b, 0x8e,
	0x85, 0xb2, 0x60, 0xb6, 0x1e, 0x20, 0x37, 0x57,
	0x90, 0x6d, 0x97, 0x9e, 0xca, 0x42, 0x5a, 0x8c,
	0x18, 0x94, 0x5d, 0x97, 0xff, 0xce, 0x3d, 0xa5,
	0x3c, 0xa6, 0xda, 0x5d, 0x72, 0xba, 0xe5, 0xd5,
	0x12, 0x74, 0xb4, 0x3d, 0x01, 0x79, 0xa3, 0xf5,
	0x02, 0x66, 0x6f, 0xe1, 0xce, 0x9e, 0x48, 0x4d,
	0x34, 0x80, 0xaa, 0x8e, 0x50, 0x4b, 0x80, 0xab,
	0x5c, 0xc6, 0x23, 0x2a,
};

static void
test_open_pynacl(void **state)
{
	uint8_t priv_b[32], shared[32], inner[128], bad[sizeof(pynacl_ping)];
	struct disco_msg m;
	ssize_t n;

	(void)state;
	memset(priv_b, 0x22, sizeof(priv_b));
	assert_true(disco_looks_like_wrapper(pynacl_ping, sizeof(pynacl_ping)));
	assert_memory_equal(disco_sender(pynacl_ping, sizeof(pynacl_ping)),
	    pub_a, 32);
	assert_int_equal(disco_shared_key(shared, pub_a, priv_b), 0);
	n = disco_open(pynacl_ping, sizeof(pynacl_ping), shared, inner,
	    sizeof(inner));
	assert_int_equal(n, DISCO_PING_LEN);
	assert_int_equal(disco_parse(inner, (size_t)n, &m), 0);
	assert_int_equal(m.type, DISCO_PING);
	assert_memory_equal(m.ping.txid, txid, 12);
	assert_true(m.ping.has_node_key);
	/* Output buffer one byte short. */
	assert_int_equal(disco_open(pynacl_ping, sizeof(pynacl_ping), shared,
	    inner, DISCO_PING_LEN - 1), -1);
	/* Any flipped bit in nonce, MAC or ciphertext fails to open. */
	for (size_t i = DISCO_DEMUX_LEN; i < sizeof(bad); i += 7) {
		memcpy(bad, pynacl_ping, sizeof(bad));
		bad[i] ^= 0x01;
		assert_int_equal(disco_open(bad, sizeof(bad), shared, inner,
		    sizeof(inner)), -1);
	}
	/* Truncations. */
	assert_int_equal(disco_open(pynacl_ping, DISCO_OVERHEAD - 1, shared,
	    inner, sizeof(inner)), -1);
	assert_int_equal(disco_open(pynacl_ping, sizeof(pynacl_ping) - 1,
	    shared, inner, sizeof(inner)), -1);
}

static void
test_seal_roundtrip(void **state)
{
	uint8_t a_pub[32], a_priv[32], b_pub[32], b_priv[32], c_pub[32],
	    c_priv[32];
	uint8_t s_ab[32], s_ba[32], s_cb[32];
	uint8_t inner[64], pkt1[256], pkt2[256], out[64];
	struct disco_msg m = { .type = DISCO_PONG };
	ssize_t il, n1, n2;

	(void)state;
	crypto_box_keypair(a_pub, a_priv);
	crypto_box_keypair(b_pub, b_priv);
	crypto_box_keypair(c_pub, c_priv);
	assert_int_equal(disco_shared_key(s_ab, b_pub, a_priv), 0);
	assert_int_equal(disco_shared_key(s_ba, a_pub, b_priv), 0);
	assert_int_equal(disco_shared_key(s_cb, b_pub, c_priv), 0);
	memcpy(m.pong.txid, txid, 12);
	ipport_set_v4(&m.pong.src, (const uint8_t[]){ 192, 0, 2, 1 }, 41641);
	il = disco_marshal(&m, inner, sizeof(inner));
	assert_int_equal(il, DISCO_PONG_LEN);

	n1 = disco_seal(pkt1, sizeof(pkt1), a_pub, s_ab, inner, (size_t)il);
	n2 = disco_seal(pkt2, sizeof(pkt2), a_pub, s_ab, inner, (size_t)il);
	assert_int_equal(n1, DISCO_OVERHEAD + il);
	assert_int_equal(n2, n1);
	assert_memory_equal(pkt1, DISCO_MAGIC, DISCO_MAGIC_LEN);
	assert_memory_equal(pkt1 + DISCO_MAGIC_LEN, a_pub, 32);
	/* A fresh nonce each time. */
	assert_memory_not_equal(pkt1 + DISCO_DEMUX_LEN, pkt2 + DISCO_DEMUX_LEN,
	    DISCO_NONCE_LEN);
	/* The receiver opens it with its own shared key... */
	assert_int_equal(disco_open(pkt1, (size_t)n1, s_ba, out, sizeof(out)),
	    il);
	assert_memory_equal(out, inner, (size_t)il);
	/* ...and so does plain crypto_box with the two long-term keys. */
	assert_int_equal(crypto_box_open_easy(out, pkt1 + DISCO_HEADER_LEN,
	    (size_t)n1 - DISCO_HEADER_LEN, pkt1 + DISCO_DEMUX_LEN, a_pub,
	    b_priv), 0);
	assert_memory_equal(out, inner, (size_t)il);
	/* A third party's key does not open it. */
	assert_int_equal(disco_open(pkt1, (size_t)n1, s_cb, out, sizeof(out)),
	    -1);
	/* Too small an output buffer for sealing. */
	assert_int_equal(disco_seal(pkt1, DISCO_OVERHEAD + (size_t)il - 1,
	    a_pub, s_ab, inner, (size_t)il), -1);
	/* A low-order peer key gives no shared key. */
	memset(c_pub, 0, sizeof(c_pub));
	assert_int_equal(disco_shared_key(s_cb, c_pub, a_priv), -1);
}

static void
test_looks_like(void **state)
{
	uint8_t b[DISCO_HEADER_LEN] = { 0 };

	(void)state;
	memcpy(b, DISCO_MAGIC, DISCO_MAGIC_LEN);
	assert_int_equal(DISCO_MAGIC_LEN, 6);
	assert_memory_equal(b, "\x54\x53\xf0\x9f\x92\xac", 6);
	assert_false(disco_looks_like(b, DISCO_DEMUX_LEN - 1));
	assert_true(disco_looks_like(b, DISCO_DEMUX_LEN));
	assert_false(disco_looks_like_wrapper(b, DISCO_HEADER_LEN - 1));
	assert_true(disco_looks_like_wrapper(b, DISCO_HEADER_LEN));
	assert_null(disco_sender(b, DISCO_HEADER_LEN - 1));
	assert_ptr_equal(disco_sender(b, DISCO_HEADER_LEN), b + 6);
	b[5] ^= 1;
	assert_false(disco_looks_like(b, sizeof(b)));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ping_vectors),
		cmocka_unit_test(test_pong_vectors),
		cmocka_unit_test(test_call_me_maybe_vectors),
		cmocka_unit_test(test_parse_rules),
		cmocka_unit_test(test_open_pynacl),
		cmocka_unit_test(test_seal_roundtrip),
		cmocka_unit_test(test_looks_like),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
