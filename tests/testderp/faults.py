"""Connection faults: what the server does wrong on purpose, so that a
client's handling of a hostile relay can be tested."""
import os

from . import protocol as P

# What a connection fault does to the next DERP connection(s).
CONN_FAULTS = {
    "http_error": "answer the upgrade with 500 instead of 101",
    "wrong_magic": "ServerKey frame with a wrong magic",
    "truncated_server_key": "ServerKey frame of 24 bytes (magic + half a key)",
    "server_key_wrong_type": "first frame is a ServerInfo, not a ServerKey",
    "close_mid_server_key": "ServerKey header claims 40 bytes, 20 sent, close",
    "bad_server_info": "ServerInfo sealed with a key that is not the server's",
    "server_info_bad_json": "ServerInfo box opens but holds no JSON",
    "garbage": "after the handshake, 4 KiB of random bytes",
    "oversized_frame": "after the handshake, a RecvPacket header of 2 MiB",
    "close_mid_frame": "after the handshake, a frame cut short, then close",
    "short_recv_packet": "after the handshake, a RecvPacket of 16 bytes, then normal",
    "short_peer_gone": "after the handshake, a PeerGone of 10 bytes, then normal",
    "unknown_frame": "after the handshake, a frame of type 0x7e, then normal",
}
# After these the server hangs up; after the others the connection goes on.
CLOSING = {"http_error", "wrong_magic", "truncated_server_key",
           "server_key_wrong_type", "close_mid_server_key",
           "bad_server_info", "server_info_bad_json", "garbage",
           "oversized_frame", "close_mid_frame"}


def server_key_frame(pub, fault):
    """The first frame: the real ServerKey, or a broken one."""
    if fault == "wrong_magic":
        return P.frame(P.SERVER_KEY, b"DERP\xf0\x9f\x94\x92" + pub)
    if fault == "truncated_server_key":
        return P.frame(P.SERVER_KEY, P.MAGIC + pub[:16])
    if fault == "server_key_wrong_type":
        return P.frame(P.SERVER_INFO, P.MAGIC + pub)
    if fault == "close_mid_server_key":
        return P.header(P.SERVER_KEY, 40) + (P.MAGIC + pub)[:20]
    return P.frame(P.SERVER_KEY, P.MAGIC + pub)


def after_handshake(fault):
    """Bytes written right after ServerInfo (empty for most faults)."""
    return {
        "garbage": lambda: os.urandom(4096),
        "oversized_frame": lambda: P.header(P.RECV_PACKET, 2 << 20) + bytes(1024),
        "close_mid_frame": lambda: P.header(P.RECV_PACKET, 100) + bytes(40),
        "short_recv_packet": lambda: P.frame(P.RECV_PACKET, bytes(16)),
        "short_peer_gone": lambda: P.frame(P.PEER_GONE, bytes(10)),
        "unknown_frame": lambda: P.frame(0x7E, b"future frame type"),
    }.get(fault, lambda: b"")()
