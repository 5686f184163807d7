/*
 * Transport keypairs and data messages (paper sections 5.4.6 and 5.4.7).
 *
 * A peer holds up to three keypairs: current (used to send), previous (still
 * accepted while packets sent under it drain) and next (the responder's new
 * keypair, unused for sending until the initiator proves it has it by
 * sending data under it; that packet makes it current).
 *
 * Data packet, built in the caller's buffer, in place:
 *
 *	0      4         8               16                      16+n    +16
 *	| 4 000 | receiver | counter (LE64) | plaintext, 0-padded   | tag |
 *
 * The caller leaves WG_MSG_DATA_HEADER_LEN bytes of headroom before the
 * plaintext, and room for up to 15 bytes of padding and the tag after it.
 * Nothing here allocates; all state of a keypair is in the keypair.
 */
#ifndef PM_WG_SESSION_H
#define PM_WG_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "aead.h"
#include "messages.h"
#include "noise.h"

struct wg_device;
struct wg_peer;
struct wg_rx;

/* RFC 6479 sliding window over received counters. */
struct wg_replay {
	uint64_t	counter;	/* greatest accepted + 1; 0 = none yet */
	uint64_t	bitmap[WG_REPLAY_WORDS];
};

struct wg_keypair {
	struct wg_index_entry entry;	/* our index: the peer's receiver index */
	struct aead_key	send;
	struct aead_key	recv;
	uint64_t	send_counter;	/* next nonce to use */
	struct wg_replay replay;
	uint64_t	birthdate;	/* monotonic ns at derivation */
	uint32_t	remote_index;	/* host order */
	bool		initiator;
	bool		send_valid;
	bool		recv_valid;
};

struct wg_keypairs {
	struct wg_keypair *current;
	struct wg_keypair *previous;
	struct wg_keypair *next;
};

/* ---- Keypairs ----------------------------------------------------------- */

/* Allocates a keypair from the two derived keys (copied). */
int	wg_keypair_create(struct wg_keypair **,
	    const uint8_t send_key[WG_KEY_LEN], const uint8_t recv_key[WG_KEY_LEN],
	    bool initiator, uint32_t remote_index, uint64_t now_ns);
/* Unlists it (dev may be NULL if it never was), wipes and frees it. */
void	wg_keypair_destroy(struct wg_device *, struct wg_keypair *);
/* Installs a new keypair in its slot (paper 5.4.6 rotation). */
void	wg_keypairs_add(struct wg_device *, struct wg_keypairs *,
	    struct wg_keypair *);
/* Key confirmation: true if kp was next and is now current. */
bool	wg_keypairs_received_with(struct wg_device *, struct wg_keypairs *,
	    struct wg_keypair *);
void	wg_keypairs_clear(struct wg_device *, struct wg_keypairs *);

/* ---- Packets ------------------------------------------------------------ */

/* Accepts a counter at most once and not more than WG_REPLAY_WINDOW old. */
bool	wg_replay_check(struct wg_replay *, uint64_t counter);
/* plen rounded up to 16, but not past mtu (0 = no MTU cap). */
size_t	wg_padded_len(size_t plen, size_t mtu);
/*
 * pkt[16 .. 16+plen) holds the plaintext, cap is the buffer's size.  Writes
 * the whole message to pkt[0 .. *outlen).  -EMSGSIZE if it would not fit,
 * -EKEYEXPIRED when the send counter is used up or the key invalid.
 */
int	wg_keypair_encrypt(struct wg_keypair *, uint8_t *pkt, size_t cap,
	    size_t plen, size_t mtu, size_t *outlen);
/*
 * pkt/len is a data message for this keypair (wg_message_type() checked the
 * length).  Decrypts in place to pkt[16 .. 16 + *plainlen).  -EBADMSG if
 * authentication fails, -ESTALE for a replayed or too old counter,
 * -EKEYEXPIRED for an invalid key.
 */
int	wg_keypair_decrypt(struct wg_keypair *, uint8_t *pkt, size_t len,
	    size_t *plainlen);
/* Length of the IPv4/IPv6 packet at the start of a decrypted payload. */
int	wg_inner_packet_len(const uint8_t *plain, size_t plen, size_t *iplen);

/* ---- Peer data path ----------------------------------------------------- */

/*
 * Encrypts under the current keypair and runs the timer hooks; plen 0 is a
 * keepalive.  -ENOKEY when there is no usable keypair: the packet was not
 * sent, a handshake has been asked for (see wg_timers_poll()), and the
 * caller stages the packet until WG_RX_SEND_STAGED.
 */
int	wg_send_data(struct wg_peer *, uint8_t *pkt, size_t cap, size_t plen,
	    size_t mtu, uint64_t now_ns, size_t *outlen);
/* The data branch of wg_device_receive() (peer.h). */
int	wg_receive_data(struct wg_device *, uint8_t *pkt, size_t len,
	    const struct sockaddr *src, socklen_t srclen, uint64_t now_ns,
	    uint64_t now_real_ns, struct wg_rx *);

#endif
