/*
 * DERP frames: byte layouts from tailscale derp/derp.go, the ClientInfo box
 * opened with plain libsodium, a ServerInfo sealed by PyNaCl, and the
 * incremental reader fed in every split.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <sodium.h>

#include "derp_frame.h"

static uint8_t key_a[32], key_b[32];

static int
setup(void **state)
{
	(void)state;
	for (int i = 0; i < 32; i++) {
		key_a[i] = (uint8_t)i;
		key_b[i] = (uint8_t)(0xff - i);
	}
	return 0;
}

static void
test_header_and_server_key(void **state)
{
	uint8_t f[64], pub[32];
	static const uint8_t hdr[] = { 0x01, 0x00, 0x00, 0x00, 0x28,
	    0x44, 0x45, 0x52, 0x50, 0xf0, 0x9f, 0x94, 0x91 };

	(void)state;
	assert_int_equal(derp_build_server_key(f, sizeof(f), key_a), 45);
	assert_memory_equal(f, hdr, sizeof(hdr));
	assert_memory_equal(f + 13, key_a, 32);
	assert_int_equal(derp_build_server_key(f, 44, key_a), -1);
	assert_int_equal(derp_parse_server_key(f + 5, 40, pub), 0);
	assert_memory_equal(pub, key_a, 32);
	/* Future fields after the key are ignored. */
	assert_int_equal(derp_parse_server_key(f + 5, 45 - 5 + 0, pub), 0);
	memset(f + 45, 0x77, 10);
	assert_int_equal(derp_parse_server_key(f + 5, 50, pub), 0);
	assert_int_equal(derp_parse_server_key(f + 5, 39, pub), -1);
	f[5] = 'X';
	assert_int_equal(derp_parse_server_key(f + 5, 40, pub), -1);
}

static void
check_client_info(const struct derp_client_info *ci, const char *want)
{
	uint8_t cpub[32], cpriv[32], spub[32], spriv[32];
	uint8_t f[512], f2[512], msg[512];
	size_t jlen = strlen(want);
	ssize_t n;

	crypto_box_keypair(cpub, cpriv);
	crypto_box_keypair(spub, spriv);
	n = derp_build_client_info(f, sizeof(f), cpub, cpriv, spub, ci);
	assert_int_equal(n, 5 + 32 + 24 + 16 + jlen);
	assert_int_equal(f[0], DERP_FRAME_CLIENT_INFO);
	assert_int_equal((f[1] << 24 | f[2] << 16 | f[3] << 8 | f[4]),
	    n - 5);
	assert_memory_equal(f + 5, cpub, 32);
	/* The server opens it with its private key and our public key. */
	assert_int_equal(crypto_box_open_easy(msg, f + 5 + 32 + 24,
	    (size_t)n - 5 - 32 - 24, f + 5 + 32, cpub, spriv), 0);
	assert_memory_equal(msg, want, jlen);
	/* A fresh nonce per frame. */
	assert_int_equal(derp_build_client_info(f2, sizeof(f2), cpub, cpriv,
	    spub, ci), n);
	assert_memory_not_equal(f + 37, f2 + 37, 24);
	assert_int_equal(derp_build_client_info(f2, (size_t)n - 1, cpub,
	    cpriv, spub, ci), -1);
}

static void
test_client_info(void **state)
{
	struct derp_client_info ci = { .can_ack_pings = true };

	(void)state;
	/* What magicsock's client sends, byte for byte as Go marshals it. */
	check_client_info(&ci, "{\"version\":2,\"CanAckPings\":true}");
	ci.is_prober = true;
	ci.mesh_key = "00112233";
	ci.app_name = "privmesh";
	check_client_info(&ci, "{\"meshKey\":\"00112233\",\"version\":2,"
	    "\"CanAckPings\":true,\"IsProber\":true,\"AppName\":\"privmesh\"}");
	ci = (struct derp_client_info){ 0 };
	check_client_info(&ci, "{\"version\":2,\"CanAckPings\":false}");
}

/*
 * Client private key 0x11.., server private key 0x22..; PyNaCl
 * Box(server, client_pub).encrypt(json, nonce 0xaa..) of
 * {"version":2,"TokenBucketBytesPerSecond":1000,"TokenBucketBytesBurst":2000}
 */
static const uint8_t server_pub_22[32] = {
	0x0f, 0xaa, 0x68, 0x4e, 0xd2, 0x88, 0x67, 0xb9,
	0x7f, 0x4a, 0x6a, 0x2d, 0xee, 0x5d, 0xf8, 0xce,
	0x97, 0x4e, 0x76, 0xb7, 0x01, 0x8e, 0x3f, 0x22,
	0xa1, 0xc4, 0xcf, 0x26, 0x78, 0x57, 0x0f, 0x20,
};
static const uint8_t server_info[115] = {
	0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa,
	0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa,
	0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa,
	0x46, 0xc8, 0x36, 0x62, 0x62, 0xff, 0x36, 0x0b,
	0xc5, 0xa7, 0x2e, 0x5c, 0x49, 0x06, 0x8a, 0xe8,
	0x5b, 0x35, 0xc0, 0x01, 0x12, 0x51, 0x69, 0x08,
	0xb0, 0x22, 0x8b, 0x95, 0x22, 0xc8, 0x1b, 0x8a,
	0x6e, 0x3d, 0xdd, 0xef, 0x71, 0x34, 0x51, 0xde,
	0x78, 0xe1, 0x5d, 0x37, 0x87, 0xb5, 0xea, 0xd4,
	0x2c, 0x29, 0xbd, 0x5d, 0xb6, 0x84, 0xb7, 0x38,
	0x02, 0x00, 0xdc, 0x24, 0x47, 0x49, 0x2c, 0xbd,
	0xbf, 0xf4, 0xc0, 0x15, 0xa0, 0x31, 0xb8, 0x69,
	0xbf, 0x44, 0xdb, 0x00, 0x4c, 0x5c, 0xbb, 0x8f,
	0x0c, 0x3f, 0x45, 0x1e, 0x15, 0xfd, 0xb5, 0x36,
	0x50, 0x6f, 0xbe,
};

static void
seal_server_info(uint8_t *out, const char *json, const uint8_t cpub[32],
    const uint8_t spriv[32])
{
	randombytes_buf(out, 24);
	assert_int_equal(crypto_box_easy(out + 24, (const uint8_t *)json,
	    strlen(json), out, cpub, spriv), 0);
}

static void
test_server_info(void **state)
{
	struct derp_server_info si;
	uint8_t cpriv[32], cpub[32], spub[32], spriv[32], bad[256];

	(void)state;
	memset(cpriv, 0x11, sizeof(cpriv));
	assert_int_equal(derp_open_server_info(server_info,
	    sizeof(server_info), cpriv, server_pub_22, &si), 0);
	assert_int_equal(si.version, 2);
	assert_int_equal(si.token_bucket_bytes_per_second, 1000);
	assert_int_equal(si.token_bucket_bytes_burst, 2000);
	memcpy(bad, server_info, sizeof(server_info));
	bad[60] ^= 0x80;
	assert_int_equal(derp_open_server_info(bad, sizeof(server_info),
	    cpriv, server_pub_22, &si), -1);
	assert_int_equal(derp_open_server_info(server_info, 39, cpriv,
	    server_pub_22, &si), -1);

	crypto_box_keypair(cpub, cpriv);
	crypto_box_keypair(spub, spriv);
	seal_server_info(bad, "{\"version\":2}", cpub, spriv);
	assert_int_equal(derp_open_server_info(bad, 24 + 16 + 13, cpriv, spub,
	    &si), 0);
	assert_int_equal(si.version, 2);
	assert_int_equal(si.token_bucket_bytes_per_second, 0);
	/* Authentic, but not the JSON we expect. */
	seal_server_info(bad, "[2]", cpub, spriv);
	assert_int_equal(derp_open_server_info(bad, 24 + 16 + 3, cpriv, spub,
	    &si), -1);
	seal_server_info(bad, "{\"version\":\"2\"}", cpub, spriv);
	assert_int_equal(derp_open_server_info(bad, 24 + 16 + 15, cpriv, spub,
	    &si), -1);
	seal_server_info(bad, "{\"version\":2", cpub, spriv);
	assert_int_equal(derp_open_server_info(bad, 24 + 16 + 12, cpriv, spub,
	    &si), -1);
}

static void
test_packets(void **state)
{
	static uint8_t f[5 + 32 + DERP_MAX_PACKET_SIZE + 1];
	static uint8_t big[DERP_MAX_PACKET_SIZE + 1];
	static const uint8_t pkt[] = "hello";
	const uint8_t *k, *p;
	size_t n;

	(void)state;
	assert_int_equal(derp_build_send_packet(f, sizeof(f), key_b, pkt, 5),
	    42);
	assert_memory_equal(f, "\x04\x00\x00\x00\x25", 5);
	assert_memory_equal(f + 5, key_b, 32);
	assert_memory_equal(f + 37, "hello", 5);
	assert_int_equal(derp_parse_packet(f + 5, 37, &k, &p, &n), 0);
	assert_ptr_equal(k, f + 5);
	assert_ptr_equal(p, f + 37);
	assert_int_equal(n, 5);
	assert_int_equal(derp_build_recv_packet(f, sizeof(f), key_a, pkt, 0),
	    37);
	assert_memory_equal(f, "\x05\x00\x00\x00\x20", 5);
	assert_int_equal(derp_parse_packet(f + 5, 32, &k, &p, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(derp_parse_packet(f + 5, 31, &k, &p, &n), -1);
	/* 64 KiB of packet is the limit both ways. */
	assert_int_equal(derp_build_send_packet(f, sizeof(f), key_b, big,
	    DERP_MAX_PACKET_SIZE), 5 + 32 + DERP_MAX_PACKET_SIZE);
	assert_int_equal(derp_build_send_packet(f, sizeof(f), key_b, big,
	    DERP_MAX_PACKET_SIZE + 1), -1);
	assert_int_equal(derp_parse_packet(f + 5, 32 + DERP_MAX_PACKET_SIZE,
	    &k, &p, &n), 0);
	assert_int_equal(n, DERP_MAX_PACKET_SIZE);
	assert_int_equal(derp_parse_packet(f, 32 + DERP_MAX_PACKET_SIZE + 1,
	    &k, &p, &n), -1);
}

static void
test_small_frames(void **state)
{
	uint8_t f[128], peer[32], reason, data[8];
	char text[16];
	uint32_t a, b;
	bool pref;
	static const uint8_t ping[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };

	(void)state;
	assert_int_equal(derp_build_keep_alive(f, sizeof(f)), 5);
	assert_memory_equal(f, "\x06\x00\x00\x00\x00", 5);

	assert_int_equal(derp_build_note_preferred(f, sizeof(f), true), 6);
	assert_memory_equal(f, "\x07\x00\x00\x00\x01\x01", 6);
	assert_int_equal(derp_parse_note_preferred(f + 5, 1, &pref), 0);
	assert_true(pref);
	assert_int_equal(derp_build_note_preferred(f, sizeof(f), false), 6);
	assert_int_equal(f[5], 0);
	assert_int_equal(derp_parse_note_preferred(f + 5, 0, &pref), -1);

	assert_int_equal(derp_build_peer_gone(f, sizeof(f), key_a,
	    DERP_PEER_GONE_NOT_HERE), 38);
	assert_memory_equal(f, "\x08\x00\x00\x00\x21", 5);
	assert_int_equal(derp_parse_peer_gone(f + 5, 33, peer, &reason), 0);
	assert_memory_equal(peer, key_a, 32);
	assert_int_equal(reason, DERP_PEER_GONE_NOT_HERE);
	/* Old servers send no reason byte. */
	assert_int_equal(derp_parse_peer_gone(f + 5, 32, peer, &reason), 0);
	assert_int_equal(reason, DERP_PEER_GONE_DISCONNECTED);
	assert_int_equal(derp_parse_peer_gone(f + 5, 31, peer, &reason), -1);

	assert_int_equal(derp_build_ping(f, sizeof(f), DERP_FRAME_PING, ping),
	    13);
	assert_memory_equal(f, "\x12\x00\x00\x00\x08\x01\x02\x03\x04\x05\x06"
	    "\x07\x08", 13);
	assert_int_equal(derp_build_ping(f, sizeof(f), DERP_FRAME_PONG, ping),
	    13);
	assert_int_equal(f[0], 0x13);
	assert_int_equal(derp_build_ping(f, sizeof(f), 0x14, ping), -1);
	/* Longer pings are accepted; the first 8 bytes are what is echoed. */
	assert_int_equal(derp_parse_ping(f + 5, 100, data), 0);
	assert_memory_equal(data, ping, 8);
	assert_int_equal(derp_parse_ping(f + 5, 7, data), -1);

	assert_int_equal(derp_build_health(f, sizeof(f), "dup"), 8);
	assert_memory_equal(f, "\x14\x00\x00\x00\x03" "dup", 8);
	assert_int_equal(derp_parse_health((const uint8_t *)"a\nb\x80z", 5,
	    text, sizeof(text)), 0);
	assert_string_equal(text, "a?b?z");
	assert_int_equal(derp_parse_health((const uint8_t *)"abcdef", 6, text,
	    4), 0);
	assert_string_equal(text, "abc");
	assert_int_equal(derp_parse_health(NULL, 0, text, sizeof(text)), 0);
	assert_string_equal(text, "");

	assert_int_equal(derp_build_restarting(f, sizeof(f), 1500, 0x01020304),
	    13);
	assert_memory_equal(f, "\x15\x00\x00\x00\x08\x00\x00\x05\xdc\x01\x02"
	    "\x03\x04", 13);
	assert_int_equal(derp_parse_restarting(f + 5, 8, &a, &b), 0);
	assert_int_equal(a, 1500);
	assert_int_equal(b, 0x01020304);
	assert_int_equal(derp_parse_restarting(f + 5, 7, &a, &b), -1);
	assert_int_equal(derp_build_restarting(f, 12, 1, 2), -1);
}

static void
test_peer_present(void **state)
{
	struct derp_peer_present pp = { 0 }, got;
	uint8_t f[64];

	(void)state;
	memcpy(pp.key, key_b, 32);
	assert_int_equal(derp_build_peer_present(f, sizeof(f), &pp), 37);
	assert_int_equal(derp_parse_peer_present(f + 5, 32, &got), 0);
	assert_memory_equal(got.key, key_b, 32);
	assert_false(got.has_addr);
	assert_false(got.has_flags);

	pp.has_addr = pp.has_flags = true;
	ipport_set_v4(&pp.addr, (const uint8_t[]){ 198, 51, 100, 7 }, 3340);
	pp.flags = DERP_PEER_PRESENT_REGULAR | DERP_PEER_PRESENT_NOT_IDEAL;
	assert_int_equal(derp_build_peer_present(f, sizeof(f), &pp), 56);
	assert_memory_equal(f, "\x09\x00\x00\x00\x33", 5);
	assert_memory_equal(f + 37, "\0\0\0\0\0\0\0\0\0\0\xff\xff\xc6\x33\x64"
	    "\x07\x0d\x0c\x09", 19);
	assert_int_equal(derp_parse_peer_present(f + 5, 51, &got), 0);
	assert_true(got.has_addr && got.has_flags);
	assert_int_equal(got.addr.port, 3340);
	assert_int_equal(got.flags, 9);
	/* An address cut short is ignored, as by the Go client. */
	assert_int_equal(derp_parse_peer_present(f + 5, 49, &got), 0);
	assert_false(got.has_addr);
	assert_int_equal(derp_parse_peer_present(f + 5, 31, &got), -1);
}

/* Three frames back to back, read with every chunk size from 1 up. */
static void
test_reader_splits(void **state)
{
	uint8_t stream[256];
	size_t len = 0;
	struct derp_reader r;
	struct derp_frame fr;
	static const uint8_t ping[8] = { 9, 8, 7, 6, 5, 4, 3, 2 };

	(void)state;
	len += (size_t)derp_build_server_key(stream + len, 64, key_a);
	len += (size_t)derp_build_keep_alive(stream + len, 64);
	len += (size_t)derp_build_ping(stream + len, 64, DERP_FRAME_PING, ping);
	len += (size_t)derp_build_frame(stream + len, 64, 0x7f,
	    (const uint8_t *)"??", 2);
	for (size_t chunk = 1; chunk <= len; chunk++) {
		const uint8_t *p = stream;
		size_t left = len, nframes = 0;

		derp_reader_init(&r, DERP_MAX_FRAME_SIZE);
		while (left > 0) {
			size_t n = left < chunk ? left : chunk, n0;
			const uint8_t *q = p;

			n0 = n;
			for (;;) {
				enum derp_read rr = derp_reader_next(&r, &q,
				    &n, &fr);

				assert_int_not_equal(rr, DERP_READ_ERROR);
				if (rr == DERP_READ_MORE)
					break;
				switch (nframes++) {
				case 0:
					assert_int_equal(fr.type, 1);
					assert_int_equal(fr.len, 40);
					assert_memory_equal(fr.payload + 8,
					    key_a, 32);
					break;
				case 1:
					assert_int_equal(fr.type, 6);
					assert_int_equal(fr.len, 0);
					break;
				case 2:
					assert_int_equal(fr.type, 0x12);
					assert_memory_equal(fr.payload, ping,
					    8);
					break;
				case 3:
					assert_int_equal(fr.type, 0x7f);
					assert_int_equal(fr.len, 2);
					break;
				}
			}
			assert_int_equal(n, 0);
			p += n0;
			left -= n0;
		}
		assert_int_equal(nframes, 4);
		derp_reader_free(&r);
	}
}

static void
test_reader_limit(void **state)
{
	struct derp_reader r;
	struct derp_frame fr;
	static const uint8_t big[] = { 0x05, 0x00, 0x10, 0x00, 0x01, 0xaa };
	static const uint8_t ok[] = { 0x05, 0x00, 0x10, 0x00, 0x00 };
	const uint8_t *p = big;
	size_t n = sizeof(big);

	(void)state;
	/* 1 MiB + 1 is over the client's limit; the stream is then dead. */
	derp_reader_init(&r, DERP_MAX_FRAME_SIZE);
	assert_int_equal(derp_reader_next(&r, &p, &n, &fr), DERP_READ_ERROR);
	p = ok;
	n = sizeof(ok);
	assert_int_equal(derp_reader_next(&r, &p, &n, &fr), DERP_READ_ERROR);
	derp_reader_free(&r);
	/* Exactly 1 MiB is allowed (and needs that much input). */
	derp_reader_init(&r, DERP_MAX_FRAME_SIZE);
	assert_int_equal(derp_reader_next(&r, &p, &n, &fr), DERP_READ_MORE);
	assert_int_equal(n, 0);
	derp_reader_free(&r);
	assert_string_equal(derp_frame_type_name(0x15), "Restarting");
	assert_string_equal(derp_frame_type_name(0x99), "unknown");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_header_and_server_key),
		cmocka_unit_test(test_client_info),
		cmocka_unit_test(test_server_info),
		cmocka_unit_test(test_packets),
		cmocka_unit_test(test_small_frames),
		cmocka_unit_test(test_peer_present),
		cmocka_unit_test(test_reader_splits),
		cmocka_unit_test(test_reader_limit),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, setup, NULL);
}
