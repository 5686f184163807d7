/*
 * Children log to a pipe privd reads, never to a file: their sandboxes
 * forbid opening files and netd/dnsd run with RLIMIT_FSIZE 0.  privd
 * relays what arrives to its own stderr (the journal, under systemd).
 * Children write whole lines of at most 1 KiB with one write(2), which a
 * pipe keeps atomic, so relaying chunks as they come keeps lines intact.
 */
#include <stdlib.h>
#include <unistd.h>

#include "privd.h"

#define LOG_CHUNK	4096

static void
on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
	static char buf[LOG_CHUNK];

	(void)h;
	(void)hint;
	*b = uv_buf_init(buf, sizeof(buf));
}

static void
on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
	struct child *k = s->data;

	if (n > 0) {
		(void)!write(STDERR_FILENO, b->base, (size_t)n);
		return;
	}
	if (n < 0)
		logpipe_close(k);
}

static void
on_closed(uv_handle_t *h)
{
	free(h);
}

int
logpipe_open(struct child *k, int fd)
{
	uv_pipe_t *p;

	logpipe_close(k);
	if ((p = malloc(sizeof(*p))) == NULL)
		return -1;
	uv_pipe_init(k->pd->loop, p, 0);
	if (uv_pipe_open(p, fd) != 0) {
		free(p);
		return -1;
	}
	p->data = k;
	k->log = p;
	uv_read_start((uv_stream_t *)p, on_alloc, on_read);
	return 0;
}

/* Drains what the dead child left in the pipe, then closes it. */
void
logpipe_close(struct child *k)
{
	uv_pipe_t *p = k->log;
	uv_os_fd_t fd;
	char buf[LOG_CHUNK];
	ssize_t n;

	if (p == NULL)
		return;
	k->log = NULL;
	if (uv_fileno((uv_handle_t *)p, &fd) == 0)
		while ((n = read(fd, buf, sizeof(buf))) > 0)
			(void)!write(STDERR_FILENO, buf, (size_t)n);
	uv_close((uv_handle_t *)p, on_closed);
}
