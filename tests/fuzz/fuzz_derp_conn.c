/*
 * netd's DERP connection protocol (netd/derp_conn.c): the bytes are what
 * a hostile relay sends, fed in pieces (byte 0 picks the piece size).
 * Bit 0x80 of byte 0 starts past the login (state READY), since a fuzzer
 * cannot forge the sealed ServerInfo; otherwise from the HTTP answer.
 * Packets are sent between pieces.  The output queue must stay bounded,
 * a failed connection must stay failed and say why.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "derp_conn.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
on_recv(void *arg, const uint8_t src[32], const uint8_t *pkt, size_t len)
{
	(void)arg;
	(void)src;
	if (len > DERP_MAX_FRAME_SIZE || (len > 0 && pkt == NULL))
		__builtin_trap();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t pub[32] = { 1 }, priv[32] = { 2 }, dst[32] = { 3 };
	static const struct derp_conn_cb cb = { on_recv, NULL };
	static uint8_t pkt[1500];
	struct derp_conn c;
	size_t piece, len;

	if (size < 1 || derp_conn_init(&c, "derp.test", pub, priv, &cb,
	    NULL) < 0)
		return 0;
	piece = 1 + (data[0] & 0x7f) * 37;
	if (data[0] & 0x80) {
		c.state = DERP_CONN_READY;
		derp_conn_written(&c, SIZE_MAX);
	}
	data++;
	size--;
	while (size > 0) {
		size_t n = size < piece ? size : piece;
		int r = derp_conn_input(&c, data, n);

		if (r < 0 && (c.state != DERP_CONN_FAILED || c.err[0] == '\0'))
			__builtin_trap();
		if (r == 0 && c.state == DERP_CONN_FAILED)
			__builtin_trap();
		(void)derp_conn_send(&c, dst, pkt, n % sizeof(pkt));
		(void)derp_conn_pending(&c, &len);
		if (len > DERP_CONN_OUT_MAX)
			__builtin_trap();
		if (n % 3 == 0)
			derp_conn_written(&c, len / 2);
		data += n;
		size -= n;
	}
	derp_conn_free(&c);
	return 0;
}
