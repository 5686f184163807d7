/*
 * The map response stream (tailscale control/controlclient/direct.go,
 * headscale hscontrol/poll.go): messages of [LE32 n][n bytes], each n
 * bytes a zstd frame (Compress "zstd") holding one JSON MapResponse.
 * Pure: bytes in, decompressed messages out; fuzzed.
 */
#ifndef PM_CTRLD_MAPSTREAM_H
#define PM_CTRLD_MAPSTREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MAP_FRAME_MAX	(8u << 20)	/* compressed bytes per message */
#define MAP_JSON_MAX	(48u << 20)	/* decompressed bytes per message */

struct mapstream {
	uint8_t		 hdr[4];
	size_t		 hdrlen;
	uint8_t		*frame;
	size_t		 need, have;
	bool		 zstd;
	void		*dctx;		/* ZSTD_DCtx */
	uint8_t		*out;		/* decompression buffer */
	size_t		 outcap;
	uint64_t	 messages;
};

int	mapstream_init(struct mapstream *, bool zstd);
void	mapstream_free(struct mapstream *);

/* Called with each complete, decompressed message; returns 0 to go on
 * or -1 to stop (the error is the callback's to report). */
typedef int (*mapstream_cb)(void *arg, const char *json, size_t len);

/* Consumes `len` bytes.  Returns 0, or -1 with `err` set (frame too
 * large, bad zstd) or when the callback returned -1. */
int	mapstream_feed(struct mapstream *, const uint8_t *data, size_t len,
	    mapstream_cb cb, void *arg, char *err, size_t errlen);

#endif
