"""One client connection as the server holds it (derpserver's sclient)."""
import asyncio
import time

from . import protocol as P


class ProtocolError(Exception):
    pass


class TokenBucket:
    """rate.NewLimiter(rate.Every(time.Second), 3), for PeerGone(not here)."""

    def __init__(self, per_second=1.0, burst=3):
        self.rate, self.burst = per_second, burst
        self.tokens, self.t = float(burst), time.monotonic()

    def allow(self):
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.t) * self.rate)
        self.t = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


class Client:
    """One DERP connection (sclient)."""

    def __init__(self, server, key, info, reader, writer, remote, not_ideal):
        self.s = server
        self.key = key
        self.info = info
        self.reader, self.writer = reader, writer
        self.remote = remote                    # (ipaddress obj, port) or None
        self.can_mesh = server.is_mesh_peer(info)
        self.not_ideal = not_ideal
        self.preferred = False
        self.send_q, self.disco_q, self.ctrl_q = [], [], []
        self.pong_pending = None
        self.wake = asyncio.Event()
        self.saw_src = set()
        self.peer_gone_lim = TokenBucket()
        self.closed = False
        self.connected_at = time.time()

    def present_flags(self):
        f = 0
        if self.info["IsProber"]:
            f |= P.PEER_PRESENT_IS_PROBER
        if self.can_mesh:
            f |= P.PEER_PRESENT_IS_MESH_PEER
        if self.not_ideal:
            f |= P.PEER_PRESENT_NOT_IDEAL
        return f or P.PEER_PRESENT_IS_REGULAR

    def ctrl(self, data):
        """Queue raw bytes (whole frames, or deliberate fragments)."""
        self.ctrl_q.append(data)
        self.wake.set()

    def enqueue_packet(self, src, pkt):
        q = self.disco_q if P.looks_like_disco(pkt) else self.send_q
        if len(q) >= P.SEND_QUEUE_DEPTH:
            q.pop(0)
            self.s.drop("queue_head", pkt)
        q.append((src, pkt))
        self.wake.set()

    def close(self):
        """Like Go's net.Conn.Close: whatever is still queued in user space
        is dropped (a stalled client must not keep its connection open)."""
        if not self.closed:
            self.closed = True
            self.wake.set()
            self.writer.transport.abort()
