"""The test DERP + STUN server (tests/testderp) against an independent
client written here from Tailscale's derp_client.go / stun.go, and against
coturn's turnutils_stunclient.

Topology (each a network namespace):

    S (server) 203.0.113.1, 2001:db8:1::1
      | veth
    R (router, also a "public" client) 203.0.113.254 (+ .77 for SNAT), 2001:db8:1::2
      | veth
    C (client behind R's SNAT to 203.0.113.77:40000) 10.66.0.2
"""
import hashlib
import json
import os
import random
import signal
import socket
import ssl
import struct
import subprocess
import sys
import time
import zlib

import nacl.public
import nacl.utils
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)
import pmtest  # noqa: E402
from tests.testderp import TestDerp, CONN_FAULTS  # noqa: E402
from tests.testderp.netns import socket_in  # noqa: E402

SRV4, SRV6 = "203.0.113.1", "2001:db8:1::1"
R4, R6 = "203.0.113.254", "2001:db8:1::2"
NAT4, NAT_PORT = "203.0.113.77", 40000
C4 = "10.66.0.2"

# ---- an independent minimal DERP client (derp_client.go, derphttp_client.go)
MAGIC = b"DERP\xf0\x9f\x94\x91"
DISCO_MAGIC = b"TS\xf0\x9f\x92\xac"
(F_SERVER_KEY, F_CLIENT_INFO, F_SERVER_INFO, F_SEND, F_RECV, F_KEEPALIVE,
 F_PREFERRED, F_PEER_GONE, F_PEER_PRESENT, F_FORWARD) = range(1, 11)
F_WATCH, F_CLOSE_PEER, F_PING, F_PONG, F_HEALTH, F_RESTARTING = \
    0x10, 0x11, 0x12, 0x13, 0x14, 0x15


class Closed(Exception):
    pass


class DerpClient:
    def __init__(self, ns, host, port, tls=False, fast_start=False,
                 info=None, priv=None, connect=True, extra=""):
        self.priv = priv or nacl.public.PrivateKey.generate()
        self.pub = bytes(self.priv.public_key)
        fam = socket.AF_INET6 if ":" in host else socket.AF_INET
        s = socket_in(ns, fam, socket.SOCK_STREAM)
        s.settimeout(5)
        s.connect((host, port))
        self.local = s.getsockname()
        self.chain = []
        if tls:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE     # InsecureForTests
            ctx.minimum_version = ssl.TLSVersion.TLSv1_3
            s = ctx.wrap_socket(s, server_hostname="derp.test")
            # Python 3.11 has the whole chain only through this private call
            # (public as SSLSocket.get_unverified_chain from 3.13).
            self.chain = [x509.load_der_x509_certificate(
                c.public_bytes(ssl._ssl.ENCODING_DER))
                for c in s._sslobj.get_unverified_chain()]
        self.sock = s
        self.buf = b""
        self.info = info if info is not None else {"version": 2, "CanAckPings": True}
        self.http_headers = {}
        self.extra = extra
        if connect:
            self.connect(host, fast_start)

    def meta_server_key(self):
        """parseMetaCert: the key in a derpkey<hex> CN with a small serial."""
        for c in self.chain:
            cn = c.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
            if cn and cn[0].value.startswith("derpkey") and c.serial_number.bit_length() <= 8:
                return bytes.fromhex(cn[0].value[7:]), c.serial_number
        return None, 0

    def request(self, host, fast_start=False, extra=""):
        r = (f"GET /derp HTTP/1.1\r\nHost: {host}\r\nUpgrade: DERP\r\n"
             f"Connection: Upgrade\r\n{extra or self.extra}")
        if fast_start:
            r += "Derp-Fast-Start: 1\r\n"
        return (r + "\r\n").encode()

    def connect(self, host, fast_start=False):
        if fast_start:
            self.server_pub, _ = self.meta_server_key()
            assert self.server_pub, "no meta cert to fast-start with"
            # derphttp: request then ClientInfo, without waiting for the 101.
            self.sock.sendall(self.request(host, True) + self.client_info_frame())
            t, p = self.read_frame()
            assert t == F_SERVER_KEY and p[:8] == MAGIC and p[8:40] == self.server_pub
        else:
            self.sock.sendall(self.request(host))
            status, self.http_headers = self.read_http()
            assert status == 101, status
            t, p = self.read_frame()
            assert t == F_SERVER_KEY and len(p) >= 40 and p[:8] == MAGIC, (t, p)
            self.server_pub = p[8:40]
            self.sock.sendall(self.client_info_frame())
        t, p = self.read_frame()
        assert t == F_SERVER_INFO, t
        box = nacl.public.Box(self.priv, nacl.public.PublicKey(self.server_pub))
        self.server_info = json.loads(box.decrypt(p))

    def read_http(self):
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        hs = {}
        for ln in lines[1:]:
            k, _, v = ln.partition(":")
            hs[k.strip()] = v.strip()
        return int(lines[0].split()[1]), hs

    def client_info_frame(self):
        box = nacl.public.Box(self.priv, nacl.public.PublicKey(self.server_pub))
        sealed = bytes(box.encrypt(json.dumps(self.info).encode(),
                                   nacl.utils.random(24)))
        return self.frame(F_CLIENT_INFO, self.pub + sealed)

    @staticmethod
    def frame(t, payload=b""):
        return struct.pack(">BI", t, len(payload)) + payload

    def _fill(self):
        d = self.sock.recv(1 << 16)
        if not d:
            raise Closed()
        self.buf += d

    def read_frame(self, timeout=5):
        self.sock.settimeout(timeout)
        while len(self.buf) < 5:
            self._fill()
        t, n = struct.unpack(">BI", self.buf[:5])
        if n > 1 << 20:         # what the Go client refuses
            raise ValueError(f"frame of {n} bytes")
        while len(self.buf) < 5 + n:
            self._fill()
        p, self.buf = self.buf[5:5 + n], self.buf[5 + n:]
        return t, p

    def expect(self, want, timeout=5, skip=(F_KEEPALIVE,)):
        deadline = time.time() + timeout
        while True:
            t, p = self.read_frame(max(0.05, deadline - time.time()))
            if t == want:
                return p
            if t == F_PING:             # as the Go client does
                self.send(F_PONG, p[:8])
                continue
            assert t in skip, (t, p)
            if time.time() > deadline:
                raise TimeoutError(f"no frame of type {want}")

    def send(self, t, payload=b""):
        self.sock.sendall(self.frame(t, payload))

    def send_packet(self, dst, data):
        self.send(F_SEND, dst + data)

    def recv_packet(self, timeout=5):
        p = self.expect(F_RECV, timeout)
        return p[:32], p[32:]

    def closed_by_server(self, timeout=5):
        """True once the server hangs up (frames before that are skipped)."""
        deadline = time.time() + timeout
        try:
            while time.time() < deadline:
                self.read_frame(max(0.05, deadline - time.time()))
        except (Closed, ConnectionResetError):
            return True
        except (socket.timeout, TimeoutError):
            return False
        return False

    def close(self):
        self.sock.close()


def disco_like(n=80):
    return DISCO_MAGIC + os.urandom(n - len(DISCO_MAGIC))


# ---- topology --------------------------------------------------------------
def sh(*a):
    return pmtest.sh(*a)


@pytest.fixture
def lab():
    s, r, c = pmtest.Netns(), pmtest.Netns(), pmtest.Netns()
    try:
        sh("ip", "link", "add", "tds0", "netns", s.name, "type", "veth",
           "peer", "tdr0", "netns", r.name)
        sh("ip", "link", "add", "tdr1", "netns", r.name, "type", "veth",
           "peer", "tdc0", "netns", c.name)
        s.run("ip", "addr", "add", f"{SRV4}/24", "dev", "tds0")
        s.run("ip", "addr", "add", f"{SRV6}/64", "dev", "tds0", "nodad")
        s.run("ip", "link", "set", "tds0", "up")
        r.run("ip", "addr", "add", f"{R4}/24", "dev", "tdr0")
        r.run("ip", "addr", "add", f"{NAT4}/24", "dev", "tdr0")
        r.run("ip", "addr", "add", f"{R6}/64", "dev", "tdr0", "nodad")
        r.run("ip", "addr", "add", "10.66.0.1/24", "dev", "tdr1")
        for dev in ("tdr0", "tdr1"):
            r.run("ip", "link", "set", dev, "up")
        r.run("sysctl", "-qw", "net.ipv4.ip_forward=1")
        c.run("ip", "addr", "add", f"{C4}/24", "dev", "tdc0")
        c.run("ip", "link", "set", "tdc0", "up")
        c.run("ip", "route", "add", "default", "via", "10.66.0.1")
        # C's traffic leaves R from NAT4, UDP and TCP from port 40000 on.
        nft = (f"table ip tdnat {{\n chain post {{\n"
               f"  type nat hook postrouting priority 100;\n"
               f"  ip saddr 10.66.0.0/24 oifname tdr0 meta l4proto {{ tcp, udp }} "
               f"snat to {NAT4}:{NAT_PORT}-{NAT_PORT + 99}\n }}\n}}\n")
        subprocess.run(["ip", "netns", "exec", r.name, "nft", "-f", "-"],
                       input=nft, text=True, check=True)
        # Links up and neighbours resolved before the first test packet.
        for ns, dst in ((r, SRV4), (r, SRV6), (c, "10.66.0.1")):
            pmtest.wait_for(lambda: ns.run("ping", "-c1", "-W1", dst,
                                           check=False).returncode == 0,
                            10, f"{dst} reachable")
        yield {"S": s, "R": r, "C": c}
    finally:
        for ns in (s, r, c):
            ns.delete()


@pytest.fixture
def derp(lab):
    d = TestDerp(ns=lab["S"], addr=[SRV4, SRV6], http_port=3340, tls_port=443,
                 stun_port=3478, keepalive=60).start()
    yield d
    d.stop()


def client(lab, where, derp, **kw):
    host = SRV6 if kw.pop("v6", False) else SRV4
    port = derp.tls_port if kw.get("tls") else derp.http_port
    return DerpClient(lab[where], host, port, **kw)


# ---- DERP ------------------------------------------------------------------
def test_upgrade_handshake_and_exchange(lab, derp):
    a = client(lab, "R", derp)
    b = client(lab, "C", derp)
    assert a.http_headers["Upgrade"] == "DERP"
    assert a.http_headers["Connection"] == "Upgrade"
    assert a.http_headers["Derp-Version"] == "2"
    assert a.http_headers["Derp-Public-Key"] == derp.public_key.hex()
    assert a.server_pub == derp.public_key
    assert a.server_info == {"version": 2}
    pmtest.wait_for(lambda: len(derp.counters()["clients"]) == 2, 5, "2 clients")

    a.send_packet(b.pub, b"hello from a")
    assert b.recv_packet() == (a.pub, b"hello from a")
    big = os.urandom(64 << 10)                  # MaxPacketSize is allowed
    b.send_packet(a.pub, big)
    assert a.recv_packet() == (b.pub, big)
    for i in range(20):
        a.send_packet(b.pub, b"%d" % i)
    assert [b.recv_packet()[1] for _ in range(20)] == [b"%d" % i for i in range(20)]

    c = derp.counters()
    assert c["packets_received"] == 22 and c["packets_sent"] == 22
    assert c["bytes_received"] == len(b"hello from a") + len(big) + \
        sum(len(b"%d" % i) for i in range(20))
    info = c["client_info"][a.pub.hex()]
    assert info["version"] == 2 and info["CanAckPings"] is True
    sent = [f for f in derp.received() if f["type"] == F_SEND]
    assert sent[0] == {"src": a.pub.hex(), "type": F_SEND, "len": 32 + 12,
                       "payload": b.pub + b"hello from a"}
    assert len(sent) == 22
    a.close()
    b.close()


def test_ipv6_and_tls_with_fast_start(lab, derp):
    a = client(lab, "R", derp, v6=True)
    b = client(lab, "R", derp, tls=True, fast_start=True)
    key, serial = b.meta_server_key()
    assert key == derp.public_key and serial == 2
    leaf = b.chain[0]
    pin = derp.node()["CertName"]
    assert pin == "sha256-raw:" + hashlib.sha256(
        leaf.public_bytes(serialization.Encoding.DER)).hexdigest()
    assert derp.counter("fast_starts") == 1
    a.send_packet(b.pub, b"v6 to tls")
    assert b.recv_packet() == (a.pub, b"v6 to tls")
    b.send_packet(a.pub, b"tls to v6")
    assert a.recv_packet() == (b.pub, b"tls to v6")
    # TLS without fast start still gets the 101.
    c = client(lab, "C", derp, tls=True)
    assert c.http_headers["Derp-Public-Key"] == derp.public_key.hex()


def http(ns, port, path, method="GET", headers="", host="Host: x\r\n"):
    s = socket_in(ns, socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(5)
    s.connect((SRV4, port))
    s.sendall(f"{method} {path} HTTP/1.1\r\n{host}{headers}"
              "Connection: close\r\n\r\n".encode())
    out = b""
    while True:
        d = s.recv(4096)
        if not d:
            break
        out += d
    s.close()
    return out.decode()


def test_http_endpoints(lab, derp):
    def get(path, method="GET", headers=""):
        return http(lab["R"], derp.http_port, path, method, headers)
    assert get("/derp").startswith("HTTP/1.1 426 ")
    # As Go's net/http: an HTTP/1.1 request without Host never reaches /derp.
    assert http(lab["R"], derp.http_port, "/derp", headers="Upgrade: DERP\r\n",
                host="").startswith("HTTP/1.1 400 ")
    assert get("/derp", headers="Upgrade: foo\r\n").startswith("HTTP/1.1 426 ")
    assert get("/derp", headers="X-Big: " + "b" * (70 << 10) + "\r\n").startswith(
        "HTTP/1.1 400 ")
    assert get("/derp/probe").startswith("HTTP/1.1 200 ")
    assert get("/derp/latency-check", "HEAD").startswith("HTTP/1.1 200 ")
    assert get("/derp/probe", "POST").startswith("HTTP/1.1 405 ")
    r = get("/generate_204", headers="X-Tailscale-Challenge: abc.DEF\r\n")
    assert r.startswith("HTTP/1.1 204 ") and "X-Tailscale-Response: response abc.DEF" in r
    assert "X-Tailscale-Response" not in get("/generate_204",
                                             headers="X-Tailscale-Challenge: a b\r\n")
    body = get("/debug/testderp/counters").split("\r\n\r\n", 1)[1]
    assert json.loads(body)["http_requests"] >= 8


def test_peer_gone(lab, derp):
    a = client(lab, "R", derp)
    b = client(lab, "C", derp)
    a.send_packet(b.pub, b"x")
    assert b.recv_packet() == (a.pub, b"x")
    a.close()
    assert b.expect(F_PEER_GONE) == a.pub + b"\x00"      # disconnected
    assert derp.counter("peer_gone_disconnected_frames") == 1

    # Unknown destination: dropped; PeerGone(not here) only for disco, and
    # at most 3 in a burst (rate.Every(time.Second), 3).
    nobody = os.urandom(32)
    b.send_packet(nobody, b"not disco")
    for _ in range(5):
        b.send_packet(nobody, disco_like())
    got = [b.expect(F_PEER_GONE) for _ in range(3)]
    assert got == [nobody + b"\x01"] * 3
    with pytest.raises((socket.timeout, TimeoutError)):
        b.expect(F_PEER_GONE, timeout=0.5)
    c = derp.counters()
    assert c["dropped_unknown_dest_other"] == 1
    assert c["dropped_unknown_dest_disco"] == 5
    assert c["peer_gone_not_here_frames"] == 3
    derp.close_client(b.pub)
    assert b.closed_by_server()
    pmtest.wait_for(lambda: derp.counters()["clients"] == [], 5, "no clients")


def test_ping_pong_keepalive_health_restarting(lab):
    d = TestDerp(ns=lab["S"], addr=SRV4, http_port=3340, stun_port=None,
                 keepalive=0.3).start()
    try:
        a = DerpClient(lab["R"], SRV4, 3340)
        a.send(F_PING, b"12345678")
        assert a.expect(F_PONG) == b"12345678"
        a.send(F_PING, b"abcdefgh" + b"z" * 992)        # 1000 bytes: allowed
        assert a.expect(F_PONG) == b"abcdefgh"
        t0 = time.time()
        assert a.read_frame(2) == (F_KEEPALIVE, b"")
        a.expect(F_KEEPALIVE, skip=())
        assert time.time() - t0 < 2
        assert d.counter("got_ping") == 2 and d.counter("sent_pong") == 2

        d.send_ping(a.pub, b"srvping!")
        assert a.expect(F_PING) == b"srvping!"
        a.send(F_PONG, b"srvping!")
        pmtest.wait_for(lambda: d.pongs() == [(a.pub.hex(), b"srvping!")], 5,
                        "pong to the server's ping")
        d.send_health(a.pub, "duplicate key")
        assert a.expect(F_HEALTH) == b"duplicate key"
        d.send_restarting(a.pub, 1500, 10000)
        assert a.expect(F_RESTARTING) == struct.pack(">II", 1500, 10000)
        a.send(F_PREFERRED, b"\x01")
        pmtest.wait_for(lambda: d.counters()["preferred"].get(a.pub.hex()), 5,
                        "preferred noted")
        assert d.counters()["current_home_clients"] == 1
    finally:
        d.stop()


@pytest.mark.parametrize("bad,why", [
    (lambda a: a.send(F_PING, b"1234567"), "short ping"),
    (lambda a: a.send(F_PING, b"x" * 1001), "ping over 1000"),
    (lambda a: a.send(F_PREFERRED, b"\x01\x01"), "NotePreferred of 2 bytes"),
    (lambda a: a.send(F_SEND, b"x" * 31), "SendPacket shorter than a key"),
    (lambda a: a.send(F_SEND, os.urandom(32) + bytes((64 << 10) + 1)), "packet over 64 KiB"),
    (lambda a: a.send(F_WATCH), "WatchConns without the mesh key"),
    (lambda a: a.send(F_CLOSE_PEER, bytes(32)), "ClosePeer without the mesh key"),
    (lambda a: a.send(F_FORWARD, bytes(64)), "ForwardPacket without the mesh key"),
])
def test_client_protocol_errors_close(lab, derp, bad, why):
    a = client(lab, "R", derp)
    a.send(0x7E, b"unknown frame types are skipped")
    a.send(F_PING, b"stillok!")
    assert a.expect(F_PONG) == b"stillok!", why
    bad(a)
    assert a.closed_by_server(), why
    assert derp.counter("unknown_frames") == 1


@pytest.mark.parametrize("case", ["bad box", "bad json", "wrong type",
                                  "bad mesh key", "short", "not client info"])
def test_handshake_rejections(lab, derp, case):
    a = DerpClient(lab["R"], SRV4, derp.http_port, connect=False)
    a.sock.sendall(a.request(SRV4))
    assert a.read_http()[0] == 101
    t, p = a.read_frame()
    a.server_pub = p[8:40]
    if case == "bad box":
        other = nacl.public.PrivateKey.generate()
        sealed = bytes(nacl.public.Box(other, nacl.public.PublicKey(a.server_pub))
                       .encrypt(b'{"version":2}', nacl.utils.random(24)))
        a.send(F_CLIENT_INFO, a.pub + sealed)
    elif case == "short":
        a.send(F_CLIENT_INFO, a.pub + bytes(23))
    elif case == "not client info":
        a.send(F_PING, b"12345678")
    else:
        a.info = {"bad json": b"{version:2", "wrong type": {"version": "2"},
                  "bad mesh key": {"version": 2, "meshKey": "abcd"}}[case]
        if isinstance(a.info, bytes):
            box = nacl.public.Box(a.priv, nacl.public.PublicKey(a.server_pub))
            a.send(F_CLIENT_INFO, a.pub + bytes(box.encrypt(a.info, nacl.utils.random(24))))
        else:
            a.sock.sendall(a.client_info_frame())
    assert a.closed_by_server(), case
    c = derp.counters()
    assert c["handshake_errors"] == 1 and c["clients"] == []


def test_handshake_deadline(lab):
    # derpserver gives ServerKey -> ClientInfo 10 s; shortened here.
    d = TestDerp(ns=lab["S"], addr=SRV4, http_port=3340, stun_port=None,
                 handshake_timeout=0.5).start()
    try:
        a = DerpClient(lab["R"], SRV4, 3340, connect=False)
        a.sock.sendall(a.request(SRV4))
        assert a.read_http()[0] == 101
        assert a.read_frame()[0] == F_SERVER_KEY
        t0 = time.time()
        assert a.closed_by_server(5)
        assert 0.4 < time.time() - t0 < 3
        assert d.counter("handshake_timeout") == 1
    finally:
        d.stop()


def test_token_bucket_in_server_info(lab):
    d = TestDerp(ns=lab["S"], addr=SRV4, http_port=3340, stun_port=None,
                 token_bucket=(125000, 250000)).start()
    try:
        a = DerpClient(lab["R"], SRV4, 3340)
        assert a.server_info == {"version": 2, "TokenBucketBytesPerSecond": 125000,
                                 "TokenBucketBytesBurst": 250000}
    finally:
        d.stop()


def test_garbage_from_clients_leaves_the_server_serving(lab, derp):
    rnd = random.Random(6)
    for i in range(30):
        a = client(lab, "R", derp) if i % 2 else \
            DerpClient(lab["R"], SRV4, derp.http_port, connect=False)
        blob = bytes(rnd.getrandbits(8) for _ in range(rnd.randrange(1, 3000)))
        if i % 3 == 0:      # well-framed random frames of known types
            t = rnd.choice([F_SEND, F_PREFERRED, F_PING, F_FORWARD, F_WATCH, F_CLOSE_PEER])
            blob = DerpClient.frame(t, blob[:rnd.randrange(0, 80)])
        try:
            a.sock.sendall(blob)
        except OSError:
            pass
        a.close()
    b = client(lab, "R", derp)
    c = client(lab, "C", derp)
    b.send_packet(c.pub, b"still relaying")
    assert c.recv_packet() == (b.pub, b"still relaying")
    pmtest.wait_for(lambda: derp.counters()["current_clients"] == 2 and
                    len(derp.server.tasks) == 2, 5, "garbage connections ended")
    cs = derp.counters()
    assert cs.get("internal_errors", 0) == 0 and cs["accepts"] == 32
    # Seeded: the same garbage each run, refused at both layers.
    assert cs["http_bad_request"] > 0 and cs["client_protocol_errors"] > 0


def test_case_insensitive_client_info(lab, derp):
    a = client(lab, "R", derp, info={"VERSION": 2, "canackpings": True,
                                     "IsProber": True, "AppName": "x", "extra": [1]})
    info = derp.counters()["client_info"][a.pub.hex()]
    assert info["version"] == 2 and info["CanAckPings"] and info["IsProber"]


def test_mesh_watch_forward_close(lab):
    mesh = os.urandom(32)
    d = TestDerp(ns=lab["S"], addr=SRV4, http_port=3340, stun_port=None,
                 mesh_key=mesh).start()
    try:
        b = DerpClient(lab["C"], SRV4, 3340)            # arrives NATed
        w = DerpClient(lab["R"], SRV4, 3340,
                       info={"version": 2, "meshKey": mesh.hex(), "CanAckPings": True})
        w.send(F_WATCH)
        seen = {}
        for _ in range(2):
            p = w.expect(F_PEER_PRESENT)
            assert len(p) == 32 + 16 + 2 + 1
            seen[p[:32]] = (socket.inet_ntop(socket.AF_INET6, p[32:48]),
                            struct.unpack(">H", p[48:50])[0], p[50])
        assert seen[b.pub][0] == "::ffff:" + NAT4
        assert NAT_PORT <= seen[b.pub][1] < NAT_PORT + 100
        assert seen[b.pub][2] == 1                          # regular
        assert seen[w.pub] == ("::ffff:" + R4, w.local[1], 2)  # mesh peer

        a = DerpClient(lab["R"], SRV4, 3340, extra="Ideal-Node: 900b\r\n")
        p = w.expect(F_PEER_PRESENT)
        assert p[:32] == a.pub and p[50] == 8                # not its ideal node
        src = os.urandom(32)
        w.send(F_FORWARD, src + b.pub + b"forwarded")
        assert b.recv_packet() == (src, b"forwarded")
        a.close()
        assert w.expect(F_PEER_GONE) == a.pub + b"\x00"
        w.send(F_CLOSE_PEER, b.pub)
        assert b.closed_by_server()
        assert d.counter("packets_forwarded_in") == 1
    finally:
        d.stop()


def test_duplicate_key_last_active_wins(lab, derp):
    priv = nacl.public.PrivateKey.generate()
    b1 = client(lab, "R", derp, priv=priv)
    a = client(lab, "C", derp)
    b2 = client(lab, "R", derp, priv=priv)
    a.send_packet(b1.pub, b"to newest")
    assert b2.recv_packet() == (a.pub, b"to newest")
    b1.send(F_PING, b"i am b1!")                        # b1 becomes active again
    assert b1.expect(F_PONG) == b"i am b1!"
    a.send_packet(b1.pub, b"to last writer")
    assert b1.recv_packet() == (a.pub, b"to last writer")
    assert derp.counter("dup_client_conn_total") == 1


def test_write_timeout_cuts_a_stalled_client(lab):
    d = TestDerp(ns=lab["S"], addr=SRV4, http_port=3340, stun_port=None,
                 write_timeout=0.5).start()
    try:
        a = DerpClient(lab["R"], SRV4, 3340)
        b = DerpClient(lab["R"], SRV4, 3340)
        b.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        chunk = os.urandom(60000)
        for _ in range(200):                # b never reads
            try:
                a.send_packet(b.pub, chunk)
            except OSError:
                break
        pmtest.wait_for(lambda: d.counter("sclient_write_timeouts") >= 1, 10,
                        "write timeout")
        pmtest.wait_for(lambda: b.pub.hex() not in d.counters()["clients"], 5,
                        "stalled client cut")
        assert d.counter("dropped_queue_head_other") > 0
    finally:
        d.stop()


EXPECT = {
    "http_error": "status 500",
    "wrong_magic": "bad magic",
    "truncated_server_key": "short server key",
    "server_key_wrong_type": "frame type 3",
    "close_mid_server_key": "closed mid-frame",
    "bad_server_info": "box does not open",
    "server_info_bad_json": "not JSON",
    "garbage": "unparseable stream",
    "oversized_frame": "frame over 1 MiB",
    "close_mid_frame": "closed mid-frame",
    "short_recv_packet": "RecvPacket of 16 bytes",
    "short_peer_gone": "PeerGone of 10 bytes",
    "unknown_frame": "frame type 0x7e",
}


@pytest.mark.parametrize("fault", sorted(CONN_FAULTS))
def test_faults(lab, derp, fault):
    assert set(EXPECT) == set(CONN_FAULTS)
    derp.inject_fault(fault)
    a = DerpClient(lab["R"], SRV4, derp.http_port, connect=False)
    a.sock.sendall(a.request(SRV4))
    status, _ = a.read_http()
    if fault == "http_error":
        assert status == 500
        return
    assert status == 101
    try:
        t, p = a.read_frame()
    except Closed:
        assert fault == "close_mid_server_key"
        assert 5 <= len(a.buf) < 45
        return
    if fault == "server_key_wrong_type":
        assert t == F_SERVER_INFO
        return
    assert t == F_SERVER_KEY
    if fault == "wrong_magic":
        assert p[:8] != MAGIC and len(p) == 40
        return
    if fault == "truncated_server_key":
        assert p[:8] == MAGIC and len(p) == 24
        return
    a.server_pub = p[8:40]
    a.sock.sendall(a.client_info_frame())
    t, p = a.read_frame()
    assert t == F_SERVER_INFO
    box = nacl.public.Box(a.priv, nacl.public.PublicKey(a.server_pub))
    if fault == "bad_server_info":
        with pytest.raises(nacl.exceptions.CryptoError):
            box.decrypt(p)
        return
    if fault == "server_info_bad_json":
        with pytest.raises(ValueError):
            json.loads(box.decrypt(p))
        return
    assert json.loads(box.decrypt(p)) == {"version": 2}
    if fault == "oversized_frame":
        with pytest.raises(ValueError, match="frame of 2097152 bytes"):
            a.read_frame()
        return
    if fault == "close_mid_frame":
        with pytest.raises(Closed):
            a.read_frame()
        assert a.buf[:5] == struct.pack(">BI", F_RECV, 100) and len(a.buf) == 45
        return
    if fault == "garbage":
        # 4 KiB of random bytes, then the server hangs up.
        got = a.buf
        a.buf = b""
        try:
            while True:
                a._fill()
                got += a.buf
                a.buf = b""
        except Closed:
            pass
        assert len(got) == 4096
        return
    want = {"short_recv_packet": (F_RECV, bytes(16)),
            "short_peer_gone": (F_PEER_GONE, bytes(10)),
            "unknown_frame": (0x7E, b"future frame type")}[fault]
    assert a.read_frame() == want
    a.send(F_PING, b"after!!!")                 # the connection goes on
    assert a.expect(F_PONG) == b"after!!!"
    assert derp.counter(f"fault_{fault}") == 1


# ---- STUN ------------------------------------------------------------------
COOKIE = b"\x21\x12\xa4\x42"


def stun_request(txid, software=b"tailnode", fingerprint=True, bad_fp=False):
    """stun.Request, from net/stun/stun.go."""
    attrs = b""
    if software is not None:
        attrs += struct.pack(">HH", 0x8022, len(software)) + software + \
            bytes(-len(software) % 4)
    n = len(attrs) + (8 if fingerprint else 0)
    b = b"\x00\x01" + struct.pack(">H", n) + COOKIE + txid + attrs
    if fingerprint:
        fp = (zlib.crc32(b) ^ 0x5354554E) & 0xFFFFFFFF
        b += struct.pack(">HHI", 0x8028, 4, fp ^ (1 if bad_fp else 0))
    return b


def parse_stun_response(b, txid):
    """(family, ip string, port) from XOR-MAPPED-ADDRESS; checks the header."""
    assert b[:2] == b"\x01\x01" and b[4:8] == COOKIE and b[8:20] == txid
    n = struct.unpack(">H", b[2:4])[0]
    assert len(b) == 20 + n
    attrs, out = b[20:], None
    while attrs:
        t, ln = struct.unpack(">HH", attrs[:4])
        v = attrs[4:4 + ln]
        if t == 0x0020:
            fam = v[1]
            port = struct.unpack(">H", v[2:4])[0] ^ 0x2112
            mask = COOKIE + txid
            raw = bytes(x ^ mask[i] for i, x in enumerate(v[4:]))
            af = socket.AF_INET if fam == 1 else socket.AF_INET6
            out = (fam, socket.inet_ntop(af, raw), port)
        attrs = attrs[4 + ((ln + 3) & ~3):]
    return out


def stun_query(ns, server, port, req=None, txid=None, timeout=2, local=None):
    fam = socket.AF_INET6 if ":" in server else socket.AF_INET
    s = socket_in(ns, fam, socket.SOCK_DGRAM)
    try:
        s.bind((local or ("::" if fam == socket.AF_INET6 else "0.0.0.0"), 0))
        txid = txid or os.urandom(12)
        s.settimeout(timeout)
        s.sendto(req or stun_request(txid), (server, port))
        try:
            data, _ = s.recvfrom(2048)
        except (socket.timeout, TimeoutError):
            return s.getsockname(), txid, None
        return s.getsockname(), txid, data
    finally:
        s.close()


def test_stun_direct_natted_and_ipv6(lab, derp):
    local, txid, data = stun_query(lab["R"], SRV4, 3478)
    assert parse_stun_response(data, txid) == (1, R4, local[1])

    local, txid, data = stun_query(lab["C"], SRV4, 3478)
    fam, ip, port = parse_stun_response(data, txid)
    assert (fam, ip) == (1, NAT4)               # the NATed address, not 10.66.0.2
    assert NAT_PORT <= port < NAT_PORT + 100 and port != local[1]
    assert derp.stun_requests()[-1] == (NAT4, port, txid)   # what the server saw

    local, txid, data = stun_query(lab["R"], SRV6, 3478)
    assert parse_stun_response(data, txid) == (2, R6, local[1])
    # derper answers exactly the 32-byte (v4) / 44-byte (v6) response.
    assert len(data) == 44
    c = derp.counters()
    assert c["stun_success"] == 3 and c["stun_ipv4"] == 2 and c["stun_ipv6"] == 1


def test_stun_dual_stack_answers_v4_mapped(lab):
    # derper listens on ":3478" (one dual-stack socket); an IPv4 client then
    # gets family 2 and its v4-mapped address.  Clients must Unmap() it.
    d = TestDerp(ns=lab["S"], addr="::", http_port=None, stun_port=3478).start()
    try:
        local, txid, data = stun_query(lab["R"], SRV4, 3478)
        assert parse_stun_response(data, txid) == (2, "::ffff:" + R4, local[1])
    finally:
        d.stop()


def test_stun_strict_like_derper(lab, derp):
    cases = {"wrong_software": stun_request(os.urandom(12), software=b"other"),
             "no_fingerprint": stun_request(os.urandom(12), fingerprint=False),
             "wrong_fingerprint": stun_request(os.urandom(12), bad_fp=True),
             "not_stun": b"\x00\x01\x00\x00" + b"\x00" * 16,
             "not_binding_request": b"\x01\x01" + stun_request(os.urandom(12))[2:]}
    for why, req in cases.items():
        _, _, data = stun_query(lab["R"], SRV4, 3478, req=req, timeout=0.5)
        assert data is None, why
        assert derp.counter(f"stun_rejected_{why}") == 1, why
    assert derp.counter("stun_not_stun") == len(cases)
    assert derp.counter("stun_success") == 0


def test_stun_faults(lab, derp):
    derp.inject_stun_fault("wrong_txid")
    local, txid, data = stun_query(lab["R"], SRV4, 3478)
    assert data[8:20] == bytes(x ^ 0xFF for x in txid)
    derp.inject_stun_fault("mapped_only")
    local, txid, data = stun_query(lab["R"], SRV4, 3478)
    assert parse_stun_response(data, txid) is None      # no XOR-MAPPED-ADDRESS
    assert data[20:24] == b"\x00\x01\x00\x08" and data[28:32] == socket.inet_aton(R4)
    derp.inject_stun_fault("drop")
    assert stun_query(lab["R"], SRV4, 3478, timeout=0.5)[2] is None
    local, txid, data = stun_query(lab["R"], SRV4, 3478)    # faults are used up
    assert parse_stun_response(data, txid) == (1, R4, local[1])


def test_coturn_stunclient(lab):
    """coturn's turnutils_stunclient: a generic RFC 5389 client.  Strict
    mode ignores it (no SOFTWARE tailnode), as derper does; accept-any
    answers it with the NATed address."""
    tool = "turnutils_stunclient"
    if subprocess.run(["which", tool], capture_output=True).returncode != 0:
        pytest.skip("coturn is not installed (packaging/install-deps.sh)")
    d = TestDerp(ns=lab["S"], addr=SRV4, http_port=None, stun_port=3478).start()
    try:
        r = subprocess.run(["ip", "netns", "exec", lab["C"].name, "timeout", "3",
                            tool, "-p", "3478", SRV4], capture_output=True, text=True)
        assert "reflexive addr" not in r.stdout
        assert d.counter("stun_rejected_wrong_software") >= 1
    finally:
        d.stop()
    d = TestDerp(ns=lab["S"], addr=SRV4, http_port=None, stun_port=3478,
                 stun_accept_any=True).start()
    try:
        r = lab["C"].run("timeout", "5", tool, "-p", "3478", SRV4)
        addrs = {ln.split("reflexive addr:")[1].strip()
                 for ln in r.stdout.splitlines() if "reflexive addr:" in ln}
        assert len(addrs) == 1, r.stdout
        ip, port = addrs.pop().rsplit(":", 1)
        assert ip == NAT4 and NAT_PORT <= int(port) < NAT_PORT + 100
        # The mapping coturn decoded is the source the server saw.
        assert {(a, p) for a, p, _ in d.stun_requests()} == {(NAT4, int(port))}
        assert d.counter("stun_success") >= 1
    finally:
        d.stop()


# ---- standalone ------------------------------------------------------------
def test_standalone_cli(lab, tmp_path):
    out = tmp_path / "derpmap.json"
    p = subprocess.Popen([sys.executable, "-m", "tests.testderp", "--netns", lab["S"].name,
                          "--listen", f"{SRV4}:3340", "--listen-tls", f"{SRV4}:8443",
                          "--stun", SRV4, "--region-id", "901", "--derpmap-out", str(out)],
                         cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        dm = json.loads(_read_json(p.stdout))
        node = dm["Regions"]["901"]["Nodes"][0]
        assert dm["Regions"]["901"]["RegionID"] == 901
        assert node["Name"] == "901a" and node["RegionID"] == 901
        assert node["HostName"] == "derp.test" and node["IPv4"] == SRV4
        assert node["IPv6"] == "none"
        assert node["DERPPort"] == 8443 and node["STUNPort"] == 3478
        assert node["InsecureForTests"] is True
        assert node["CertName"].startswith("sha256-raw:")
        assert json.loads(out.read_text()) == dm
        a = DerpClient(lab["R"], SRV4, node["DERPPort"], tls=True, fast_start=True)
        b = DerpClient(lab["C"], SRV4, 3340)
        assert a.server_pub == b.server_pub
        a.send_packet(b.pub, b"via the CLI server")
        assert b.recv_packet() == (a.pub, b"via the CLI server")
        local, txid, data = stun_query(lab["R"], SRV4, node["STUNPort"])
        assert parse_stun_response(data, txid) == (1, R4, local[1])
        # Faults and counters over HTTP, for tests that run the CLI.
        assert http(lab["R"], 3340, "/debug/testderp/fault?stun=nosuch",
                    "POST").startswith("HTTP/1.1 400 ")
        assert http(lab["R"], 3340, "/debug/testderp/fault?stun=drop&count=2",
                    "POST").startswith("HTTP/1.1 200 ")
        assert stun_query(lab["R"], SRV4, 3478, timeout=0.5)[2] is None
        c = json.loads(http(lab["R"], 3340, "/debug/testderp/counters").split("\r\n\r\n")[1])
        assert c["stun_fault_drop"] == 1 and c["stun_success"] == 1
        assert c["packets_sent"] == 1 and c["fast_starts"] == 1
    finally:
        p.send_signal(signal.SIGTERM)
        assert p.wait(10) == 0, p.stderr.read()


def _read_json(f):
    text = ""
    while True:
        ln = f.readline()
        assert ln, "testderp printed no DERPMap"
        text += ln
        if ln.rstrip() == "}":
            return text
