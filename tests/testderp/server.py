"""The DERP relay, following tailscale/tailscale derp/derpserver/derpserver.go.

One asyncio task reads each client's frames (Server.accept + sclient.run),
another writes to it (sclient.sendLoop).  Behaviour kept from the real
server, because a client written against it will meet it in the wild:

- handshake: ServerKey (magic + key) first, then a ClientInfo within 10 s,
  32..256 KiB long, a NaCl box from the client's key that opens and holds
  JSON that decodes; anything else closes the connection;
- ServerInfo: nonce + box of {"version":2} sealed to the client;
- SendPacket: shorter than a key, or more than 64 KiB of packet, closes the
  connection; an unknown destination drops the packet (counted) and, if it
  looked like disco, answers PeerGone(not here), at most 3 then 1/s;
- per client two queues of 32 (disco and other), dropping at the head;
- PeerGone(disconnected) to every client that received from a key when that
  key's last connection goes;
- Ping 8..1000 bytes -> Pong with the first 8 (one pending at most);
  NotePreferred must be 1 byte; unknown frame types are skipped;
- WatchConns / ClosePeer / ForwardPacket only with the mesh key;
- KeepAlive every 60 s + up to 5 s of jitter; a client that blocks our
  writes for 2 s is cut;
- a key connected twice: the last one to send (or connect) gets the traffic.
The real server never sends Health, Restarting or Ping of its own; tests can
make this one send them (see TestDerp).
"""
import asyncio
import socket
import ipaddress
import json
import random
import struct
import traceback

import nacl.bindings
import nacl.exceptions
import nacl.public
import nacl.utils

from . import clientinfo, faults, httpd, protocol as P, sclient, stun
from .sclient import ProtocolError


class DerpServer:
    def __init__(self, private_key=None, mesh_key=None, keepalive=P.KEEPALIVE_SECONDS,
                 write_timeout=P.TCP_WRITE_TIMEOUT, token_bucket=None, log=None,
                 handshake_timeout=P.HANDSHAKE_TIMEOUT):
        self.priv = private_key or nacl.public.PrivateKey.generate()
        self.pub = bytes(self.priv.public_key)
        self.mesh_key = mesh_key
        self.keepalive = keepalive
        self.write_timeout = write_timeout
        self.handshake_timeout = handshake_timeout
        self.token_bucket = token_bucket        # (bytes/s, burst) hint or None
        self.log = log or (lambda *a: None)
        self.counters = {}
        self.clients = {}           # key -> [Client], most recently active last
        self.watchers = set()
        self.peer_gone_watchers = {}    # src key -> {Client} that received from it
        self.faults = []            # pending fault names, one per connection
        self.stun_faults = []       # pending stun.FAULTS names, one per answer
        self.received = []          # last frames read from clients (dicts)
        self.client_infos = {}      # key hex -> ClientInfo dict of the last connection
        self.pongs = []             # (key hex, 8-byte data) answering our pings
        self.conns = set()
        self.tasks = set()          # every serve_http task, for shutdown
        self.writers = set()        # and its connection
        # Local address -> seconds before answering a latency probe
        # (/derp/probe, /derp/latency-check): a "far away" server.
        self.probe_delay = {}
        # Local address -> status code those probes get instead of 200
        # (a middlebox refusing them).
        self.probe_status = {}

    # ---- counters -------------------------------------------------------
    def count(self, name, n=1):
        self.counters[name] = self.counters.get(name, 0) + n

    def drop(self, reason, pkt):
        kind = "disco" if P.looks_like_disco(pkt) else "other"
        self.count(f"dropped_{reason}_{kind}")
        self.count("packets_dropped")

    def note_received(self, c, ftype, length, payload=None):
        self.count(f"frames_recv_{P.FRAME_NAMES.get(ftype, 'unknown')}")
        self.received.append({"src": c.key.hex(), "type": ftype,
                              "len": length, "payload": payload})
        del self.received[:-1000]

    def snapshot(self):
        """Counters plus gauges, JSON-friendly."""
        out = dict(self.counters)
        out["current_clients"] = sum(len(v) for v in self.clients.values())
        out["current_home_clients"] = sum(
            1 for v in self.clients.values() for c in v if c.preferred)
        out["clients"] = [k.hex() for k in sorted(self.clients)]
        out["preferred"] = {c.key.hex(): c.preferred
                            for v in self.clients.values() for c in v}
        out["client_info"] = {k: {f: (v.hex() if isinstance(v, bytes) else v)
                                  for f, v in i.items()}
                              for k, i in self.client_infos.items()}
        return out

    def inject(self, conn=None, stun_fault=None, count=1):
        """Queues faults; ValueError names an unknown one."""
        if conn is not None and conn not in faults.CONN_FAULTS:
            raise ValueError(f"unknown fault {conn!r}; "
                             f"known: {sorted(faults.CONN_FAULTS)}")
        if stun_fault is not None and stun_fault not in stun.FAULTS:
            raise ValueError(f"unknown STUN fault {stun_fault!r}; known: {stun.FAULTS}")
        if conn is not None:
            self.faults.extend([conn] * count)
        if stun_fault is not None:
            self.stun_faults.extend([stun_fault] * count)

    async def shutdown(self):
        """Closes every connection, as derpserver.Server.Close closes its
        netConns, and waits for their tasks."""
        tasks = list(self.tasks)
        for w in list(self.writers):
            w.transport.abort()
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=5)
            for t in pending:
                t.cancel()
            if pending:
                await asyncio.wait(pending, timeout=1)

    # ---- registry -------------------------------------------------------
    def is_mesh_peer(self, info):
        return bool(self.mesh_key) and info["meshKey"] is not None and \
            nacl.bindings.sodium_memcmp(info["meshKey"], self.mesh_key)

    def active(self, key):
        v = self.clients.get(key)
        return v[-1] if v else None

    def register(self, c):
        v = self.clients.setdefault(c.key, [])
        if v:
            self.count("dup_client_conn_total")
        v.append(c)
        self.count("accepts_registered")
        self.broadcast_state(c.key, c.remote, c.present_flags(), True)

    def note_activity(self, c):
        v = self.clients.get(c.key)
        if v and len(v) > 1 and v[-1] is not c:
            v.remove(c)
            v.append(c)

    def unregister(self, c):
        v = self.clients.get(c.key, [])
        if c in v:
            v.remove(c)
        if not v:
            self.clients.pop(c.key, None)
            self.peer_gone_from_region(c.key)
            self.broadcast_state(c.key, None, 0, False)
        self.watchers.discard(c)
        for src in c.saw_src:
            w = self.peer_gone_watchers.get(src)
            if w:
                w.discard(c)
        for q in (c.send_q, c.disco_q):
            for _, pkt in q:
                self.drop("gone_disconnected", pkt)
            q.clear()

    def peer_gone_from_region(self, key):
        for w in self.peer_gone_watchers.pop(key, set()):
            self.send_peer_gone(w, key, P.PEER_GONE_DISCONNECTED)

    def send_peer_gone(self, c, key, reason):
        self.count("peer_gone_disconnected_frames" if reason == P.PEER_GONE_DISCONNECTED
                   else "peer_gone_not_here_frames")
        c.ctrl(P.frame(P.PEER_GONE, key + bytes([reason])))

    def broadcast_state(self, key, remote, flags, present):
        for w in self.watchers:
            w.ctrl(self._state_frame(key, remote, flags, present))

    @staticmethod
    def _state_frame(key, remote, flags, present):
        if not present:
            return P.frame(P.PEER_GONE, key + bytes([P.PEER_GONE_DISCONNECTED]))
        ip16, port = bytes(16), 0
        if remote is not None:
            ip, port = remote
            ip16 = ip.packed if ip.version == 6 else \
                ipaddress.IPv6Address("::ffff:" + str(ip)).packed
        return P.frame(P.PEER_PRESENT, P.peer_present_payload(key, ip16, port, flags))

    def add_watcher(self, c):
        if c.key == self.pub:
            return
        for key, v in self.clients.items():
            if v:
                a = v[-1]
                c.ctrl(self._state_frame(key, a.remote, a.present_flags(), True))
        self.watchers.add(c)

    # ---- connection -----------------------------------------------------
    async def serve_http(self, reader, writer):
        """One TCP (or TLS) connection: HTTP requests until an upgrade."""
        self.count("accepts")
        # Go's listeners set TCP_NODELAY on every connection (asyncio's
        # start_server(sock=...) does not): without it a small answer
        # right after TLS 1.3's session tickets waits for a delayed ACK.
        sk = writer.get_extra_info("socket")
        if sk is not None and sk.family in (socket.AF_INET, socket.AF_INET6):
            sk.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        task = asyncio.current_task()
        self.tasks.add(task)
        self.writers.add(writer)
        peer = writer.get_extra_info("peername")
        remote = None
        if peer:
            ip = ipaddress.ip_address(peer[0].split("%")[0])
            remote = (getattr(ip, "ipv4_mapped", None) or ip, peer[1])
        try:
            while True:
                try:
                    req = await httpd.read_request(reader)
                except httpd.BadRequest as e:
                    self.count("http_bad_request")
                    writer.write(httpd.response(400, "Bad Request", f"{e}\n".encode()))
                    break
                if req is None:
                    break
                method, path, headers = req
                self.count("http_requests")
                out = httpd.plain(method, path, headers, self.snapshot, self.inject)
                if out is not None:
                    if path in ("/derp/probe", "/derp/latency-check"):
                        self.count("probe_requests")
                        await self._probe_delay(writer)
                        out = self._probe_status(writer) or out
                    if method == "HEAD":        # headers only
                        out = out.split(b"\r\n\r\n")[0] + b"\r\n\r\n"
                    writer.write(out)
                    await writer.drain()
                    if headers.get("connection", "").lower() == "close":
                        break
                    continue
                await self.upgrade(reader, writer, headers, remote)
                return
        except (ConnectionError, asyncio.IncompleteReadError, OSError) as e:
            self.log(f"derp: {peer}: {e}")
        except Exception:       # a bug here: loud, but the server keeps serving
            self.count("internal_errors")
            traceback.print_exc()
        finally:
            self.tasks.discard(task)
            self.writers.discard(writer)
            writer.close()

    async def _probe_delay(self, writer):
        local = writer.get_extra_info("sockname")
        d = self.probe_delay.get(local[0]) if local else None
        if d:
            await asyncio.sleep(d)

    def _probe_status(self, writer):
        local = writer.get_extra_info("sockname")
        code = self.probe_status.get(local[0]) if local else None
        return httpd.response(code, "Refused") if code else None

    async def upgrade(self, reader, writer, headers, remote):
        fault = self.faults.pop(0) if self.faults else None
        if fault:
            self.count(f"fault_{fault}")
        if fault == "http_error":
            writer.write(httpd.response(500, "Internal Server Error", b"fault\n"))
            await writer.drain()
            return
        fast = headers.get("derp-fast-start", "") == "1"
        if fast:
            self.count("fast_starts")
        else:
            writer.write(httpd.upgrade_101(self.pub.hex()))
        self.count("upgrades")
        try:
            c = await asyncio.wait_for(
                self.handshake(reader, writer, remote, fault,
                               headers.get("ideal-node", "") != ""),
                self.handshake_timeout)
        except asyncio.TimeoutError:
            self.count("handshake_timeout")
            return
        except ProtocolError as e:
            self.count("handshake_errors")
            self.log(f"derp: {remote}: handshake: {e}")
            return
        if c is None:
            return
        self.conns.add(c)
        try:
            await self.run(c)
        finally:
            self.conns.discard(c)
            c.close()
            self.unregister(c)

    async def handshake(self, reader, writer, remote, fault, not_ideal):
        writer.write(faults.server_key_frame(self.pub, fault))
        await writer.drain()
        if fault in ("wrong_magic", "truncated_server_key",
                     "server_key_wrong_type", "close_mid_server_key"):
            return None
        t, fl = struct.unpack(">BI", await reader.readexactly(P.FRAME_HEADER_LEN))
        if t != P.CLIENT_INFO:
            raise ProtocolError(f"bad frame type 0x{t:X}, want 0x2")
        if fl < P.KEY_LEN + P.NONCE_LEN:
            raise ProtocolError("short client info")
        if fl > P.MAX_CLIENT_INFO_LEN:
            raise ProtocolError("long client info")
        body = await reader.readexactly(fl)
        key, sealed = body[:P.KEY_LEN], body[P.KEY_LEN:]
        if key == bytes(P.KEY_LEN):
            raise ProtocolError("zero client key")
        try:
            msg = nacl.public.Box(self.priv, nacl.public.PublicKey(key)).decrypt(sealed)
        except nacl.exceptions.CryptoError:
            raise ProtocolError(f"msgbox: cannot open len={len(sealed)}") from None
        try:
            info = clientinfo.parse(msg)
        except ValueError as e:
            raise ProtocolError(f"msg: {e}") from None
        c = sclient.Client(self, key, info, reader, writer, remote, not_ideal)
        self.client_infos[key.hex()] = info
        self.register(c)
        try:
            writer.write(self._server_info_frame(key, fault))
            writer.write(faults.after_handshake(fault))
            await writer.drain()
        except BaseException:
            self.unregister(c)
            raise
        if fault in faults.CLOSING:
            # A graceful close: every byte of the fault leaves before the FIN.
            c.closed = True
            writer.close()
            try:
                await asyncio.wait_for(writer.wait_closed(), 2)
            except (asyncio.TimeoutError, ConnectionError, OSError):
                pass
            self.unregister(c)
            return None
        return c

    def _server_info_frame(self, key, fault):
        msg = {"version": P.PROTOCOL_VERSION}
        if self.token_bucket:
            msg["TokenBucketBytesPerSecond"], msg["TokenBucketBytesBurst"] = \
                self.token_bucket
        raw = json.dumps(msg, separators=(",", ":")).encode()
        sealer = self.priv
        if fault == "bad_server_info":
            sealer = nacl.public.PrivateKey.generate()
        if fault == "server_info_bad_json":
            raw = b"\x00not json{"
        box = nacl.public.Box(sealer, nacl.public.PublicKey(key))
        sealed = bytes(box.encrypt(raw, nacl.utils.random(P.NONCE_LEN)))
        return P.frame(P.SERVER_INFO, sealed)

    # ---- established client ---------------------------------------------
    async def run(self, c):
        sender = asyncio.create_task(self.send_loop(c))
        try:
            await self.read_loop(c)
        except asyncio.IncompleteReadError:
            pass
        except ProtocolError as e:
            self.count("client_protocol_errors")
            self.log(f"derp client {c.key.hex()[:8]}: {e}")
        except (ConnectionError, OSError) as e:
            self.log(f"derp client {c.key.hex()[:8]}: {e}")
        finally:
            c.close()
            sender.cancel()
            await asyncio.wait({sender}, timeout=2)

    async def read_loop(self, c):
        r = c.reader
        while not c.closed:
            t, fl = struct.unpack(">BI", await r.readexactly(P.FRAME_HEADER_LEN))
            self.note_activity(c)
            h = self.HANDLERS.get(t)
            if h is None:
                self.count("unknown_frames")
                self.note_received(c, t, fl)
                while fl:
                    n = min(fl, 1 << 16)
                    await r.readexactly(n)
                    fl -= n
                continue
            await h(self, c, fl)

    async def _note_preferred(self, c, fl):
        if fl != 1:
            raise ProtocolError("frameNotePreferred wrong size")
        b = await c.reader.readexactly(1)
        self.note_received(c, P.NOTE_PREFERRED, fl, b)
        c.preferred = b != b"\x00"

    async def _send_packet(self, c, fl):
        if fl < P.KEY_LEN:
            raise ProtocolError("short send packet frame")
        if fl - P.KEY_LEN > P.MAX_PACKET_SIZE:
            raise ProtocolError(f"data packet longer ({fl - P.KEY_LEN}) "
                                f"than max of {P.MAX_PACKET_SIZE}")
        body = await c.reader.readexactly(fl)
        dst, pkt = body[:P.KEY_LEN], body[P.KEY_LEN:]
        self.note_received(c, P.SEND_PACKET, fl, body)
        self.count("packets_received")
        self.count("bytes_received", len(pkt))
        self.count("packets_received_disco" if P.looks_like_disco(pkt)
                   else "packets_received_other")
        self.deliver(c, c.key, dst, pkt, "unknown_dest")

    def deliver(self, c, src, dst, pkt, unknown_reason):
        v = self.clients.get(dst)
        if not v:
            if P.looks_like_disco(pkt) and c.peer_gone_lim.allow():
                self.send_peer_gone(c, dst, P.PEER_GONE_NOT_HERE)
            self.drop(unknown_reason, pkt)
            return
        v[-1].enqueue_packet(src, pkt)

    async def _forward_packet(self, c, fl):
        if not c.can_mesh:
            raise ProtocolError("insufficient permissions")
        if fl < 2 * P.KEY_LEN:
            raise ProtocolError("short send packet frame")
        if fl - 2 * P.KEY_LEN > P.MAX_PACKET_SIZE:
            raise ProtocolError("data packet too long")
        body = await c.reader.readexactly(fl)
        self.note_received(c, P.FORWARD_PACKET, fl, body)
        self.count("packets_forwarded_in")
        self.deliver(c, body[:32], body[32:64], body[64:], "unknown_dest_on_fwd")

    async def _watch_conns(self, c, fl):
        if fl != 0:
            raise ProtocolError("handleFrameWatchConns wrong size")
        if not c.can_mesh:
            raise ProtocolError("insufficient permissions")
        self.note_received(c, P.WATCH_CONNS, fl)
        self.add_watcher(c)

    async def _close_peer(self, c, fl):
        if fl != P.KEY_LEN:
            raise ProtocolError("handleFrameClosePeer wrong size")
        if not c.can_mesh:
            raise ProtocolError("insufficient permissions")
        target = await c.reader.readexactly(P.KEY_LEN)
        self.note_received(c, P.CLOSE_PEER, fl, target)
        for t in list(self.clients.get(target, [])):
            t.close()

    async def _ping(self, c, fl):
        self.count("got_ping")
        if fl < 8:
            raise ProtocolError(f"short ping: {fl}")
        if fl > P.MAX_PING_LEN:
            raise ProtocolError(f"ping body too large: {fl}")
        body = await c.reader.readexactly(fl)
        self.note_received(c, P.PING, fl, body)
        if c.pong_pending is None:      # one pending; faster pings are ignored
            c.pong_pending = body[:8]
            c.wake.set()

    async def _pong(self, c, fl):
        # The real server treats a Pong as an unknown frame and skips it; we
        # also record it, to check answers to the pings tests make us send.
        self.count("unknown_frames")
        body = await c.reader.readexactly(fl)
        self.note_received(c, P.PONG, fl, body)
        if fl >= 8:
            self.pongs.append((c.key.hex(), body[:8]))
            del self.pongs[:-1000]

    HANDLERS = {P.NOTE_PREFERRED: _note_preferred, P.SEND_PACKET: _send_packet,
                P.FORWARD_PACKET: _forward_packet, P.WATCH_CONNS: _watch_conns,
                P.CLOSE_PEER: _close_peer, P.PING: _ping, P.PONG: _pong}

    async def send_loop(self, c):
        # A timer sets the wake event for keepalives: a bare Event.wait()
        # cancels cleanly, where wait_for() around it can lose a cancel.
        loop = asyncio.get_running_loop()
        interval = self.keepalive + random.uniform(0, min(5.0, self.keepalive / 12))
        next_ka = loop.time() + interval
        timer = None
        try:
            while not c.closed:
                if timer is None:
                    timer = loop.call_at(next_ka, c.wake.set)
                await c.wake.wait()
                c.wake.clear()
                if c.closed:
                    return
                out = self._drain_queues(c)
                if loop.time() >= next_ka:
                    out.append(P.frame(P.KEEP_ALIVE))
                    self.count("keepalives_sent")
                    next_ka = loop.time() + interval
                    timer = None
                if out and not await self._write(c, b"".join(out)):
                    return
        finally:
            if timer is not None:
                timer.cancel()

    async def _write(self, c, data):
        """Writes within the write timeout; False (and the client cut) if not."""
        c.writer.write(data)
        try:
            await asyncio.wait_for(c.writer.drain(), self.write_timeout)
            return True
        except asyncio.TimeoutError:
            self.count("sclient_write_timeouts")
        except (ConnectionError, OSError):
            pass
        c.close()
        return False

    def _drain_queues(self, c):
        out = c.ctrl_q[:]
        c.ctrl_q.clear()
        if c.pong_pending is not None:
            out.append(P.frame(P.PONG, c.pong_pending))
            c.pong_pending = None
            self.count("sent_pong")
        for q in (c.disco_q, c.send_q):
            for src, pkt in q:
                out.append(P.frame(P.RECV_PACKET, src + pkt))
                self.count("packets_sent")
                self.count("bytes_sent", len(pkt))
                if src not in c.saw_src:
                    c.saw_src.add(src)
                    self.peer_gone_watchers.setdefault(src, set()).add(c)
            q.clear()
        return out
