#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zstd.h>

#include "mapstream.h"

static int
fail(char *err, size_t errlen, const char *msg)
{
	snprintf(err, errlen, "%s", msg);
	return -1;
}

int
mapstream_init(struct mapstream *ms, bool zstd)
{
	memset(ms, 0, sizeof(*ms));
	ms->zstd = zstd;
	if (zstd && (ms->dctx = ZSTD_createDCtx()) == NULL)
		return -1;
	return 0;
}

void
mapstream_free(struct mapstream *ms)
{
	ZSTD_freeDCtx(ms->dctx);
	free(ms->frame);
	free(ms->out);
	memset(ms, 0, sizeof(*ms));
}

/* One or more concatenated zstd frames, output bounded by MAP_JSON_MAX. */
static int
decompress(struct mapstream *ms, size_t *outlen, char *err, size_t errlen)
{
	ZSTD_inBuffer in = { ms->frame, ms->have, 0 };
	ZSTD_outBuffer out;
	size_t r = 0;

	unsigned long long hint = ZSTD_getFrameContentSize(ms->frame, ms->have);

	ZSTD_DCtx_reset(ms->dctx, ZSTD_reset_session_only);
	/* Frames normally state their size: allocate it once instead of
	 * doubling (a realloc of a large buffer briefly needs both). */
	if (hint != ZSTD_CONTENTSIZE_UNKNOWN && hint != ZSTD_CONTENTSIZE_ERROR &&
	    hint < MAP_JSON_MAX && hint + 1 > ms->outcap) {
		free(ms->out);
		ms->outcap = (size_t)hint + 1;
		if ((ms->out = malloc(ms->outcap)) == NULL) {
			ms->outcap = 0;
			return fail(err, errlen, "map: out of memory");
		}
	}
	if (ms->outcap == 0) {
		ms->outcap = 256 * 1024;
		if ((ms->out = malloc(ms->outcap)) == NULL) {
			ms->outcap = 0;
			return fail(err, errlen, "map: out of memory");
		}
	}
	out = (ZSTD_outBuffer){ ms->out, ms->outcap, 0 };
	while (in.pos < in.size || r != 0) {
		if (out.pos == out.size) {
			size_t ncap = ms->outcap * 2;
			uint8_t *n;

			if (ms->outcap >= MAP_JSON_MAX)
				return fail(err, errlen, "map: decompressed "
				    "message larger than 48 MiB");
			if (ncap > MAP_JSON_MAX)
				ncap = MAP_JSON_MAX;
			if ((n = realloc(ms->out, ncap)) == NULL)
				return fail(err, errlen, "map: out of memory");
			ms->out = n;
			ms->outcap = ncap;
			out.dst = n;
			out.size = ncap;
		}
		r = ZSTD_decompressStream(ms->dctx, &out, &in);
		if (ZSTD_isError(r)) {
			snprintf(err, errlen, "map: bad zstd data: %s",
			    ZSTD_getErrorName(r));
			return -1;
		}
		if (r != 0 && in.pos == in.size && out.pos < out.size)
			return fail(err, errlen, "map: truncated zstd frame");
	}
	*outlen = out.pos;
	return 0;
}

static int
deliver(struct mapstream *ms, mapstream_cb cb, void *arg, char *err,
    size_t errlen)
{
	size_t n;
	int r;

	ms->messages++;
	if (!ms->zstd)
		return cb(arg, (const char *)ms->frame, ms->have);
	if (decompress(ms, &n, err, errlen) < 0)
		return -1;
	r = cb(arg, (const char *)ms->out, n);
	/* Deltas are small: do not keep a full map's buffer around, and
	 * give the parser's freed tree back to the system. */
	if (ms->outcap > (1u << 20)) {
		free(ms->out);
		ms->out = NULL;
		ms->outcap = 0;
		malloc_trim(0);
	}
	return r;
}

int
mapstream_feed(struct mapstream *ms, const uint8_t *data, size_t len,
    mapstream_cb cb, void *arg, char *err, size_t errlen)
{
	while (len > 0) {
		size_t take;

		if (ms->hdrlen < 4) {
			take = 4 - ms->hdrlen;
			if (take > len)
				take = len;
			memcpy(ms->hdr + ms->hdrlen, data, take);
			ms->hdrlen += take;
			data += take;
			len -= take;
			if (ms->hdrlen < 4)
				return 0;
			ms->need = (size_t)ms->hdr[0] | (size_t)ms->hdr[1] << 8 |
			    (size_t)ms->hdr[2] << 16 | (size_t)ms->hdr[3] << 24;
			if (ms->need > MAP_FRAME_MAX)
				return fail(err, errlen, "map: message larger "
				    "than 8 MiB");
			if (ms->need == 0)
				return fail(err, errlen, "map: empty message");
			free(ms->frame);
			if ((ms->frame = malloc(ms->need)) == NULL)
				return fail(err, errlen, "map: out of memory");
			ms->have = 0;
		}
		take = ms->need - ms->have;
		if (take > len)
			take = len;
		memcpy(ms->frame + ms->have, data, take);
		ms->have += take;
		data += take;
		len -= take;
		if (ms->have == ms->need) {
			int r = deliver(ms, cb, arg, err, errlen);

			free(ms->frame);
			ms->frame = NULL;
			ms->hdrlen = 0;
			if (r < 0)
				return -1;
		}
	}
	return 0;
}
