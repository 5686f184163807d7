/*
 * aead_bench: ChaCha20-Poly1305 throughput of the two aead.h backends on
 * one core, at WireGuard packet sizes: 1400 bytes (a full-MTU data packet,
 * where the cipher dominates) and 64 bytes (small packets, where the
 * per-call cost does).  The AD is empty, as in WireGuard and ts2021.
 *
 *	usage: aead_bench [seconds per case, default 1]
 *
 * MB/s counts 10^6 plaintext bytes per second.  The faster backend should
 * be PM_AEAD_DEFAULT_BACKEND in common/crypto/aead.c.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "aead.h"

#define MAX_PKT		1400
#define BATCH		1024	/* packets between clock reads */

enum op { OP_SEAL, OP_OPEN };

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int
one_packet(struct aead_key *k, enum op op, uint64_t ctr, const uint8_t *pt,
    const uint8_t *ct, size_t len, uint8_t *out)
{
	uint8_t nonce[AEAD_NONCE_SIZE];

	if (op == OP_OPEN) {
		/* Always the same sealed packet: no replay window here. */
		aead_nonce_wg(nonce, 0);
		return aead_open(k, nonce, NULL, 0, ct, len + AEAD_TAG_SIZE, out);
	}
	aead_nonce_wg(nonce, ctr);
	return aead_seal(k, nonce, NULL, 0, pt, len, out);
}

/* Runs one case for at least `secs`; returns MB/s, or a negative errno. */
static double
run_case(enum aead_backend b, enum op op, size_t len, double secs)
{
	static uint8_t pt[MAX_PKT], ct[MAX_PKT + AEAD_TAG_SIZE];
	static uint8_t out[MAX_PKT + AEAD_TAG_SIZE];
	uint8_t key[AEAD_KEY_SIZE], nonce[AEAD_NONCE_SIZE];
	struct aead_key k;
	uint64_t n = 0;
	double t0, el;
	int i, r;

	memset(key, 0x42, sizeof(key));
	memset(pt, 0xa5, sizeof(pt));
	if ((r = aead_key_init_backend(&k, key, b)) < 0)
		return r;
	/* Also creates the OpenSSL context outside the timed loop. */
	aead_nonce_wg(nonce, 0);
	if ((r = aead_seal(&k, nonce, NULL, 0, pt, len, ct)) < 0)
		goto out;

	t0 = now_s();
	do {
		for (i = 0; i < BATCH; i++)
			if ((r = one_packet(&k, op, n + (uint64_t)i, pt, ct, len,
			    out)) < 0)
				goto out;
		n += BATCH;
		el = now_s() - t0;
	} while (el < secs);
	r = 0;
out:
	aead_key_wipe(&k);
	return r < 0 ? r : (double)n * (double)len / el / 1e6;
}

int
main(int argc, char *argv[])
{
	static const size_t sizes[] = { 1400, 64 };
	static const char *const opname[] = { "seal", "open" };
	double secs = 1.0, so, os;
	size_t i;
	int op, r;

	if (argc > 2 || (argc == 2 && (secs = atof(argv[1])) <= 0)) {
		fprintf(stderr, "usage: aead_bench [seconds per case]\n");
		return 2;
	}
	if ((r = aead_global_init()) < 0) {
		fprintf(stderr, "aead_bench: aead_global_init: %s\n", strerror(-r));
		return 1;
	}
	printf("aead_bench: %.1f s per case, one core, default backend %s\n",
	    secs, aead_backend_name(AEAD_BACKEND_DEFAULT));
	printf("%5s %-5s %15s %15s %18s\n", "size", "op", "libsodium MB/s",
	    "openssl MB/s", "openssl/libsodium");
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		for (op = OP_SEAL; op <= OP_OPEN; op++) {
			so = run_case(AEAD_BACKEND_SODIUM, op, sizes[i], secs);
			os = run_case(AEAD_BACKEND_OPENSSL, op, sizes[i], secs);
			if (so < 0 || os < 0) {
				fprintf(stderr, "aead_bench: %s %zu: %s\n",
				    opname[op], sizes[i],
				    strerror((int)-(so < 0 ? so : os)));
				return 1;
			}
			printf("%5zu %-5s %15.1f %15.1f %18.2f\n", sizes[i],
			    opname[op], so, os, os / so);
		}
	}
	return 0;
}
