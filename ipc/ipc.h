/*
 * privmesh IPC: protobuf-c envelopes over SOCK_SEQPACKET socketpairs.
 *
 * Every directed channel (e.g. netd -> privd) has one envelope message whose
 * oneof is the channel's allow-list, and one struct ipc_policy saying which
 * kinds the receiver accepts, in which phase, how often, whether the kind
 * carries a descriptor, and how each is checked.  The receiver validates
 * every datagram against it before its single dispatch function sees it:
 *
 *   size <= channel max  ->  unpack  ->  no unknown fields (at any depth)
 *   ->  kind set and listed  ->  phase / once-only  ->  fd present iff the
 *   kind carries one (exactly one)  ->  per-message check  ->  dispatch
 *
 * Anything else is dropped and counted, and the owner is told (IPC_EV_DROP)
 * so it can log at a limited rate.  A peer that keeps sending garbage
 * (IPC_CUTOFF_COUNT drops within IPC_CUTOFF_WINDOW_MS) is cut off: the
 * channel stops reading and the owner gets IPC_EV_CUTOFF.
 *
 * This library never logs; it returns 0 or a negative errno.
 */
#ifndef PM_IPC_H
#define PM_IPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>
#include <uv.h>

#include "common.pb-c.h"

#define IPC_CUTOFF_COUNT	32
#define IPC_CUTOFF_WINDOW_MS	10000
#define IPC_TXQ_MAX		1024	/* queued datagrams before tx drops */
#define IPC_RX_BURST		64	/* datagrams per wakeup, for fairness */

/* Kind flags. */
#define IPC_F_FD	0x1	/* carries exactly one descriptor */
#define IPC_F_ONCE	0x2	/* legal once per channel lifetime */

/* Channel phases; a kind lists the phases it is legal in (0 = any). */
#define IPC_PHASE_START	0x1	/* child spawned, Ready not yet received */
#define IPC_PHASE_RUN	0x2

struct ipc_policy;

struct ipc_kind {
	uint32_t	 kind;		/* oneof field number */
	uint32_t	 flags;
	uint32_t	 phases;
	int		(*check)(const struct ipc_policy *pol,
			    const ProtobufCMessage *payload);
};

struct ipc_policy {
	const char	*name;		/* "netd->privd" */
	Pm__Proc	 from, to;
	const ProtobufCMessageDescriptor *desc;
	size_t		 max_size;	/* largest datagram, bytes */
	const struct ipc_kind *kinds;
	size_t		 nkinds;
};

enum ipc_drop {
	IPC_DROP_UNPACK,
	IPC_DROP_OVERSIZED,
	IPC_DROP_UNKNOWN_FIELDS,
	IPC_DROP_NOT_ALLOWED,
	IPC_DROP_PHASE,
	IPC_DROP_FD,
	IPC_DROP_INVALID,
	IPC_DROP_MAX
};

struct ipc_stats {
	uint64_t	rx, tx, tx_dropped, dropped, cutoffs;
	uint64_t	drops[IPC_DROP_MAX];
};

/* The policy of directed channel from -> to, or NULL if there is none. */
const struct ipc_policy *ipc_policy(Pm__Proc from, Pm__Proc to);

/* Result of a successful decode; free with ipc_decoded_free(). */
struct ipc_msg {
	ProtobufCMessage	*env;
	const ProtobufCMessage	*payload;	/* the oneof member */
	uint32_t		 kind;
	const struct ipc_kind	*k;
	int			 fd;		/* -1 unless the kind carries one */
};

/*
 * Validates and unpacks one datagram against `pol` in channel phase `phase`,
 * with `once_done` the bitmask (by kinds[] index) of once-only kinds already
 * seen.  Pure: no I/O, no logging; this is what the fuzzers drive.
 * Returns 0, or -EBADMSG with *why set.
 */
int	ipc_decode(const struct ipc_policy *pol, const uint8_t *buf, size_t len,
	    bool has_fd, uint32_t phase, uint64_t once_done, struct ipc_msg *out,
	    enum ipc_drop *why);
void	ipc_msg_free(struct ipc_msg *m);

/* True if `m` or any message inside it carries unknown fields. */
bool	ipc_has_unknown_fields(const ProtobufCMessage *m);

/* Oneof case of an envelope (0 if unset or the envelope has no oneof). */
uint32_t ipc_envelope_kind(const ProtobufCMessage *env);

const char *ipc_drop_name(enum ipc_drop why);

enum ipc_event {
	IPC_EV_DROP,		/* detail: enum ipc_drop */
	IPC_EV_CUTOFF,		/* too many drops; channel stopped reading */
	IPC_EV_EOF,		/* peer closed */
	IPC_EV_ERROR,		/* detail: errno of a failed recvmsg/sendmsg */
	IPC_EV_TX_DROP,		/* tx queue full, datagram dropped */
};

struct ipc_chan;
typedef int	(*ipc_dispatch_fn)(struct ipc_chan *, struct ipc_msg *, void *);
typedef void	(*ipc_event_fn)(struct ipc_chan *, enum ipc_event, int, void *);

struct ipc_txbuf;

struct ipc_chan {
	uv_poll_t		*poll;
	int			 fd;
	bool			 open;
	bool			 cut_off;
	bool			 eof;
	const struct ipc_policy	*rx_pol;
	const struct ipc_policy	*tx_pol;
	uint32_t		 phase;
	uint64_t		 once_done;
	struct ipc_stats	 st;
	uint64_t		 bad_begin_ms;
	unsigned		 bad_count;
	uint8_t			*rxbuf;
	struct ipc_txbuf	*txq_head, *txq_tail;
	size_t			 txq_len;
	ipc_dispatch_fn		 dispatch;
	ipc_event_fn		 on_event;
	void			*arg;
};

/*
 * Starts serving `fd` (a SOCK_SEQPACKET socket, made non-blocking here) as
 * the channel between `self` and `peer`.  The channel owns fd from now on.
 */
int	ipc_chan_open(struct ipc_chan *c, uv_loop_t *loop, int fd, Pm__Proc self,
	    Pm__Proc peer, ipc_dispatch_fn dispatch, ipc_event_fn on_event,
	    void *arg);
/*
 * Serves a new socket to the same peer (after privd restarted it): the old
 * socket is closed, once-only kinds and the cut-off are reset, counters kept.
 */
int	ipc_chan_replace(struct ipc_chan *c, uv_loop_t *loop, int fd);
/* Stops the channel and closes its fd; safe on a closed channel. */
void	ipc_chan_close(struct ipc_chan *c);

/*
 * Sends one envelope (of the tx policy's type) with an optional descriptor
 * (-1 for none; the caller keeps its own copy).  Queues when the socket is
 * full.  Returns 0, -EMSGSIZE, -ENOTCONN, -ENOBUFS or another -errno.
 */
int	ipc_send(struct ipc_chan *c, const ProtobufCMessage *env, int fd);

/* Counts a dispatched message that its receiver refused on closer
 * inspection as invalid, like a failed per-message check (no cut-off: the
 * receiver answers it). */
void	ipc_chan_count_invalid(struct ipc_chan *c);

/* Fills a ChannelStats for status replies. */
void	ipc_chan_stats(const struct ipc_chan *c, Pm__ChannelStats *out);

#endif
