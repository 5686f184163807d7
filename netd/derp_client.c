/* One DERP region's connection on a libuv loop (see derp_client.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "derp_client.h"

static void	dial(struct derp_client *);
static void	on_poll(uv_poll_t *, int, int);

static void
on_timer(uv_timer_t *t)
{
	dial(t->data);
}

static void
maybe_free(struct derp_client *d)
{
	if (d->stopping && d->heap && d->timer_closed && !d->poll_open)
		free(d);
}

static void
on_timer_closed(uv_handle_t *h)
{
	struct derp_client *d = h->data;

	d->timer_closed = true;
	maybe_free(d);
}

static void
on_poll_closed(uv_handle_t *h)
{
	struct derp_client *d = h->data;

	d->poll_open = false;
	if (d->fd >= 0)
		close(d->fd);
	d->fd = -1;
	if (!d->stopping)
		(void)uv_timer_start(&d->timer, on_timer, d->backoff_ms, 0);
	maybe_free(d);
}

/* The connection is over: count, close, and retry after the backoff. */
static void
drop(struct derp_client *d, const char *why)
{
	if (d->session) {
		if (d->c.state == DERP_CONN_FAILED)
			d->server_errors++;
		d->skipped += d->c.st.skipped;
		derp_conn_free(&d->c);
		if (d->ctx != NULL && !d->to.plain)
			derp_tls_free(&d->t);
		d->session = false;
	}
	snprintf(d->last_err, sizeof(d->last_err), "%s", why);
	d->drops++;
	if (d->on_state != NULL && !d->stopping)
		d->on_state(d, false);
	d->ready = false;
	d->clen = 0;
	d->backoff_ms = d->backoff_ms == 0 ? DERP_BACKOFF_MIN_MS :
	    d->backoff_ms * 2 > DERP_BACKOFF_MAX_MS ? DERP_BACKOFF_MAX_MS :
	    d->backoff_ms * 2;
	if (d->poll_open) {
		if (!uv_is_closing((uv_handle_t *)&d->poll))
			uv_close((uv_handle_t *)&d->poll, on_poll_closed);
	} else if (!d->stopping)
		(void)uv_timer_start(&d->timer, on_timer, d->backoff_ms, 0);
}

static bool
tls_on(const struct derp_client *d)
{
	return !d->to.plain;
}

/* Moves queued bytes toward the socket; false when the connection is
 * over (dropped). */
static bool
flush(struct derp_client *d)
{
	const uint8_t *p;
	size_t len;
	ssize_t w;

	for (;;) {
		p = derp_conn_pending(&d->c, &len);
		if (tls_on(d)) {
			if ((w = derp_tls_write(&d->t, p, p ? len : 0)) < 0) {
				drop(d, d->t.err);
				return false;
			}
			if (w > 0)
				derp_conn_written(&d->c, (size_t)w);
			d->clen += derp_tls_out(&d->t, d->cbuf + d->clen,
			    sizeof(d->cbuf) - d->clen);
			p = d->clen ? d->cbuf : NULL;
			len = d->clen;
		}
		if (p == NULL)
			return true;
		w = send(d->fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return true;
		if (w <= 0) {
			drop(d, strerror(errno));
			return false;
		}
		if (tls_on(d)) {
			memmove(d->cbuf, d->cbuf + w, d->clen - (size_t)w);
			d->clen -= (size_t)w;
		} else
			derp_conn_written(&d->c, (size_t)w);
	}
}

static bool
input_plain(struct derp_client *d, const uint8_t *p, size_t len)
{
	int r;

	/* Callbacks may send (a WireGuard reply): they only queue, so the
	 * connection cannot be dropped under derp_conn_input's feet. */
	d->in_input = true;
	r = derp_conn_input(&d->c, p, len);
	d->in_input = false;
	return r == 0;
}

static bool
input(struct derp_client *d, const uint8_t *p, size_t len)
{
	uint8_t plain[16384];
	ssize_t r;

	if (!tls_on(d))
		return input_plain(d, p, len);
	if (derp_tls_feed(&d->t, p, len) != (ssize_t)len)
		return false;
	while ((r = derp_tls_read(&d->t, plain, sizeof(plain))) > 0)
		if (!input_plain(d, plain, (size_t)r))
			return false;
	return r == 0;
}

static void
rearm(struct derp_client *d)
{
	size_t len;
	int ev = UV_READABLE;

	if (derp_conn_pending(&d->c, &len) != NULL || d->clen > 0)
		ev |= UV_WRITABLE;
	(void)uv_poll_start(&d->poll, ev, on_poll);
}

static void
readable(struct derp_client *d)
{
	uint8_t buf[16384];
	ssize_t r;

	for (int i = 0; i < 16; i++) {
		r = recv(d->fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (r <= 0) {
			drop(d, r == 0 ? "closed by the server" :
			    strerror(errno));
			return;
		}
		if (!input(d, buf, (size_t)r)) {
			drop(d, d->c.state == DERP_CONN_FAILED ? d->c.err :
			    d->t.err);
			return;
		}
		if (!d->ready && d->c.state == DERP_CONN_READY) {
			d->ready = true;
			d->logins++;
			d->backoff_ms = 0;
			if (d->on_state != NULL)
				d->on_state(d, true);
			/* Its sends (queued packets) may have dropped it. */
			if (!d->session)
				return;
		}
	}
}

static bool
connected(struct derp_client *d)
{
	int err = 0;
	socklen_t l = sizeof(err);

	if (getsockopt(d->fd, SOL_SOCKET, SO_ERROR, &err, &l) != 0)
		err = errno;
	if (err != 0) {
		drop(d, strerror(err));
		return false;
	}
	d->connecting = false;
	if (derp_conn_init(&d->c, d->to.host, d->pub, d->priv, &d->cb,
	    d->cb_arg) < 0) {
		drop(d, "out of memory");
		return false;
	}
	d->session = true;
	if (tls_on(d) && derp_tls_init(&d->t, d->ctx, d->to.host,
	    d->to.cert_name, d->to.insecure) < 0) {
		derp_conn_free(&d->c);
		d->session = false;
		drop(d, d->t.err);
		return false;
	}
	return true;
}

static void
on_poll(uv_poll_t *h, int status, int events)
{
	struct derp_client *d = h->data;

	if (d->connecting) {
		if (status < 0 || (events & UV_WRITABLE)) {
			if (!connected(d))
				return;
		} else
			return;
	}
	if (status < 0) {
		drop(d, uv_strerror(status));
		return;
	}
	if (events & UV_READABLE) {
		readable(d);
		if (!d->session)
			return;
	}
	if (flush(d))
		rearm(d);
}

static void
on_socket_wait(uv_timer_t *t)
{
	struct derp_client *d = t->data;

	d->waiting_socket = false;
	drop(d, "no socket from privd");
}

static void	dial_fd(struct derp_client *, int);

static void
dial(struct derp_client *d)
{
	int fd = d->socket_fn(d->socket_arg, d->to.addr.ss_family);

	d->dials++;
	if (fd == -EINPROGRESS) {
		d->waiting_socket = true;
		(void)uv_timer_start(&d->timer, on_socket_wait,
		    DERP_SOCKET_WAIT_MS, 0);
		return;
	}
	if (fd < 0) {
		drop(d, strerror(-fd));
		return;
	}
	dial_fd(d, fd);
}

void
derp_client_socket(struct derp_client *d, int fd)
{
	if (!d->waiting_socket || d->stopping) {
		close(fd);
		return;
	}
	d->waiting_socket = false;
	(void)uv_timer_stop(&d->timer);
	dial_fd(d, fd);
}

static void
dial_fd(struct derp_client *d, int fd)
{
	d->fd = fd;
	if (connect(fd, (struct sockaddr *)&d->to.addr, d->to.alen) != 0 &&
	    errno != EINPROGRESS) {
		int e = errno;

		close(fd);
		d->fd = -1;
		drop(d, strerror(e));
		return;
	}
	d->connecting = true;
	if (uv_poll_init(d->loop, &d->poll, fd) != 0) {
		close(fd);
		d->fd = -1;
		drop(d, "poll");
		return;
	}
	d->poll.data = d;
	d->poll_open = true;
	(void)uv_poll_start(&d->poll, UV_WRITABLE, on_poll);
}

int
derp_client_start(struct derp_client *d, uv_loop_t *loop, SSL_CTX *ctx,
    const struct derp_target *to, const uint8_t pub[32],
    const uint8_t priv[32], int (*socket_fn)(void *, int), void *sarg,
    const struct derp_conn_cb *cb, void *cb_arg)
{
	memset(d, 0, sizeof(*d));
	d->loop = loop;
	d->ctx = ctx;
	d->to = *to;
	memcpy(d->pub, pub, 32);
	memcpy(d->priv, priv, 32);
	d->socket_fn = socket_fn;
	d->socket_arg = sarg;
	if (cb != NULL)
		d->cb = *cb;
	d->cb_arg = cb_arg;
	d->fd = -1;
	if ((ctx == NULL && !to->plain) || uv_timer_init(loop, &d->timer) != 0)
		return -1;
	d->timer.data = d;
	dial(d);
	return 0;
}

void
derp_client_stop(struct derp_client *d)
{
	d->stopping = true;
	d->waiting_socket = false;
	(void)uv_timer_stop(&d->timer);
	uv_close((uv_handle_t *)&d->timer, on_timer_closed);
	if (d->session) {
		derp_conn_free(&d->c);
		if (tls_on(d))
			derp_tls_free(&d->t);
		d->session = false;
	}
	if (d->poll_open) {
		if (!uv_is_closing((uv_handle_t *)&d->poll))
			uv_close((uv_handle_t *)&d->poll, on_poll_closed);
	} else if (d->fd >= 0) {
		close(d->fd);
		d->fd = -1;
	}
	/* (freed, if on the heap, when the handles' close callbacks ran) */
}

int
derp_client_note_preferred(struct derp_client *d, bool preferred)
{
	if (!d->ready || derp_conn_note_preferred(&d->c, preferred) < 0)
		return -1;
	if (!d->in_input && flush(d))
		rearm(d);
	return 0;
}

int
derp_client_send(struct derp_client *d, const uint8_t dst[32],
    const uint8_t *pkt, size_t len)
{
	if (!d->ready || derp_conn_send(&d->c, dst, pkt, len) < 0) {
		d->tx_dropped++;
		return -1;
	}
	if (!d->in_input && flush(d))	/* else on_poll flushes after */
		rearm(d);
	return 0;
}
