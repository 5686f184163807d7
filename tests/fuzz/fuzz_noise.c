/*
 * ts2021 Noise from the control server: the handshake response (byte 0
 * even) or a stream of transport records cut at fuzzer-chosen points (odd),
 * with keys fixed so runs are reproducible.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <sodium.h>

#include "aead.h"
#include "noise.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
records(const uint8_t *data, size_t size)
{
	static const uint8_t key[32] = { 1, 2, 3 };
	struct noise_cipher c = { 0 };
	struct noise_reader rd = { 0 };
	uint8_t out[NOISE_MAX_PLAIN];
	char err[128];

	if (aead_key_init(&c.key, key) != 0)
		return;
	c.ready = 1;
	while (size > 0) {
		/* One byte says how much of the rest arrives next. */
		size_t chunk = (size_t)data[0] * 17 + 1;
		const uint8_t *p = data + 1;
		size_t n;

		data++;
		size--;
		if (chunk > size)
			chunk = size;
		n = chunk;
		for (;;) {
			int r = noise_read(&rd, &c, &p, &n, out, err,
			    sizeof(err));
			if (r == -2 || r == -1)
				break;
			if (r < 0 || r > NOISE_MAX_PLAIN)
				__builtin_trap();
		}
		if (rd.len > NOISE_MAX_RECORD)
			__builtin_trap();
		data += chunk;
		size -= chunk;
	}
	aead_key_wipe(&c.key);
}

static void
response(const uint8_t *data, size_t size)
{
	static const uint8_t mpriv[32] = { 8, 1 }, spriv[32] = { 16, 2 },
	    epriv[32] = { 24, 3 };
	uint8_t spub[32], init[NOISE_INIT_SIZE];
	struct noise_hs hs;
	struct noise_transport t;
	char err[128];

	crypto_scalarmult_base(spub, spriv);
	if (noise_initiate(&hs, 113, mpriv, spub, epriv, init) != 0)
		return;
	if (noise_respond(&hs, data, size, &t, err, sizeof(err)) == 0)
		noise_transport_wipe(&t);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int init;

	if (!init) {
		if (sodium_init() < 0 || aead_global_init() < 0)
			__builtin_trap();
		init = 1;
	}
	if (size == 0)
		return 0;
	if (data[0] & 1)
		records(data + 1, size - 1);
	else
		response(data + 1, size - 1);
	return 0;
}
