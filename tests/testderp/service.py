"""TestDerp: the DERP server, its HTTP(S) listeners and its STUN sockets,
run on an asyncio loop in a background thread, optionally inside a network
namespace, with a synchronous API for pytest.
"""
import asyncio
import ipaddress
import socket
import threading

import nacl.public

from . import certs, protocol as P, server as S, stun
from .netns import socket_in


def split_hostport(s, default_port):
    """"1.2.3.4:5", "[::1]:5", "::1", "1.2.3.4" -> (ip string, port)."""
    if s.startswith("["):
        host, _, rest = s[1:].partition("]")
        return host, int(rest[1:]) if rest.startswith(":") else default_port
    if s.count(":") == 1:
        host, port = s.split(":")
        return host, int(port)
    return s, default_port


def _family(ip):
    return socket.AF_INET6 if ipaddress.ip_address(ip).version == 6 else socket.AF_INET


class TestDerp:
    """A DERP + STUN server for tests.

    addr: an IP or a list of IPs to listen on (each gets every listener).
    http_port: plain-HTTP DERP port (None: no plain listener; 0: any).
    tls_port: HTTPS DERP port (None: no TLS; 0: any).
    stun_port: UDP STUN port (None: no STUN; 0: any).
    """
    __test__ = False        # not a pytest test class despite the name

    def __init__(self, ns=None, addr="127.0.0.1", http_port=0, tls_port=None,
                 stun_port=3478, hostname="derp.test", cert_pem=None, key_pem=None,
                 metacert=True, mesh_key=None, keepalive=P.KEEPALIVE_SECONDS,
                 write_timeout=P.TCP_WRITE_TIMEOUT, token_bucket=None,
                 handshake_timeout=P.HANDSHAKE_TIMEOUT,
                 private_key=None, stun_accept_any=False, region_id=900,
                 region_code="test", advertise_ipv4=None, advertise_ipv6=None,
                 log=None):
        self.ns = ns
        self.addrs = [addr] if isinstance(addr, str) else list(addr)
        self.http_port, self.tls_port, self.stun_port = http_port, tls_port, stun_port
        self.hostname = hostname
        self.cert_pem, self.key_pem, self.metacert = cert_pem, key_pem, metacert
        self.stun_accept_any = stun_accept_any
        self.region_id, self.region_code = region_id, region_code
        self.advertise_ipv4, self.advertise_ipv6 = advertise_ipv4, advertise_ipv6
        self.log = log or (lambda *a: None)
        if isinstance(private_key, (bytes, bytearray)):
            private_key = nacl.public.PrivateKey(bytes(private_key))
        self.server = S.DerpServer(private_key, mesh_key, keepalive, write_timeout,
                                   token_bucket, self.log, handshake_timeout)
        self.stun_faults = self.server.stun_faults
        self.stun_protocols = []
        self._servers, self._transports = [], []
        self.loop = None
        self._thread = None

    # ---- lifecycle ------------------------------------------------------
    @property
    def public_key(self):
        return self.server.pub

    def start(self):
        if self.tls_port is not None and self.cert_pem is None:
            ips = [a for a in self.addrs if not ipaddress.ip_address(a).is_unspecified]
            self.cert_pem, self.key_pem = certs.self_signed(self.hostname, ips)
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever,
                                        name="testderp", daemon=True)
        self._thread.start()
        try:
            self.call(self._start())
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self):
        if self.loop is None:
            return
        if self.loop.is_running():
            try:
                self.call(self._stop(), timeout=10)
            finally:
                self.loop.call_soon_threadsafe(self.loop.stop)
                self._thread.join(10)
        self.loop.close()
        self.loop = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def call(self, coro, timeout=30):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def _in_loop(self, fn, *args):
        async def body():
            return fn(*args)
        return self.call(body())

    def _tcp_socket(self, ip, port):
        s = socket_in(self.ns, _family(ip), socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((ip, port))
        s.listen(128)
        s.setblocking(False)
        return s

    async def _start(self):
        ssl_ctx = None
        if self.tls_port is not None:
            ssl_ctx = certs.server_context(self.cert_pem, self.key_pem,
                                           self.server.pub, self.metacert)
        for kind in ("http_port", "tls_port"):
            port = getattr(self, kind)
            if port is None:
                continue
            for ip in self.addrs:
                sock = self._tcp_socket(ip, port)
                port = sock.getsockname()[1]
                srv = await asyncio.start_server(
                    self.server.serve_http, sock=sock,
                    ssl=ssl_ctx if kind == "tls_port" else None,
                    ssl_handshake_timeout=10 if kind == "tls_port" else None)
                self._servers.append(srv)
            setattr(self, kind, port)
        if self.stun_port is not None:
            port = self.stun_port
            for ip in self.addrs:
                sock = socket_in(self.ns, _family(ip), socket.SOCK_DGRAM)
                sock.bind((ip, port))
                port = sock.getsockname()[1]
                proto = stun.StunServer(self.server.counters, self.stun_accept_any,
                                        self.stun_faults, self.log)
                tr, _ = await self.loop.create_datagram_endpoint(lambda p=proto: p, sock=sock)
                self._transports.append(tr)
                self.stun_protocols.append(proto)
            self.stun_port = port

    async def _stop(self):
        for srv in self._servers:
            srv.close()
        await self.server.shutdown()
        for tr in self._transports:
            tr.close()
        for srv in self._servers:
            try:
                await asyncio.wait_for(srv.wait_closed(), 5)
            except asyncio.TimeoutError:
                pass
        self._servers, self._transports = [], []

    # ---- observation ----------------------------------------------------
    def counters(self):
        """Snapshot of every counter (see README), STUN ones included."""
        return self._in_loop(self.server.snapshot)

    def counter(self, name):
        return self.counters().get(name, 0)

    def received(self):
        """Frames read from clients, oldest first: dicts with src (hex key),
        type, len and payload (bytes, None for skipped frames)."""
        return self._in_loop(lambda: list(self.server.received))

    def pongs(self):
        return self._in_loop(lambda: list(self.server.pongs))

    def stun_requests(self):
        return self._in_loop(lambda: [r for p in self.stun_protocols for r in p.requests])

    def connected(self, key):
        return self._in_loop(lambda: key in self.server.clients)

    # ---- fault injection and server-initiated frames --------------------
    def inject_fault(self, name, count=1):
        """The next `count` DERP connections get fault `name` (faults.CONN_FAULTS)."""
        self._in_loop(self.server.inject, name, None, count)

    def inject_stun_fault(self, name, count=1):
        """The next `count` STUN answers get fault `name` (stun.FAULTS)."""
        self._in_loop(self.server.inject, None, name, count)

    def _to_client(self, key, data):
        c = self.server.active(key)
        if c is None:
            raise KeyError(f"no client {key.hex()}")
        c.ctrl(data)

    def send_raw(self, key, data):
        """Bytes as they are to the client: may be a partial or bad frame."""
        self._in_loop(self._to_client, key, data)

    def send_frame(self, key, ftype, payload=b""):
        self.send_raw(key, P.frame(ftype, payload))

    def send_health(self, key, problem):
        self.send_frame(key, P.HEALTH, problem.encode())

    def send_restarting(self, key, reconnect_in_ms, try_for_ms):
        self.send_frame(key, P.RESTARTING,
                        reconnect_in_ms.to_bytes(4, "big") + try_for_ms.to_bytes(4, "big"))

    def send_ping(self, key, data):
        """A server-initiated Ping; the answer shows up in pongs()."""
        self.send_frame(key, P.PING, data)

    def send_keepalive(self, key):
        self.send_frame(key, P.KEEP_ALIVE)

    def close_client(self, key):
        def close():
            for c in list(self.server.clients.get(key, [])):
                c.close()
        self._in_loop(close)

    # ---- DERP map -------------------------------------------------------
    def node(self):
        """A tailcfg.DERPNode for this server."""
        v4 = self.advertise_ipv4 or next(
            (a for a in self.addrs if ipaddress.ip_address(a).version == 4
             and not ipaddress.ip_address(a).is_unspecified), None)
        v6 = self.advertise_ipv6 or next(
            (a for a in self.addrs if ipaddress.ip_address(a).version == 6
             and not ipaddress.ip_address(a).is_unspecified), None)
        n = {"Name": f"{self.region_id}a", "RegionID": self.region_id,
             "HostName": self.hostname,
             # "none" keeps a client from resolving HostName for that family.
             "IPv4": v4 or "none", "IPv6": v6 or "none",
             "STUNPort": self.stun_port if self.stun_port is not None else -1,
             "DERPPort": self.tls_port if self.tls_port is not None else self.http_port,
             "InsecureForTests": True}
        if self.tls_port is None and self.http_port is None:
            n["STUNOnly"] = True
            del n["DERPPort"]
        if self.tls_port is not None:
            n["CertName"] = "sha256-raw:" + certs.leaf_sha256(self.cert_pem)
        if not v4 and not v6:
            del n["IPv4"], n["IPv6"]
        return n

    def region(self):
        return {"RegionID": self.region_id, "RegionCode": self.region_code,
                "RegionName": f"testderp {self.region_code}", "Nodes": [self.node()]}

    def derp_map(self):
        return {"Regions": {str(self.region_id): self.region()}}
