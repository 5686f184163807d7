"""/machine/map: node updates from MapRequests and the streaming map
session (full map, deltas, keep-alives, injected faults)."""

import asyncio
import ipaddress
import json
import struct

import zstandard

from .common import MAP_FAULTS, ci_get as _ci_get, log
from .state import hexkey, now


class MapMixin:
    """Map handling for Server (uses its state, mapper and sessions)."""

    async def map_request(self, conn, stream, body):
        try:
            req = json.loads(body)
            if not isinstance(req, dict):
                raise ValueError("not an object")
        except ValueError as e:
            self.count("bad_map_json", str(e))
            await conn.respond(stream, 500, b"internal server error\n")
            return
        version = _ci_get(req, "Version", 0)
        if not isinstance(version, int) or version < self.cfg.min_capver:
            self.count("unsupported_version", f"map version {version}")
            await conn.respond(stream, 400, (
                f"unsupported client version: {version}\n").encode())
            return
        try:
            nk = hexkey("nodekey", _ci_get(req, "NodeKey", ""))
        except ValueError as e:
            self.count("bad_map", str(e))
            await conn.respond(stream, 500, b"internal server error\n")
            return
        n = self.state.node_by_key(nk)
        if n is None:
            self.count("map_refused", "node not found")
            await conn.respond(stream, 404, b"node not found\n")
            return
        if n["machine"] != conn.machine:
            self.count("map_refused", "machine key mismatch")
            await conn.respond(stream, 404, (
                "node key in request does not match the one associated "
                "with this machine key\n").encode())
            return
        try:
            updated = self._apply_map_update(n, req)
        except (ValueError, TypeError) as e:
            # Headscale fails these while decoding the JSON: a 500.
            self.count("bad_map", str(e))
            await conn.respond(stream, 500, b"internal server error\n")
            return
        compress = _ci_get(req, "Compress", "") == "zstd"
        if not _ci_get(req, "Stream", False):
            # Headscale's serve(): update the node, answer an empty 200
            # (with or without OmitPeers; it sends no netmap here).
            self.counters["map_updates"] = \
                self.counters.get("map_updates", 0) + 1
            if updated:
                self.changed()
            await conn.respond(stream, 200, b"")
            return
        sess = MapSession(self, conn, stream, n["id"], version, compress)
        await sess.run()

    def _apply_map_update(self, n, req):
        # Validate everything first: Go rejects the whole request while
        # decoding, before anything is applied.
        hi = _ci_get(req, "Hostinfo")
        if hi is not None and not isinstance(hi, dict):
            raise ValueError("Hostinfo must be an object")
        eps = _ci_get(req, "Endpoints")
        if eps is not None:
            if not isinstance(eps, list):
                raise ValueError("Endpoints must be a list")
            eps = [check_addrport(e) for e in eps]
        types = _ci_get(req, "EndpointTypes")
        if types is not None and (
                not isinstance(types, list) or
                not all(isinstance(t, int) and not isinstance(t, bool)
                        for t in types)):
            raise ValueError("EndpointTypes must be a list of integers")
        dk = _ci_get(req, "DiscoKey")
        if dk:
            dk = hexkey("discokey", dk)
        changed = False
        if hi is not None and hi != n["hostinfo"]:
            n["hostinfo"] = hi
            self._request_tags(n)
            self.apply_auto_approve(n)
            changed = True
        if eps is not None and eps != n["endpoints"]:
            n["endpoints"] = eps
            changed = True
        # Kept for the admin socket only (tailcfg.EndpointType per
        # endpoint); the map does not carry them to peers.
        if eps is not None:
            n["endpoint_types"] = list(types or [])
        if dk and dk != n["disco_key"]:
            n["disco_key"] = dk
            changed = True
        if changed:
            self.state.save()
        return changed


def check_addrport(s):
    """netip.AddrPort text ("1.2.3.4:5", "[::1]:5"); raises ValueError."""
    if not isinstance(s, str):
        raise ValueError("endpoint must be a string")
    host, sep, port = s.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise ValueError(f"bad endpoint {s!r}")
    if host.startswith("["):
        if not host.endswith("]"):
            raise ValueError(f"bad endpoint {s!r}")
        ipaddress.IPv6Address(host[1:-1].split("%")[0])
    else:
        ipaddress.IPv4Address(host)
    return s


def frame(obj, compress, raw=None):
    data = raw if raw is not None else json.dumps(
        obj, separators=(",", ":")).encode()
    if compress:
        data = zstandard.ZstdCompressor().compress(data)
    return struct.pack("<I", len(data)) + data


class MapSession:
    def __init__(self, server, conn, stream, node_id, capver, compress):
        self.server = server
        self.conn = conn
        self.stream = stream
        self.node_id = node_id
        self.capver = capver
        self.compress = compress
        self.wake = asyncio.Event()

    async def run(self):
        srv = self.server
        n = srv.state.nodes.get(self.node_id)
        srv.sessions.add(self)
        srv.online[self.node_id] = srv.online.get(self.node_id, 0) + 1
        srv.changed()
        self.wake.clear()
        try:
            await self.conn.send_headers(self.stream, 200,
                                         "application/json")
            nm = srv.mapper.netmap(self.node_id, srv.online, self.capver)
            await self.send(srv.mapper.full(nm), n)
            log.info("map stream for %s: full map sent (%d peers)",
                     n["given_name"], len(nm["peers"]))
            while True:
                try:
                    await asyncio.wait_for(self.wake.wait(),
                                           srv.cfg.keepalive)
                except asyncio.TimeoutError:
                    await self.send({"KeepAlive": True}, n)
                    continue
                self.wake.clear()
                n = srv.state.nodes.get(self.node_id)
                if n is None:
                    log.info("map stream for deleted node %d ends",
                             self.node_id)
                    await self.conn.send_data(self.stream, b"", end=True)
                    return
                new = srv.mapper.netmap(self.node_id, srv.online,
                                        self.capver)
                delta = srv.mapper.diff(nm, new)
                nm = new
                if delta is None and srv.fault_pending(MAP_FAULTS, n):
                    delta = {"KeepAlive": True}
                if delta is not None:
                    await self.send(delta, n)
        finally:
            srv.sessions.discard(self)
            c = srv.online.get(self.node_id, 0) - 1
            if c <= 0:
                srv.online.pop(self.node_id, None)
                n = srv.state.nodes.get(self.node_id)
                if n is not None:
                    n["last_seen"] = now()
                    srv.state.save()
            else:
                srv.online[self.node_id] = c
            srv.changed()

    async def send(self, obj, n):
        kind = self.server.take_fault(MAP_FAULTS, n)
        if kind is None:
            await self.conn.send_data(self.stream, frame(obj, self.compress))
            return
        if kind == "bad_zstd":
            # A real frame (content size + checksum) with one body byte
            # flipped: decoders fail on it without huge allocations.
            junk = bytearray(zstandard.ZstdCompressor(
                write_checksum=True, write_content_size=True).compress(
                    b'{"KeepAlive":true,"Health":["' + b"x" * 200 + b'"]}'))
            junk[len(junk) // 2] ^= 0x5A
            junk = bytes(junk)
            await self.conn.send_data(self.stream, struct.pack(
                "<I", len(junk)) + junk)
        elif kind == "not_zstd":
            junk = b"this is not a zstd frame"
            await self.conn.send_data(self.stream, struct.pack(
                "<I", len(junk)) + junk)
        elif kind == "bad_json":
            await self.conn.send_data(self.stream, frame(
                None, self.compress, raw=b'{"Node":{"ID":[}}garbage'))
        elif kind == "oversized_frame":
            await self.conn.send_data(self.stream, struct.pack(
                "<I", 0xFFFFFFF0) + b"\0" * 1024)
        else:
            self.conn.inject(kind)
