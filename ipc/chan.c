/*
 * A channel: one SOCK_SEQPACKET socket served from a libuv loop.  Receiving
 * runs every datagram through ipc_decode() before the owner's dispatch
 * function sees it; sending packs an envelope, attaches at most one
 * descriptor, and queues when the socket buffer is full.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ipc.h"
#include "log.h"

#define MAX_RX_FDS	4	/* room to see (and close) surplus fds */

static void update_poll(struct ipc_chan *c);

struct ipc_txbuf {
	struct ipc_txbuf	*next;
	int			 fd;
	size_t			 len;
	uint8_t			 data[];
};

static void
event(struct ipc_chan *c, enum ipc_event ev, int detail)
{
	if (c->on_event != NULL)
		c->on_event(c, ev, detail, c->arg);
}

static void
close_fds(const int *fds, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
}

/* Drops are counted; enough of them within the window cut the peer off. */
static void
count_drop(struct ipc_chan *c, enum ipc_drop why)
{
	uint64_t now = now_ms();

	c->st.dropped++;
	c->st.drops[why]++;
	event(c, IPC_EV_DROP, (int)why);
	if (c->bad_begin_ms == 0 || now - c->bad_begin_ms > IPC_CUTOFF_WINDOW_MS) {
		c->bad_begin_ms = now;
		c->bad_count = 0;
	}
	if (++c->bad_count >= IPC_CUTOFF_COUNT && !c->cut_off) {
		c->cut_off = true;
		c->st.cutoffs++;
		uv_poll_stop(c->poll);
		event(c, IPC_EV_CUTOFF, 0);
	}
}

/* Collects SCM_RIGHTS descriptors; returns how many, or -1 if truncated. */
static int
take_fds(struct msghdr *mh, int *fds)
{
	int n = 0;

	for (struct cmsghdr *cm = CMSG_FIRSTHDR(mh); cm != NULL;
	    cm = CMSG_NXTHDR(mh, cm)) {
		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		size_t k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < k && n < MAX_RX_FDS; i++)
			memcpy(&fds[n++], CMSG_DATA(cm) + i * sizeof(int),
			    sizeof(int));
	}
	return n;
}

static void
deliver(struct ipc_chan *c, const uint8_t *buf, size_t len, int *fds, int nfds,
    bool truncated)
{
	struct ipc_msg m;
	enum ipc_drop why;
	size_t idx;

	if (truncated) {
		close_fds(fds, (size_t)nfds);
		count_drop(c, IPC_DROP_OVERSIZED);
		return;
	}
	if (nfds > 1 || ipc_decode(c->rx_pol, buf, len, nfds == 1, c->phase,
	    c->once_done, &m, &why) != 0) {
		close_fds(fds, (size_t)nfds);
		count_drop(c, nfds > 1 ? IPC_DROP_FD : why);
		return;
	}
	m.fd = nfds == 1 ? fds[0] : -1;
	idx = (size_t)(m.k - c->rx_pol->kinds);
	if (m.k->flags & IPC_F_ONCE)
		c->once_done |= 1ULL << idx;
	c->st.rx++;
	c->dispatch(c, &m, c->arg);
	/* A handler that keeps the fd sets m.fd = -1. */
	if (m.fd >= 0)
		close(m.fd);
	ipc_msg_free(&m);
}

/* Returns 1 if a datagram was handled, 0 when drained, -1 on EOF/error. */
static int
recv_one(struct ipc_chan *c)
{
	union {
		struct cmsghdr	hdr;
		char		buf[CMSG_SPACE(sizeof(int) * MAX_RX_FDS)];
	} cbuf;
	struct iovec iov = { c->rxbuf, c->rx_pol->max_size };
	struct msghdr mh = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = cbuf.buf, .msg_controllen = sizeof(cbuf.buf),
	};
	int fds[MAX_RX_FDS], nfds;
	ssize_t n;

	n = recvmsg(c->fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	if (n < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return 0;
		event(c, IPC_EV_ERROR, errno);
		return -1;
	}
	nfds = take_fds(&mh, fds);
	/*
	 * On SOCK_SEQPACKET a zero-length datagram cannot be told from EOF.
	 * No valid envelope is empty (it would set no kind), so both mean the
	 * peer hung up; the owner closes the channel and, if the peer is still
	 * alive, treats it as misbehaving.
	 */
	if (n == 0 && nfds == 0) {
		/* Report it once; the owner closes or replaces the channel. */
		c->eof = true;
		update_poll(c);
		event(c, IPC_EV_EOF, 0);
		return -1;
	}
	deliver(c, c->rxbuf, (size_t)n, fds, nfds,
	    (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) != 0);
	return 1;
}

static int flush_txq(struct ipc_chan *c);

static void
on_poll(uv_poll_t *h, int status, int events)
{
	struct ipc_chan *c = h->data;

	if (c == NULL)
		return;
	if (status < 0) {
		event(c, IPC_EV_ERROR, -status);
		return;
	}
	if ((events & UV_WRITABLE) && flush_txq(c) < 0)
		return;
	if (!(events & (UV_READABLE | UV_DISCONNECT)))
		return;
	for (int i = 0; i < IPC_RX_BURST && c->open && !c->cut_off && !c->eof;
	    i++)
		if (recv_one(c) <= 0)
			break;
}

static void
update_poll(struct ipc_chan *c)
{
	int ev = UV_READABLE | UV_DISCONNECT;

	if (c->cut_off || c->eof)
		ev = 0;
	if (c->txq_head != NULL)
		ev |= UV_WRITABLE;
	if (ev == 0)
		uv_poll_stop(c->poll);
	else
		uv_poll_start(c->poll, ev, on_poll);
}

/* Starts polling `fd`; the policies and counters are already in place. */
static int
attach(struct ipc_chan *c, uv_loop_t *loop, int fd)
{
	int fl;

	if ((fl = fcntl(fd, F_GETFL)) < 0 ||
	    fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 ||
	    fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
		return -errno;
	c->rxbuf = malloc(c->rx_pol->max_size);
	c->poll = malloc(sizeof(*c->poll));
	if (c->rxbuf == NULL || c->poll == NULL ||
	    uv_poll_init(loop, c->poll, fd) != 0) {
		free(c->rxbuf);
		free(c->poll);
		c->rxbuf = NULL;
		c->poll = NULL;
		return -ENOMEM;
	}
	c->poll->data = c;
	c->fd = fd;
	c->open = true;
	c->cut_off = false;
	c->eof = false;
	c->once_done = 0;
	c->bad_begin_ms = 0;
	c->bad_count = 0;
	update_poll(c);
	return 0;
}

int
ipc_chan_open(struct ipc_chan *c, uv_loop_t *loop, int fd, Pm__Proc self,
    Pm__Proc peer, ipc_dispatch_fn dispatch, ipc_event_fn on_event, void *arg)
{
	memset(c, 0, sizeof(*c));
	c->fd = -1;
	c->rx_pol = ipc_policy(peer, self);
	c->tx_pol = ipc_policy(self, peer);
	if (c->rx_pol == NULL || c->tx_pol == NULL)
		return -EINVAL;
	c->phase = IPC_PHASE_RUN;
	c->dispatch = dispatch;
	c->on_event = on_event;
	c->arg = arg;
	return attach(c, loop, fd);
}

int
ipc_chan_replace(struct ipc_chan *c, uv_loop_t *loop, int fd)
{
	if (c->rx_pol == NULL)
		return -EINVAL;
	ipc_chan_close(c);
	return attach(c, loop, fd);
}

/* The poll handle outlives the channel until libuv is done with it. */
static void
on_closed(uv_handle_t *h)
{
	free(h);
}

void
ipc_chan_close(struct ipc_chan *c)
{
	struct ipc_txbuf *t;

	if (!c->open)
		return;
	c->open = false;
	uv_poll_stop(c->poll);
	c->poll->data = NULL;
	uv_close((uv_handle_t *)c->poll, on_closed);
	c->poll = NULL;
	close(c->fd);
	c->fd = -1;
	while ((t = c->txq_head) != NULL) {
		c->txq_head = t->next;
		if (t->fd >= 0)
			close(t->fd);
		free(t);
	}
	c->txq_tail = NULL;
	c->txq_len = 0;
	free(c->rxbuf);
	c->rxbuf = NULL;
}

static ssize_t
send_raw(int sock, const uint8_t *buf, size_t len, int fd)
{
	union {
		struct cmsghdr	hdr;
		char		buf[CMSG_SPACE(sizeof(int))];
	} cbuf;
	struct iovec iov = { (void *)buf, len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (fd >= 0) {
		memset(&cbuf, 0, sizeof(cbuf));
		mh.msg_control = cbuf.buf;
		mh.msg_controllen = sizeof(cbuf.buf);
		struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	}
	return sendmsg(sock, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
}

static int
enqueue(struct ipc_chan *c, const uint8_t *buf, size_t len, int fd)
{
	struct ipc_txbuf *t;

	if (c->txq_len >= IPC_TXQ_MAX) {
		c->st.tx_dropped++;
		event(c, IPC_EV_TX_DROP, 0);
		return -ENOBUFS;
	}
	if ((t = malloc(sizeof(*t) + len)) == NULL)
		return -ENOMEM;
	t->next = NULL;
	t->len = len;
	t->fd = -1;
	if (fd >= 0 && (t->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0)) < 0) {
		free(t);
		return -errno;
	}
	memcpy(t->data, buf, len);
	if (c->txq_tail != NULL)
		c->txq_tail->next = t;
	else
		c->txq_head = t;
	c->txq_tail = t;
	c->txq_len++;
	update_poll(c);
	return 0;
}

static int
flush_txq(struct ipc_chan *c)
{
	struct ipc_txbuf *t;

	while ((t = c->txq_head) != NULL) {
		if (send_raw(c->fd, t->data, t->len, t->fd) < 0) {
			if (errno == EAGAIN)
				return 0;
			event(c, IPC_EV_ERROR, errno);
			return -1;
		}
		c->st.tx++;
		c->txq_head = t->next;
		if (c->txq_head == NULL)
			c->txq_tail = NULL;
		c->txq_len--;
		if (t->fd >= 0)
			close(t->fd);
		free(t);
	}
	update_poll(c);
	return 0;
}

int
ipc_send(struct ipc_chan *c, const ProtobufCMessage *env, int fd)
{
	size_t len;
	uint8_t *buf;
	int r = 0;

	if (!c->open)
		return -ENOTCONN;
	if (env->descriptor != c->tx_pol->desc)
		return -EINVAL;
	len = protobuf_c_message_get_packed_size(env);
	if (len > c->tx_pol->max_size)
		return -EMSGSIZE;
	if ((buf = malloc(len ? len : 1)) == NULL)
		return -ENOMEM;
	protobuf_c_message_pack(env, buf);
	if (c->txq_head != NULL)
		r = enqueue(c, buf, len, fd);
	else if (send_raw(c->fd, buf, len, fd) >= 0)
		c->st.tx++;
	else if (errno == EAGAIN)
		r = enqueue(c, buf, len, fd);
	else
		r = -errno;
	free(buf);
	return r;
}

void
ipc_chan_stats(const struct ipc_chan *c, Pm__ChannelStats *out)
{
	out->peer = c->rx_pol != NULL ? c->rx_pol->from : PM__PROC__PROC_UNSPEC;
	out->rx = c->st.rx;
	out->tx = c->st.tx;
	out->dropped = c->st.dropped;
	out->bad_unpack = c->st.drops[IPC_DROP_UNPACK];
	out->oversized = c->st.drops[IPC_DROP_OVERSIZED];
	out->unknown_fields = c->st.drops[IPC_DROP_UNKNOWN_FIELDS];
	out->not_allowed = c->st.drops[IPC_DROP_NOT_ALLOWED];
	out->bad_phase = c->st.drops[IPC_DROP_PHASE];
	out->bad_fd = c->st.drops[IPC_DROP_FD];
	out->invalid = c->st.drops[IPC_DROP_INVALID];
	out->cutoffs = c->st.cutoffs;
}

void
ipc_chan_count_invalid(struct ipc_chan *c)
{
	c->st.dropped++;
	c->st.drops[IPC_DROP_INVALID]++;
}
