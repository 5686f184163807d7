/*
 * The control server's HTTP/1.1 answers: response heads, the /key body,
 * and a whole ts2021 upgrade response driven through ctrld's connection
 * state machine (head, Noise response, early payload, HTTP/2).
 */
#include <stddef.h>
#include <stdint.h>

#include <sodium.h>

#include "aead.h"
#include "conn.h"
#include "http1.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int init;
	struct http1_resp r;
	uint8_t pub[32];
	char err[128];
	ssize_t n;

	if (!init) {
		if (sodium_init() < 0 || aead_global_init() < 0)
			__builtin_trap();
		init = 1;
	}
	n = http1_parse_head((const char *)data, size, &r, err, sizeof(err));
	if (n > (ssize_t)size || (n > 0 && r.content_length < -1))
		__builtin_trap();
	(void)http1_parse_key((const char *)data, size, pub, err, sizeof(err));
	conn_fuzz_upgrade(data, size);
	return 0;
}
