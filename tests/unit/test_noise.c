/*
 * ts2021 Noise (ctrld/noise.c) against a transcript computed independently
 * by tests/unit/noise_ref.py (Noise spec + controlbase framing, Python
 * libraries): handshake bytes, handshake hash, transport records with the
 * big-endian nonce (counters 1 and 256 tell it from little-endian), and
 * the record reader's bounds.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include <sodium.h>

#include "aead.h"
#include "noise.h"
#include "noise_vectors.h"

static int
setup(void **state)
{
	(void)state;
	return sodium_init() < 0 || aead_global_init() < 0;
}

static void
handshake(struct noise_transport *t)
{
	struct noise_hs hs;
	uint8_t msg1[NOISE_INIT_SIZE];
	char err[128];

	assert_int_equal(noise_initiate(&hs, REF_VERSION, ref_client_s,
	    ref_server_pub, ref_client_e, msg1), 0);
	assert_memory_equal(msg1, ref_msg1, sizeof(ref_msg1));
	assert_int_equal(noise_respond(&hs, ref_msg2, sizeof(ref_msg2), t, err,
	    sizeof(err)), 0);
}

static void
test_handshake_matches_reference(void **state)
{
	struct noise_transport t;

	(void)state;
	handshake(&t);
	assert_memory_equal(t.hash, ref_hash, 32);
	noise_transport_wipe(&t);
}

static void
test_transport_seal_big_endian_nonce(void **state)
{
	struct noise_transport t;
	uint8_t rec[NOISE_MAX_RECORD];

	(void)state;
	handshake(&t);
	assert_int_equal(noise_seal(&t.tx, (const uint8_t *)"hello", 5, rec),
	    sizeof(ref_c2s_0));
	assert_memory_equal(rec, ref_c2s_0, sizeof(ref_c2s_0));
	assert_int_equal(noise_seal(&t.tx, (const uint8_t *)"hello", 5, rec),
	    sizeof(ref_c2s_1));
	assert_memory_equal(rec, ref_c2s_1, sizeof(ref_c2s_1));
	t.tx.counter = 256;
	assert_int_equal(noise_seal(&t.tx, NULL, 0, rec), sizeof(ref_c2s_256));
	assert_memory_equal(rec, ref_c2s_256, sizeof(ref_c2s_256));
	/* Too large for one record; and an exhausted counter. */
	assert_int_equal(noise_seal(&t.tx, rec, NOISE_MAX_PLAIN + 1, rec), -1);
	t.tx.counter = UINT64_MAX;
	assert_int_equal(noise_seal(&t.tx, rec, 1, rec), -1);
	noise_transport_wipe(&t);
}

static void
test_transport_read(void **state)
{
	struct noise_transport t;
	struct noise_reader rd = { 0 };
	uint8_t in[64], out[NOISE_MAX_PLAIN];
	const uint8_t *p;
	size_t n;
	char err[128];

	(void)state;
	handshake(&t);
	/* Both records in one buffer, fed one byte at a time. */
	memcpy(in, ref_s2c_0, sizeof(ref_s2c_0));
	memcpy(in + sizeof(ref_s2c_0), ref_s2c_1, sizeof(ref_s2c_1));
	size_t total = sizeof(ref_s2c_0) + sizeof(ref_s2c_1), got = 0;
	for (size_t i = 0; i < total; i++) {
		p = in + i;
		n = 1;
		int r = noise_read(&rd, &t.rx, &p, &n, out, err, sizeof(err));
		if (r == -2)
			continue;
		assert_int_equal(r, 5);
		assert_memory_equal(out, got == 0 ? "world" : "again", 5);
		got++;
	}
	assert_int_equal(got, 2);
	noise_transport_wipe(&t);
}

static void
test_transport_rejects(void **state)
{
	struct noise_transport t;
	struct noise_reader rd = { 0 };
	uint8_t in[NOISE_MAX_RECORD + 8], out[NOISE_MAX_PLAIN];
	const uint8_t *p;
	size_t n;
	char err[128];

	(void)state;
	handshake(&t);
	/* A flipped ciphertext bit fails authentication. */
	memcpy(in, ref_s2c_0, sizeof(ref_s2c_0));
	in[5] ^= 1;
	p = in;
	n = sizeof(ref_s2c_0);
	assert_int_equal(noise_read(&rd, &t.rx, &p, &n, out, err, sizeof(err)),
	    -1);
	assert_non_null(strstr(err, "authentication"));
	/* Oversized length, too short for a tag, wrong type, error frame. */
	static const uint8_t bad[][3] = { { 4, 0x10, 0x00 }, { 4, 0, 15 },
	    { 5, 0, 16 }, { 3, 0, 4 } };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&rd, 0, sizeof(rd));
		p = bad[i];
		n = 3;
		assert_int_equal(noise_read(&rd, &t.rx, &p, &n, out, err,
		    sizeof(err)), -1);
	}
	/* The largest legal record is accepted up to authentication. */
	memset(&rd, 0, sizeof(rd));
	memset(in, 0, sizeof(in));
	in[0] = 4;
	in[1] = (NOISE_MAX_RECORD - 3) >> 8;
	in[2] = (NOISE_MAX_RECORD - 3) & 0xff;
	p = in;
	n = NOISE_MAX_RECORD;
	assert_int_equal(noise_read(&rd, &t.rx, &p, &n, out, err, sizeof(err)),
	    -1);
	assert_non_null(strstr(err, "authentication"));
	noise_transport_wipe(&t);
}

static void
test_bad_responses(void **state)
{
	struct noise_hs hs;
	struct noise_transport t;
	uint8_t msg1[NOISE_INIT_SIZE], m2[NOISE_RESP_SIZE];
	char err[128];

	(void)state;
	memcpy(m2, ref_msg2, sizeof(m2));
	m2[40] ^= 0x80;		/* in the tag */
	assert_int_equal(noise_initiate(&hs, REF_VERSION, ref_client_s,
	    ref_server_pub, ref_client_e, msg1), 0);
	assert_int_equal(noise_respond(&hs, m2, sizeof(m2), &t, err,
	    sizeof(err)), -1);
	/* Another protocol version changes the prologue: refused. */
	assert_int_equal(noise_initiate(&hs, REF_VERSION + 1, ref_client_s,
	    ref_server_pub, ref_client_e, msg1), 0);
	assert_int_equal(msg1[1], REF_VERSION + 1);
	assert_int_equal(noise_respond(&hs, ref_msg2, sizeof(ref_msg2), &t,
	    err, sizeof(err)), -1);
	/* Short, and a wrong type byte. */
	assert_int_equal(noise_initiate(&hs, REF_VERSION, ref_client_s,
	    ref_server_pub, ref_client_e, msg1), 0);
	assert_int_equal(noise_respond(&hs, ref_msg2, 50, &t, err,
	    sizeof(err)), -1);
	memcpy(m2, ref_msg2, sizeof(m2));
	m2[0] = 3;
	assert_int_equal(noise_respond(&hs, m2, sizeof(m2), &t, err,
	    sizeof(err)), -1);
	/* An all-zero (low-order) server ephemeral key. */
	assert_int_equal(noise_initiate(&hs, REF_VERSION, ref_client_s,
	    ref_server_pub, ref_client_e, msg1), 0);
	memset(m2 + 3, 0, 32);
	m2[0] = 2;
	assert_int_equal(noise_respond(&hs, m2, sizeof(m2), &t, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "low-order"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_handshake_matches_reference),
		cmocka_unit_test(test_transport_seal_big_endian_nonce),
		cmocka_unit_test(test_transport_read),
		cmocka_unit_test(test_transport_rejects),
		cmocka_unit_test(test_bad_responses),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}
