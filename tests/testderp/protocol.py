"""DERP wire constants and frame encoding, as Tailscale's derp package has them.

Source of every number here: tailscale/tailscale derp/derp.go,
derp/derpserver/derpserver.go and disco/disco.go.
"""
import struct

MAGIC = "DERP🔑".encode()          # 44 45 52 50 f0 9f 94 91
assert len(MAGIC) == 8
PROTOCOL_VERSION = 2
KEY_LEN = 32
NONCE_LEN = 24
FRAME_HEADER_LEN = 5
MAX_PACKET_SIZE = 64 << 10          # packet bytes in one Send/Recv
MAX_CLIENT_INFO_LEN = 256 << 10     # the server refuses a longer ClientInfo
MAX_PING_LEN = 1000                 # the server refuses a longer Ping body
KEEPALIVE_SECONDS = 60.0            # plus up to 5 s of jitter per connection
TCP_WRITE_TIMEOUT = 2.0             # a client that blocks our writes longer is cut
HANDSHAKE_TIMEOUT = 10.0            # ServerKey -> ClientInfo deadline
SEND_QUEUE_DEPTH = 32               # per client, per queue (disco and other)

SERVER_KEY = 0x01
CLIENT_INFO = 0x02
SERVER_INFO = 0x03
SEND_PACKET = 0x04
RECV_PACKET = 0x05
KEEP_ALIVE = 0x06
NOTE_PREFERRED = 0x07
PEER_GONE = 0x08
PEER_PRESENT = 0x09
FORWARD_PACKET = 0x0A
WATCH_CONNS = 0x10
CLOSE_PEER = 0x11
PING = 0x12
PONG = 0x13
HEALTH = 0x14
RESTARTING = 0x15

FRAME_NAMES = {
    SERVER_KEY: "server_key", CLIENT_INFO: "client_info",
    SERVER_INFO: "server_info", SEND_PACKET: "send_packet",
    RECV_PACKET: "recv_packet", KEEP_ALIVE: "keep_alive",
    NOTE_PREFERRED: "note_preferred", PEER_GONE: "peer_gone",
    PEER_PRESENT: "peer_present", FORWARD_PACKET: "forward_packet",
    WATCH_CONNS: "watch_conns", CLOSE_PEER: "close_peer", PING: "ping",
    PONG: "pong", HEALTH: "health", RESTARTING: "restarting",
}

PEER_GONE_DISCONNECTED = 0x00
PEER_GONE_NOT_HERE = 0x01

PEER_PRESENT_IS_REGULAR = 1
PEER_PRESENT_IS_MESH_PEER = 2
PEER_PRESENT_IS_PROBER = 4
PEER_PRESENT_NOT_IDEAL = 8

DISCO_MAGIC = "TS💬".encode()       # 54 53 f0 9f 92 ac
assert len(DISCO_MAGIC) == 6


def looks_like_disco(pkt):
    """disco.LooksLikeDiscoWrapper: magic + sender key + nonce at least."""
    return len(pkt) >= len(DISCO_MAGIC) + KEY_LEN + NONCE_LEN and \
        pkt[:len(DISCO_MAGIC)] == DISCO_MAGIC


def frame(ftype, payload=b""):
    return struct.pack(">BI", ftype, len(payload)) + payload


def header(ftype, length):
    return struct.pack(">BI", ftype, length)


def peer_present_payload(key, ip16, port, flags):
    return key + ip16 + struct.pack(">HB", port, flags)
