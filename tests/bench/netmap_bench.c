/*
 * netmap_bench: what ctrld does with a large tailnet's map stream, through
 * the same code (ctrld/mapstream.c + ctrld/netmap.c): a full MapResponse
 * with N peers (default 10000, Headscale-like nodes: two addresses, an
 * endpoint, Hostinfo, times), zstd-compressed as the server sends it, then
 * a one-peer PeersChanged delta and a one-peer PeersChangedPatch.
 *
 *	usage: netmap_bench [peers]
 *
 * Prints the time to decompress + parse + apply each, and the peak RSS
 * while taking them in (VmHWM, reset after the generator's buffers are
 * freed): what the map costs ctrld.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <zstd.h>

#include "mapstream.h"
#include "netmap.h"

static double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static size_t
node(char *out, int id, const char *name)
{
	return (size_t)sprintf(out, "{\"ID\":%d,\"StableID\":\"n%d\","
	    "\"Name\":\"%s-%d.tailnet.test.\",\"User\":1,"
	    "\"Key\":\"nodekey:%064x\",\"KeyExpiry\":\"2030-01-01T00:00:00Z\","
	    "\"Machine\":\"mkey:%064x\",\"DiscoKey\":\"discokey:%064x\","
	    "\"Addresses\":[\"100.%d.%d.%d/32\",\"fd7a:115c:a1e0::%x/128\"],"
	    "\"AllowedIPs\":[\"100.%d.%d.%d/32\",\"fd7a:115c:a1e0::%x/128\"],"
	    "\"Endpoints\":[\"198.51.100.%d:41641\"],\"HomeDERP\":999,"
	    "\"Hostinfo\":{\"Hostname\":\"%s-%d\",\"OS\":\"linux\"},"
	    "\"Created\":\"2026-01-01T00:00:00Z\",\"Online\":true,"
	    "\"MachineAuthorized\":true,\"CapMap\":{\"https://tailscale.com/"
	    "cap/is-admin\":null}}", id, id, name, id, id, id, id,
	    64 + (id >> 16), (id >> 8) & 255, id & 255, id,
	    64 + (id >> 16), (id >> 8) & 255, id & 255, id, id & 255, name, id);
}

static int
apply_cb(void *arg, const char *json, size_t len)
{
	char err[256];

	if (netmap_apply(arg, json, len, !((struct netmap *)arg)->have_self,
	    err, sizeof(err)) == NM_ERROR) {
		fprintf(stderr, "apply: %s\n", err);
		exit(1);
	}
	return 0;
}

/* [LE32 n][zstd(json)], as the server writes a map message. */
static uint8_t *
frame(const char *json, size_t len, size_t *outlen)
{
	size_t cap = ZSTD_compressBound(len) + 4, n;
	uint8_t *buf = malloc(cap);

	n = ZSTD_compress(buf + 4, cap - 4, json, len, 3);
	buf[0] = (uint8_t)n;
	buf[1] = (uint8_t)(n >> 8);
	buf[2] = (uint8_t)(n >> 16);
	buf[3] = (uint8_t)(n >> 24);
	*outlen = n + 4;
	return buf;
}

/* Milliseconds to take one framed message in. */
static double
feed(struct mapstream *ms, struct netmap *nm, const uint8_t *buf, size_t n)
{
	char err[256];
	double t = now_ms();

	if (mapstream_feed(ms, buf, n, apply_cb, nm, err, sizeof(err)) < 0) {
		fprintf(stderr, "feed: %s\n", err);
		exit(1);
	}
	return now_ms() - t;
}

static double
feed_json(struct mapstream *ms, struct netmap *nm, const char *json,
    size_t len)
{
	size_t n;
	uint8_t *buf = frame(json, len, &n);
	double t = feed(ms, nm, buf, n);

	free(buf);
	return t;
}

/* Resets VmHWM (proc(5), clear_refs 5). */
static void
reset_peak(void)
{
	FILE *f = fopen("/proc/self/clear_refs", "w");

	if (f != NULL) {
		fputs("5", f);
		fclose(f);
	}
}

static long
vm_kib(const char *key)
{
	char line[256];
	long v = -1;
	FILE *f = fopen("/proc/self/status", "r");

	while (f != NULL && fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, key, strlen(key)) == 0)
			v = atol(line + strlen(key));
	if (f != NULL)
		fclose(f);
	return v;
}

int
main(int argc, char **argv)
{
	int peers = argc > 1 ? atoi(argv[1]) : 10000;
	size_t cap = (size_t)peers * 1024 + 4096, len = 0;
	char *json = malloc(cap), one[2048];
	struct mapstream ms;
	struct netmap nm;
	uint8_t *full_frame;
	size_t full_len, full_n;
	long base;
	double full, first, delta, patch;

	if (peers < 1 || peers > NM_MAX_PEERS || json == NULL)
		return 2;
	len += (size_t)sprintf(json, "{\"Node\":");
	len += node(json + len, 1, "self");
	len += (size_t)sprintf(json + len, ",\"Domain\":\"tailnet.test\","
	    "\"DERPMap\":{\"Regions\":{\"999\":{\"RegionID\":999,\"Nodes\":[]}}},"
	    "\"PacketFilters\":{\"base\":[{\"SrcIPs\":[\"*\"],\"DstPorts\":"
	    "[{\"IP\":\"*\",\"Ports\":{\"First\":0,\"Last\":65535}}]}]},"
	    "\"Peers\":[");
	for (int i = 0; i < peers; i++) {
		if (i)
			json[len++] = ',';
		len += node(json + len, i + 2, "peer");
	}
	len += (size_t)sprintf(json + len, "]}");
	full_len = len;
	full_frame = frame(json, len, &full_n);
	free(json);
	/* Peak RSS from here on: ctrld's cost, not the generator's. */
	reset_peak();
	base = vm_kib("VmRSS:");
	mapstream_init(&ms, true);
	netmap_init(&nm);
	full = feed(&ms, &nm, full_frame, full_n);
	free(full_frame);
	/* The first delta after a full map, then the mean of 100 more. */
	len = (size_t)sprintf(one, "{\"PeersChanged\":[");
	len += node(one + len, peers / 2, "changed");
	len += (size_t)sprintf(one + len, "]}");
	first = feed_json(&ms, &nm, one, len);
	delta = 0;
	for (int i = 0; i < 100; i++) {
		len = (size_t)sprintf(one, "{\"PeersChanged\":[");
		len += node(one + len, 2 + (i * 97) % peers, "changed");
		len += (size_t)sprintf(one + len, "]}");
		delta += feed_json(&ms, &nm, one, len) / 100;
	}
	len = (size_t)sprintf(one, "{\"PeersChangedPatch\":[{\"NodeID\":%d,"
	    "\"Online\":false,\"Endpoints\":[\"203.0.113.9:41641\"]}]}",
	    peers / 3);
	patch = feed_json(&ms, &nm, one, len);
	printf("netmap with %zu peers (%zu KiB of JSON, %zu KiB as zstd)\n",
	    nm.npeers, full_len / 1024, full_n / 1024);
	printf("  full map:        %8.1f ms (decompress + parse + apply)\n", full);
	printf("  one-peer delta:  %8.3f ms (PeersChanged; first after the full "
	    "map %.3f ms)\n", delta, first);
	printf("  one-peer patch:  %8.3f ms (PeersChangedPatch)\n", patch);
	printf("  peak RSS:        %8.1f MiB while applying (%.1f MiB before, "
	    "%.1f MiB after, netmap held)\n", vm_kib("VmHWM:") / 1024.0,
	    base / 1024.0, vm_kib("VmRSS:") / 1024.0);
	netmap_free(&nm);
	mapstream_free(&ms);
	return 0;
}
