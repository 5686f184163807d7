/*
 * The DERP relay's frame protocol (tailscale derp/derp.go, derp_client.go):
 * every frame is a type byte, a big-endian uint32 payload length, and the
 * payload.  Login: the server sends ServerKey ("DERP🔑" + its key), the
 * client sends ClientInfo (its node key, a nonce and a NaCl box of JSON
 * {"version":2,...} to the server key), the server may answer ServerInfo.
 * Then SendPacket/RecvPacket carry packets addressed by node key.
 *
 * Builders write one whole frame (header included) into a caller buffer and
 * return its length, or -1 if it does not fit or breaks a size limit.
 * Parsers take a frame's payload; they return 0 or -1, and the pointers
 * they set point into that payload.  Keys are passed in, never kept.
 */
#ifndef PM_NETD_DERP_FRAME_H
#define PM_NETD_DERP_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sys/types.h>

#include "ipport.h"

#define DERP_MAGIC		"DERP\xf0\x9f\x94\x91"
#define DERP_MAGIC_LEN		8
#define DERP_KEY_LEN		32
#define DERP_NONCE_LEN		24
#define DERP_MAC_LEN		16
#define DERP_HEADER_LEN		5
#define DERP_PROTOCOL_VERSION	2
/* Packet bytes in one SendPacket or RecvPacket. */
#define DERP_MAX_PACKET_SIZE	(64u << 10)
/* The Go client drops the connection on a longer frame. */
#define DERP_MAX_FRAME_SIZE	(1u << 20)
/* ServerInfo / ClientInfo JSON. */
#define DERP_MAX_INFO_LEN	(1u << 20)
#define DERP_PING_LEN		8
#define DERP_SERVER_KEY_LEN	(DERP_MAGIC_LEN + DERP_KEY_LEN)

enum derp_frame_type {
	DERP_FRAME_SERVER_KEY = 0x01,
	DERP_FRAME_CLIENT_INFO = 0x02,
	DERP_FRAME_SERVER_INFO = 0x03,
	DERP_FRAME_SEND_PACKET = 0x04,
	DERP_FRAME_RECV_PACKET = 0x05,
	DERP_FRAME_KEEP_ALIVE = 0x06,
	DERP_FRAME_NOTE_PREFERRED = 0x07,
	DERP_FRAME_PEER_GONE = 0x08,
	DERP_FRAME_PEER_PRESENT = 0x09,
	DERP_FRAME_FORWARD_PACKET = 0x0a,
	DERP_FRAME_WATCH_CONNS = 0x10,
	DERP_FRAME_CLOSE_PEER = 0x11,
	DERP_FRAME_PING = 0x12,
	DERP_FRAME_PONG = 0x13,
	DERP_FRAME_HEALTH = 0x14,
	DERP_FRAME_RESTARTING = 0x15,
};

enum derp_peer_gone_reason {
	DERP_PEER_GONE_DISCONNECTED = 0x00,
	DERP_PEER_GONE_NOT_HERE = 0x01,
};

/* PeerPresent flags. */
#define DERP_PEER_PRESENT_REGULAR	0x01
#define DERP_PEER_PRESENT_MESH_PEER	0x02
#define DERP_PEER_PRESENT_PROBER	0x04
#define DERP_PEER_PRESENT_NOT_IDEAL	0x08

struct derp_frame {
	uint8_t		 type;
	uint32_t	 len;
	const uint8_t	*payload;
};

struct derp_client_info {
	bool		 can_ack_pings;
	bool		 is_prober;
	const char	*mesh_key;	/* hex, or NULL */
	const char	*app_name;	/* or NULL */
};

struct derp_server_info {
	int64_t		version;
	int64_t		token_bucket_bytes_per_second;	/* 0: no limit */
	int64_t		token_bucket_bytes_burst;
};

struct derp_peer_present {
	uint8_t		key[DERP_KEY_LEN];
	bool		has_addr;	/* older servers send only the key */
	struct ipport	addr;
	bool		has_flags;
	uint8_t		flags;
};

/* Builders. */
ssize_t	derp_build_frame(uint8_t *out, size_t cap, uint8_t type,
	    const uint8_t *payload, size_t len);
ssize_t	derp_build_server_key(uint8_t *out, size_t cap,
	    const uint8_t server_pub[DERP_KEY_LEN]);
ssize_t	derp_build_client_info(uint8_t *out, size_t cap,
	    const uint8_t client_pub[DERP_KEY_LEN],
	    const uint8_t client_priv[DERP_KEY_LEN],
	    const uint8_t server_pub[DERP_KEY_LEN],
	    const struct derp_client_info *);
ssize_t	derp_build_send_packet(uint8_t *out, size_t cap,
	    const uint8_t dst[DERP_KEY_LEN], const uint8_t *pkt, size_t len);
ssize_t	derp_build_recv_packet(uint8_t *out, size_t cap,
	    const uint8_t src[DERP_KEY_LEN], const uint8_t *pkt, size_t len);
ssize_t	derp_build_keep_alive(uint8_t *out, size_t cap);
ssize_t	derp_build_note_preferred(uint8_t *out, size_t cap, bool preferred);
ssize_t	derp_build_peer_gone(uint8_t *out, size_t cap,
	    const uint8_t peer[DERP_KEY_LEN], uint8_t reason);
ssize_t	derp_build_peer_present(uint8_t *out, size_t cap,
	    const struct derp_peer_present *);
/* type is DERP_FRAME_PING or DERP_FRAME_PONG. */
ssize_t	derp_build_ping(uint8_t *out, size_t cap, uint8_t type,
	    const uint8_t data[DERP_PING_LEN]);
ssize_t	derp_build_health(uint8_t *out, size_t cap, const char *problem);
ssize_t	derp_build_restarting(uint8_t *out, size_t cap,
	    uint32_t reconnect_in_ms, uint32_t try_for_ms);

/* Parsers of payloads. */
int	derp_parse_server_key(const uint8_t *, size_t,
	    uint8_t server_pub[DERP_KEY_LEN]);
int	derp_open_server_info(const uint8_t *, size_t,
	    const uint8_t client_priv[DERP_KEY_LEN],
	    const uint8_t server_pub[DERP_KEY_LEN], struct derp_server_info *);
/* SendPacket (dst) and RecvPacket (src) share the layout. */
int	derp_parse_packet(const uint8_t *, size_t, const uint8_t **key,
	    const uint8_t **pkt, size_t *pkt_len);
int	derp_parse_note_preferred(const uint8_t *, size_t, bool *preferred);
/* A missing reason byte (old servers) means disconnected. */
int	derp_parse_peer_gone(const uint8_t *, size_t,
	    uint8_t peer[DERP_KEY_LEN], uint8_t *reason);
int	derp_parse_peer_present(const uint8_t *, size_t,
	    struct derp_peer_present *);
/* Ping or Pong: the first 8 bytes; longer payloads are allowed. */
int	derp_parse_ping(const uint8_t *, size_t, uint8_t data[DERP_PING_LEN]);
/*
 * The problem text, made safe for a log line (bytes outside printable
 * ASCII become '?') and cut to cap - 1; empty means healthy.
 */
int	derp_parse_health(const uint8_t *, size_t, char *text, size_t cap);
int	derp_parse_restarting(const uint8_t *, size_t,
	    uint32_t *reconnect_in_ms, uint32_t *try_for_ms);

/*
 * Incremental reader: frames out of a byte stream that arrives in pieces.
 * A frame longer than max_frame is an error that ends the stream (the
 * length prefix can no longer be trusted).
 */
struct derp_reader {
	uint32_t	 max_frame;
	uint8_t		 hdr[DERP_HEADER_LEN];
	size_t		 hdr_have;
	uint8_t		 type;
	uint32_t	 want;		/* payload length of the current frame */
	uint32_t	 have;
	uint8_t		*buf;
	size_t		 buf_cap;
	bool		 failed;
};

enum derp_read {
	DERP_READ_MORE = 0,	/* all input consumed, no complete frame */
	DERP_READ_FRAME = 1,	/* *frame valid until the next call */
	DERP_READ_ERROR = -1,	/* oversized frame or out of memory */
};

void	derp_reader_init(struct derp_reader *, uint32_t max_frame);
void	derp_reader_free(struct derp_reader *);
/*
 * Consumes input from *data, *len (advancing both) up to the end of one
 * frame.  Call again with the rest until it returns DERP_READ_MORE.
 */
enum derp_read derp_reader_next(struct derp_reader *, const uint8_t **data,
	    size_t *len, struct derp_frame *frame);

const char *derp_frame_type_name(uint8_t);

#endif
