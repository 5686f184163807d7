/*
 * The shared-socket demultiplexer: real STUN and disco packets from the
 * codecs, WireGuard messages at their exact lengths, and the edges.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include <sodium.h>

#include "demux.h"
#include "disco.h"
#include "stun.h"

static void
wg(uint8_t *b, uint8_t type)
{
	memset(b, 0x5a, 200);
	b[0] = type;
	b[1] = b[2] = b[3] = 0;
}

static void
test_wireguard(void **state)
{
	uint8_t b[200];

	(void)state;
	wg(b, 1);
	assert_int_equal(demux_classify(b, 148), PKT_WIREGUARD);
	assert_int_equal(demux_classify(b, 147), PKT_UNKNOWN);
	assert_int_equal(demux_classify(b, 149), PKT_UNKNOWN);
	wg(b, 2);
	assert_int_equal(demux_classify(b, 92), PKT_WIREGUARD);
	assert_int_equal(demux_classify(b, 93), PKT_UNKNOWN);
	wg(b, 3);
	assert_int_equal(demux_classify(b, 64), PKT_WIREGUARD);
	assert_int_equal(demux_classify(b, 63), PKT_UNKNOWN);
	wg(b, 4);
	/* Transport: 16-byte header and at least the tag (a keepalive). */
	assert_int_equal(demux_classify(b, 32), PKT_WIREGUARD);
	assert_int_equal(demux_classify(b, 200), PKT_WIREGUARD);
	assert_int_equal(demux_classify(b, 31), PKT_UNKNOWN);
	/* Reserved bytes must be zero; types 0 and 5 do not exist. */
	b[2] = 1;
	assert_int_equal(demux_classify(b, 32), PKT_UNKNOWN);
	wg(b, 5);
	assert_int_equal(demux_classify(b, 32), PKT_UNKNOWN);
	wg(b, 0);
	assert_int_equal(demux_classify(b, 32), PKT_UNKNOWN);
	assert_int_equal(demux_classify(b, 0), PKT_UNKNOWN);
	assert_int_equal(demux_classify(b, 3), PKT_UNKNOWN);
}

static void
test_stun(void **state)
{
	uint8_t req[STUN_REQUEST_LEN], txid[STUN_TXID_LEN];

	(void)state;
	stun_new_txid(txid);
	stun_build_request(req, txid);
	assert_int_equal(demux_classify(req, sizeof(req)), PKT_STUN);
	/* A success response (type 0x0101) too. */
	req[0] = 0x01;
	assert_int_equal(demux_classify(req, sizeof(req)), PKT_STUN);
	/* Only Binding: another method is not handed to STUN. */
	req[1] = 0x03;
	assert_int_equal(demux_classify(req, sizeof(req)), PKT_UNKNOWN);
	req[1] = 0x01;
	assert_int_equal(demux_classify(req, 19), PKT_UNKNOWN);
	req[5] ^= 0xff;
	assert_int_equal(demux_classify(req, sizeof(req)), PKT_UNKNOWN);
	assert_string_equal(demux_kind_name(PKT_STUN), "stun");
}

static void
test_disco(void **state)
{
	uint8_t pub[32], priv[32], shared[32], pkt[128];
	uint8_t inner[DISCO_PING_LEN];
	struct disco_msg m = { .type = DISCO_PING };
	ssize_t il, n;

	(void)state;
	crypto_box_keypair(pub, priv);
	assert_int_equal(disco_shared_key(shared, pub, priv), 0);
	randombytes_buf(m.ping.txid, sizeof(m.ping.txid));
	il = disco_marshal(&m, inner, sizeof(inner));
	n = disco_seal(pkt, sizeof(pkt), pub, shared, inner, (size_t)il);
	assert_true(n > 0);
	assert_int_equal(demux_classify(pkt, (size_t)n), PKT_DISCO);
	/* magicsock needs only magic and sender key to call it disco. */
	assert_int_equal(demux_classify(pkt, DISCO_DEMUX_LEN), PKT_DISCO);
	assert_int_equal(demux_classify(pkt, DISCO_DEMUX_LEN - 1),
	    PKT_UNKNOWN);
	pkt[0] = 'X';
	assert_int_equal(demux_classify(pkt, (size_t)n), PKT_UNKNOWN);
	assert_string_equal(demux_kind_name(PKT_DISCO), "disco");
}

/* Geneve (peer relay) is not supported: dropped, never taken for WG. */
static void
test_geneve(void **state)
{
	uint8_t b[64] = { 0x00, 0x00, 0x7a, 0x12, 0, 0, 1, 0,
	    4, 0, 0, 0 };

	(void)state;
	assert_int_equal(demux_classify(b, sizeof(b)), PKT_UNKNOWN);
	assert_string_equal(demux_kind_name(PKT_UNKNOWN), "unknown");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_wireguard),
		cmocka_unit_test(test_stun),
		cmocka_unit_test(test_disco),
		cmocka_unit_test(test_geneve),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
