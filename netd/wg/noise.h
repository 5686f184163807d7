/*
 * The WireGuard handshake: Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s with
 * WireGuard's prologue, MACs and TAI64N payload (paper section 5.4).
 *
 *	initiator                                responder
 *	wg_create_initiation()   -- type 1 -->   wg_consume_initiation()
 *	                                         wg_create_response()
 *	                                         wg_begin_session()   (next)
 *	wg_consume_response()    <-- type 2 --
 *	wg_begin_session()   (current)
 *	first data packet        -- type 4 -->   next becomes current
 *
 * These functions are pure protocol: they keep the handshake state in the
 * peer and the local index in the device's table, add MAC1/MAC2 to what they
 * create, and neither arm timers nor touch sockets; peer.c sequences them
 * with the timer hooks.  All return 0 or a negative errno:
 *	-EBADMSG	authentication failed
 *	-ENOENT		unknown sender (static key or receiver index)
 *	-ESTALE		initiation timestamp not newer than the last one
 *	-EAGAIN		initiations from this peer arrive too fast
 *	-EINVAL		wrong state for this step, or a low-order key
 *	-ENOKEY		the device has no private key
 *	-ENOMEM		no memory for the handshake or a new keypair
 */
#ifndef PM_WG_NOISE_H
#define PM_WG_NOISE_H

#include <stdbool.h>
#include <stdint.h>

#include "messages.h"

struct wg_device;
struct wg_peer;

/* A local index (our sender index) in the device's table. */
enum wg_index_type {
	WG_INDEX_HANDSHAKE = 1 << 0,
	WG_INDEX_KEYPAIR = 1 << 1,
};

struct wg_index_entry {
	struct wg_index_entry	*next;		/* hash chain */
	struct wg_peer		*peer;
	uint32_t		 index;		/* host order */
	uint8_t			 type;		/* enum wg_index_type, 0 = unlisted */
};

enum wg_handshake_state {
	WG_HANDSHAKE_ZEROED = 0,
	WG_HANDSHAKE_CREATED_INITIATION,
	WG_HANDSHAKE_CONSUMED_INITIATION,
	WG_HANDSHAKE_CREATED_RESPONSE,
	WG_HANDSHAKE_CONSUMED_RESPONSE,
};

/*
 * The in-progress handshake with one peer; all secrets.  Allocated when an
 * exchange starts (we initiate, or authenticate an initiation) and wiped
 * and freed once its session is derived or it is dropped, so a peer with
 * no exchange under way carries only a NULL pointer (peer->handshake).
 * What must outlive it, the replay state of initiations, is in the peer.
 */
struct wg_handshake {
	struct wg_index_entry	entry;
	uint8_t		ephemeral_private[WG_KEY_LEN];
	uint8_t		remote_ephemeral[WG_KEY_LEN];
	uint8_t		hash[WG_HASH_LEN];
	uint8_t		chaining_key[WG_HASH_LEN];
	uint32_t	remote_index;	/* host order */
	uint8_t		state;		/* enum wg_handshake_state */
};

/*
 * Deterministic inputs, for known-answer tests only: production passes NULL
 * and gets a random ephemeral key, the current time and a random index.
 */
struct wg_handshake_fixed {
	uint8_t		ephemeral_private[WG_KEY_LEN];
	uint8_t		timestamp[WG_TIMESTAMP_LEN];	/* initiation only */
	uint32_t	local_index;
};

/* TAI64N of a CLOCK_REALTIME value, whitened to 2^24 ns as the kernel does. */
void	wg_tai64n(uint8_t out[WG_TIMESTAMP_LEN], uint64_t realtime_ns);

/* now_real_ns is CLOCK_REALTIME: it becomes the encrypted timestamp. */
int	wg_create_initiation(struct wg_device *, struct wg_peer *,
	    struct wg_msg_initiation *, uint64_t now_ns, uint64_t now_real_ns,
	    const struct wg_handshake_fixed *);
/* On success *peerp is the authenticated initiator. */
int	wg_consume_initiation(struct wg_device *, const struct wg_msg_initiation *,
	    uint64_t now_ns, struct wg_peer **peerp);
int	wg_create_response(struct wg_device *, struct wg_peer *,
	    struct wg_msg_response *, uint64_t now_ns,
	    const struct wg_handshake_fixed *);
int	wg_consume_response(struct wg_device *, const struct wg_msg_response *,
	    struct wg_peer **peerp);
/*
 * After wg_create_response() or wg_consume_response(): derives the transport
 * keypair, drops the handshake, and installs the keypair (as current for the
 * initiator, as next for the responder until key confirmation).
 */
int	wg_begin_session(struct wg_device *, struct wg_peer *, uint64_t now_ns);
/*
 * Forgets the peer's handshake, if any: unlists its index, wipes and frees
 * it.  The peer's initiation replay state stays.
 */
void	wg_handshake_clear(struct wg_device *, struct wg_peer *);

#endif
