/*
 * A DERP server's byte stream: the incremental reader fed in chunks whose
 * sizes come from the input, and every payload parser run on each frame.
 * ServerInfo is opened with a fixed key pair (client 0x11.., server 0x22..)
 * so sealed seeds reach the JSON parser.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <sodium.h>

#include "derp_frame.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t server_pub[32] = {
	0x0f, 0xaa, 0x68, 0x4e, 0xd2, 0x88, 0x67, 0xb9,
	0x7f, 0x4a, 0x6a, 0x2d, 0xee, 0x5d, 0xf8, 0xce,
	0x97, 0x4e, 0x76, 0xb7, 0x01, 0x8e, 0x3f, 0x22,
	0xa1, 0xc4, 0xcf, 0x26, 0x78, 0x57, 0x0f, 0x20,
};

static void
parse_all(const uint8_t *p, size_t len)
{
	uint8_t key[32], data[8], reason, client_priv[32];
	const uint8_t *k, *pkt;
	size_t n;
	struct derp_peer_present pp;
	struct derp_server_info si;
	char text[64];
	uint32_t a, b;
	bool pref;

	memset(client_priv, 0x11, sizeof(client_priv));
	(void)derp_parse_server_key(p, len, key);
	(void)derp_open_server_info(p, len, client_priv, server_pub, &si);
	if (derp_parse_packet(p, len, &k, &pkt, &n) == 0 &&
	    (k != p || pkt != p + 32 || n + 32 != len ||
	    n > DERP_MAX_PACKET_SIZE))
		__builtin_trap();
	(void)derp_parse_note_preferred(p, len, &pref);
	(void)derp_parse_peer_gone(p, len, key, &reason);
	if (derp_parse_peer_present(p, len, &pp) == 0 &&
	    pp.has_flags && !pp.has_addr)
		__builtin_trap();
	(void)derp_parse_ping(p, len, data);
	if (derp_parse_health(p, len, text, sizeof(text)) != 0 ||
	    strlen(text) > sizeof(text) - 1)
		__builtin_trap();
	(void)derp_parse_restarting(p, len, &a, &b);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct derp_reader r;
	struct derp_frame f;
	const uint8_t *p;
	size_t left, chunk;

	if (size < 1)
		return 0;
	chunk = (size_t)data[0] % 16 + 1;
	p = data + 1;
	left = size - 1;
	derp_reader_init(&r, 4096);
	while (left > 0) {
		size_t n = left < chunk ? left : chunk;
		const uint8_t *q = p;
		enum derp_read rr;

		p += n;
		left -= n;
		while ((rr = derp_reader_next(&r, &q, &n, &f)) ==
		    DERP_READ_FRAME) {
			if (f.len > 4096)
				__builtin_trap();
			parse_all(f.payload, f.len);
		}
		if (rr == DERP_READ_ERROR)
			break;
		if (n != 0)
			__builtin_trap();
	}
	derp_reader_free(&r);
	parse_all(data, size);
	return 0;
}
