"""Tests of the test control server (tests/testcontrol) through a minimal
ts2021 client written here independently of the server's code: the server
uses cryptography's X25519/ChaCha20-Poly1305 and stdlib HMAC-BLAKE2s, this
client uses libsodium through PyNaCl and cryptography's HKDF(BLAKE2s)."""

import base64
import hashlib
import json
import os
import socket
import struct
import sys
import time

import h2.config
import h2.connection
import h2.events
import nacl.bindings as sodium
import pytest
import zstandard
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
sys.path.insert(0, REPO)
from tests.testcontrol.harness import TestControl  # noqa: E402

CAPVER = 145


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


# -- a minimal, independent ts2021 client ------------------------------------

def blake2s(b):
    return hashlib.blake2s(b).digest()


def hkdf(ck, ikm, n):
    # RFC 5869 with HMAC-BLAKE2s: extract(salt=ck, ikm), expand(info="").
    return HKDF(hashes.BLAKE2s(32), 32 * n, salt=ck, info=b"").derive(ikm)


def aead_enc(k, n, ad, pt):
    return sodium.crypto_aead_chacha20poly1305_ietf_encrypt(pt, ad, n, k)


def aead_dec(k, n, ad, ct):
    return sodium.crypto_aead_chacha20poly1305_ietf_decrypt(ct, ad, n, k)


def keypair():
    sk = bytearray(os.urandom(32))
    sk[0] &= 248
    sk[31] = (sk[31] & 127) | 64
    sk = bytes(sk)
    return sk, sodium.crypto_scalarmult_base(sk)


class Client:
    """Initiator: upgrade, IK handshake, records, HTTP/2 requests."""

    def __init__(self, addr, server_pub, machine=None, version=CAPVER,
                 tls=None):
        self.addr = addr
        self.tls = tls
        self.server_pub = server_pub
        self.msk, self.mpk = machine or keypair()
        self.version = version

    def handshake_init(self):
        h = blake2s(b"Noise_IK_25519_ChaChaPoly_BLAKE2s")
        ck = h
        h = blake2s(h + b"Tailscale Control Protocol v" +
                    str(self.version).encode())
        h = blake2s(h + self.server_pub)
        esk, epk = keypair()
        h = blake2s(h + epk)
        out = hkdf(ck, sodium.crypto_scalarmult(esk, self.server_pub), 2)
        ck, k = out[:32], out[32:]
        c1 = aead_enc(k, b"\0" * 12, h, self.mpk)
        h = blake2s(h + c1)
        out = hkdf(ck, sodium.crypto_scalarmult(self.msk, self.server_pub), 2)
        ck, k = out[:32], out[32:]
        tag = aead_enc(k, b"\0" * 12, h, b"")
        h = blake2s(h + tag)
        self._hs = (h, ck, esk)
        msg = struct.pack(">HBH", self.version, 1, 96) + epk + c1 + tag
        assert len(msg) == 101
        return msg

    def finish(self, resp):
        h, ck, esk = self._hs
        assert resp[0] == 2 and struct.unpack(">H", resp[1:3])[0] == 48
        repk, tag = resp[3:35], resp[35:51]
        h = blake2s(h + repk)
        ck = hkdf(ck, sodium.crypto_scalarmult(esk, repk), 2)[:32]
        out = hkdf(ck, sodium.crypto_scalarmult(self.msk, repk), 2)
        ck, k = out[:32], out[32:]
        aead_dec(k, b"\0" * 12, h, tag)
        keys = hkdf(ck, b"", 2)
        self.tx_k, self.rx_k = keys[:32], keys[32:]
        self.tx_n = self.rx_n = 0

    def connect(self, upgrade=True, header=None, raw_init=None):
        host, port = self.addr.rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=10)
        if self.tls is not None:
            self.sock = self.tls.wrap_socket(self.sock,
                                             server_hostname="localhost")
        init = raw_init if raw_init is not None else self.handshake_init()
        hdr = header if header is not None else \
            base64.b64encode(init).decode()
        lines = ["POST /ts2021 HTTP/1.1", f"Host: {self.addr}",
                 "Content-Length: 0"]
        if upgrade:
            lines += ["Upgrade: tailscale-control-protocol",
                      "Connection: upgrade"]
        if hdr:
            lines.append(f"X-Tailscale-Handshake: {hdr}")
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        self.buf = b""
        head = self._read_until(b"\r\n\r\n")
        status = int(head.split(b" ")[1])
        return status, head

    def _read_until(self, sep):
        while sep not in self.buf:
            d = self.sock.recv(65536)
            if not d:
                raise EOFError("connection closed")
            self.buf += d
        i = self.buf.index(sep) + len(sep)
        out, self.buf = self.buf[:i], self.buf[i:]
        return out

    def _read_n(self, n):
        while len(self.buf) < n:
            d = self.sock.recv(65536)
            if not d:
                raise EOFError("connection closed")
            self.buf += d
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_handshake(self):
        hdr = self._read_n(3)
        if hdr[0] == 3:
            n = struct.unpack(">H", hdr[1:3])[0]
            raise RuntimeError("server error: " + self._read_n(n).decode())
        self.finish(hdr + self._read_n(48))

    def nonce(self, n):
        return b"\0" * 4 + struct.pack(">Q", n)

    def send_plain(self, data):
        out = b""
        while data:
            chunk, data = data[:4077], data[4077:]
            ct = aead_enc(self.tx_k, self.nonce(self.tx_n), None, chunk)
            self.tx_n += 1
            out += struct.pack(">BH", 4, len(ct)) + ct
        self.sock.sendall(out)

    def recv_record(self):
        hdr = self._read_n(3)
        n = struct.unpack(">H", hdr[1:3])[0]
        if hdr[0] != 4 or n + 3 > 4096:
            raise ValueError(f"bad record header {hdr.hex()}")
        pt = aead_dec(self.rx_k, self.nonce(self.rx_n), None, self._read_n(n))
        self.rx_n += 1
        return pt

    def open(self):
        """Upgrade + handshake + early payload + HTTP/2 preface."""
        status, _ = self.connect()
        assert status == 101
        self.read_handshake()
        self.plain = b""
        while len(self.plain) < 9:
            self.plain += self.recv_record()
        self.early = None
        if self.plain[:5] == b"\xff\xff\xffTS":
            n = struct.unpack(">I", self.plain[5:9])[0]
            while len(self.plain) < 9 + n:
                self.plain += self.recv_record()
            self.early = json.loads(self.plain[9:9 + n])
            self.plain = self.plain[9 + n:]
        self.h2 = h2.connection.H2Connection(h2.config.H2Configuration(
            client_side=True, header_encoding="utf-8"))
        self.h2.initiate_connection()
        self.h2.increment_flow_control_window(1 << 24)
        self.send_plain(self.h2.data_to_send())
        self.streams = {}
        if self.plain:
            self._feed(self.plain)
        return self

    def _feed(self, data):
        for ev in self.h2.receive_data(data):
            s = self.streams.setdefault(getattr(ev, "stream_id", 0),
                                        {"body": b"", "ended": False})
            if isinstance(ev, h2.events.ResponseReceived):
                s["headers"] = dict(ev.headers)
            elif isinstance(ev, h2.events.DataReceived):
                s["body"] += ev.data
                self.h2.acknowledge_received_data(
                    ev.flow_controlled_length, ev.stream_id)
            elif isinstance(ev, (h2.events.StreamEnded,
                                 h2.events.StreamReset)):
                s["ended"] = True
        out = self.h2.data_to_send()
        if out:
            self.send_plain(out)

    def pump(self, timeout=10):
        self.sock.settimeout(timeout)
        self._feed(self.recv_record())

    def request(self, path, body):
        sid = self.h2.get_next_available_stream_id()
        data = json.dumps(body).encode()
        self.h2.send_headers(sid, [(":method", "POST"), (":scheme", "https"),
                                   (":authority", "control"),
                                   (":path", path),
                                   ("content-type", "application/json")])
        self.streams[sid] = {"body": b"", "ended": False}
        while True:     # respect the server's flow-control window
            room = min(self.h2.local_flow_control_window(sid),
                       self.h2.max_outbound_frame_size)
            chunk, rest = data[:room], data[room:]
            if room > 0 or not data:
                self.h2.send_data(sid, chunk, end_stream=not rest)
                self.send_plain(self.h2.data_to_send())
                data = rest
                if not data:
                    return sid
            if self.streams[sid]["ended"]:
                return sid          # answered (e.g. 413) before the end
            if room <= 0:
                self.pump()

    def wait_response(self, sid, timeout=10):
        deadline = time.monotonic() + timeout
        while not self.streams[sid]["ended"]:
            if time.monotonic() > deadline:
                raise TimeoutError("no response")
            self.pump(timeout)
        s = self.streams[sid]
        return int(s["headers"][":status"]), s["body"]

    def call(self, path, body):
        status, data = self.wait_response(self.request(path, body))
        return status, data

    def map_messages(self, sid, timeout=10, compressed=True):
        """Yields decoded MapResponses from a streaming map request."""
        dctx = zstandard.ZstdDecompressor()
        pos = 0
        deadline = time.monotonic() + timeout
        while True:
            b = self.streams[sid]["body"]
            if len(b) - pos >= 4:
                n = struct.unpack("<I", b[pos:pos + 4])[0]
                if len(b) - pos - 4 >= n:
                    raw = b[pos + 4:pos + 4 + n]
                    pos += 4 + n
                    deadline = time.monotonic() + timeout
                    yield json.loads(dctx.decompress(raw) if compressed
                                     else raw)
                    continue
            if self.streams[sid]["ended"]:
                return
            if time.monotonic() > deadline:
                raise TimeoutError("no map message")
            self.pump(timeout)


def node_key():
    return "nodekey:" + keypair()[1].hex()


def register(c, key, nk, hostname, **extra):
    req = {"Version": CAPVER, "NodeKey": nk, "OldNodeKey": "nodekey:" +
           "0" * 64, "NLKey": "nlpub:" + "0" * 64,
           "Auth": {"AuthKey": key} if key else None,
           "Expiry": "0001-01-01T00:00:00Z", "Followup": "",
           "Hostinfo": {"Hostname": hostname, "OS": "linux",
                        "NetInfo": {"PreferredDERP": 999}}}
    req.update(extra)
    status, body = c.call("/machine/register", req)
    assert status == 200, body
    return json.loads(body)


def map_req(nk, stream=True, **extra):
    r = {"Version": CAPVER, "Compress": "zstd", "KeepAlive": True,
         "NodeKey": nk, "DiscoKey": "discokey:" + keypair()[1].hex(),
         "Stream": stream, "Hostinfo": {"Hostname": "x", "OS": "linux",
                                        "NetInfo": {"PreferredDERP": 999}},
         "Endpoints": ["192.0.2.1:41641"]}
    r.update(extra)
    return r


class Joined:
    """A registered node with its streaming map."""

    def __init__(self, tc, name, key=None, hostinfo_extra=None, timeout=10,
                 **mapx):
        self.pub = bytes.fromhex(tc.public_key()[5:])
        self.c = Client(tc.addr, self.pub).open()
        self.nk = node_key()
        resp = register(self.c, key or tc.preauth_key(user="alice"), self.nk,
                        name)
        assert resp["MachineAuthorized"], resp
        req = map_req(self.nk, **mapx)
        self.disco = req["DiscoKey"]
        if hostinfo_extra:
            req["Hostinfo"].update(hostinfo_extra)
        self.sid = self.c.request("/machine/map", req)
        self.msgs = self.c.map_messages(
            self.sid, timeout=timeout,
            compressed=req.get("Compress") == "zstd")
        self.peers = {}

    def next(self, skip_keepalive=True):
        for m in self.msgs:
            if skip_keepalive and m.get("KeepAlive") and len(m) <= 2:
                continue
            return m
        raise EOFError("map stream ended")

    def close(self):
        self.c.sock.close()

    def apply(self, m):
        """Folds a MapResponse into self.peers (delta semantics)."""
        if "Peers" in m:
            self.peers = {p["ID"]: p for p in m["Peers"]}
        for p in m.get("PeersChanged") or []:
            self.peers[p["ID"]] = p
        for i in m.get("PeersRemoved") or []:
            self.peers.pop(i, None)
        for pc in m.get("PeersChangedPatch") or []:
            p = self.peers.get(pc["NodeID"])
            if p is not None:
                for k in ("Endpoints", "Online"):
                    if k in pc:
                        p[k] = pc[k]
        for i, on in (m.get("OnlineChange") or {}).items():
            if int(i) in self.peers:
                self.peers[int(i)]["Online"] = on

    def wait(self, cond, limit=20):
        for _ in range(limit):
            m = self.next()
            self.apply(m)
            if cond(m):
                return m
        raise AssertionError("condition not met")


@pytest.fixture
def tc():
    t = TestControl(addr=f"127.0.0.1:{free_port()}", keepalive=1.0)
    t.start()
    yield t
    sys.stderr.write(t.logs()[-4000:])
    t.cleanup()


# -- tests -------------------------------------------------------------------

def http_get(addr, path):
    host, port = addr.rsplit(":", 1)
    s = socket.create_connection((host, int(port)), timeout=5)
    s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n"
              "Connection: close\r\n\r\n".encode())
    data = b""
    while True:
        d = s.recv(65536)
        if not d:
            break
        data += d
    s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), body


def test_key_endpoint(tc):
    st, body = http_get(tc.addr, f"/key?v={CAPVER}")
    assert st == 200
    j = json.loads(body)
    assert j["legacyPublicKey"] == "mkey:" + "0" * 64
    assert j["publicKey"].startswith("mkey:") and len(j["publicKey"]) == 69
    assert j["publicKey"] == tc.public_key()
    assert http_get(tc.addr, "/key") == (400,
                                         b"capability version must be set\n")
    assert http_get(tc.addr, "/key?v=x")[0] == 400
    assert http_get(tc.addr, "/key?v=30") == (200, b"")
    # Keep-alive: two requests on one connection.
    host, port = tc.addr.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=5) as s:
        for _ in range(2):
            s.sendall(b"GET /key?v=145 HTTP/1.1\r\nHost: x\r\n\r\n")
            data = b""
            while not data.endswith(b"}\n"):
                data += s.recv(4096)
            assert data.startswith(b"HTTP/1.1 200 ")


def test_noise_upgrade_and_early_payload(tc):
    c = Client(tc.addr, bytes.fromhex(tc.public_key()[5:])).open()
    assert c.early["nodeKeyChallenge"].startswith("chalpub:")
    # A request larger than one record, to exercise the BE nonce past 0.
    st, body = c.call("/machine/register", {"Version": CAPVER,
                                            "NodeKey": node_key(),
                                            "Auth": {"AuthKey": "x" * 9000},
                                            "Hostinfo": {}})
    assert st == 200
    assert json.loads(body)["Error"] == "invalid pre auth key"
    st, _ = c.call("/machine/set-dns", {})
    assert st == 501


def test_upgrade_errors(tc):
    pub = bytes.fromhex(tc.public_key()[5:])
    assert Client(tc.addr, pub).connect(upgrade=False)[0] == 500
    assert Client(tc.addr, pub).connect(header="")[0] == 400
    assert Client(tc.addr, pub).connect(header="!!notbase64")[0] == 400
    # Wrong size or type: 101 then close (the error frame stays corked).
    for raw in (b"\0" * 50, b"\0\x91\x02\0\x60" + b"\0" * 96):
        c = Client(tc.addr, pub)
        assert c.connect(raw_init=raw)[0] == 101
        with pytest.raises(EOFError):
            c.read_handshake()
    # Encrypted to the wrong server key: 101 then close.
    c = Client(tc.addr, keypair()[1])
    assert c.connect()[0] == 101
    with pytest.raises(EOFError):
        c.read_handshake()
    # Below Headscale's minimum capver: 101 then close before message 2.
    c = Client(tc.addr, pub, version=100)
    assert c.connect()[0] == 101
    with pytest.raises(EOFError):
        c.read_handshake()
    # The server still serves after all of that.
    Client(tc.addr, pub).open()
    assert tc.counters()["ts2021_refused"] == 3
    assert len(tc.upgrade_times()) == 8
    assert tc.counters()["noise_handshake_failed"] == 3


def test_register_authkey_and_errors(tc):
    pub = bytes.fromhex(tc.public_key()[5:])
    c = Client(tc.addr, pub).open()
    key = tc.preauth_key(user="alice")
    nk = node_key()
    r = register(c, key, nk, "one")
    assert r["MachineAuthorized"] and not r["NodeKeyExpired"]
    assert r["Login"]["LoginName"] == "alice" and r["Error"] == ""
    # Single-use key is spent; a second machine is refused.
    c2 = Client(tc.addr, pub).open()
    r = register(c2, key, node_key(), "two")
    assert r["Error"] == "authkey already used"
    # Unknown and expired keys.
    assert register(c2, "tskey-nope", node_key(), "x")["Error"] == \
        "invalid pre auth key"
    old = tc.preauth_key(user="alice", expiration=-1)
    assert register(c2, old, node_key(), "x")["Error"] == "authkey expired"
    # A reusable key registers several machines.
    multi = tc.preauth_key(user="carol", reusable=True)
    for i in range(2):
        ci = Client(tc.addr, pub).open()
        r = register(ci, multi, node_key(), f"multi{i}")
        assert r["MachineAuthorized"] and r["Login"]["LoginName"] == "carol"
    # Re-register after a restart: no auth, same key -> current state.
    r = register(c, None, nk, "one")
    assert r["MachineAuthorized"] and r["Error"] == ""
    # Same node key from another machine key is refused.
    r = register(c2, None, nk, "one")
    assert "different machine key" in r["Error"]
    # Bad JSON and an old version get 400s; the connection keeps working.
    st, _ = c.call("/machine/register", "junk")
    assert st == 400
    st, _ = c.call("/machine/register", {"Version": 90, "NodeKey": nk})
    assert st == 400
    n = tc.node("one")
    assert n["ips"][0].startswith("100.") and n["ips"][1].startswith("fd7a:")
    # Logout: Expiry in the past.
    r = register(c, None, nk, "one", Expiry="1970-01-01T00:02:03Z")
    assert r["NodeKeyExpired"]
    assert tc.node("one")["expired"]
    r = register(c, None, nk, "one")
    assert r["NodeKeyExpired"] and not r["MachineAuthorized"]


def test_interactive_register(tc):
    c = Client(tc.addr, bytes.fromhex(tc.public_key()[5:])).open()
    nk = node_key()
    r = register(c, None, nk, "inter")
    url = r["AuthURL"]
    assert "/register/hskey-authreq-" in url and not r["MachineAuthorized"]
    aid = url.rsplit("/", 1)[1]
    assert len(aid) == 38
    assert [p["id"] for p in tc.pending()] == [aid]
    sid = c.request("/machine/register", {
        "Version": CAPVER, "NodeKey": nk, "Followup": url,
        "Expiry": "0001-01-01T00:00:00Z", "Hostinfo": {"Hostname": "inter"}})
    time.sleep(0.3)
    c.sock.settimeout(0.3)
    try:
        c.pump(0.3)
    except socket.timeout:
        pass
    assert not c.streams[sid]["ended"]      # long-polls until approval
    tc.approve_auth(url, user="bob")
    st, body = c.wait_response(sid)
    r = json.loads(body)
    assert st == 200 and r["MachineAuthorized"]
    assert r["Login"]["LoginName"] == "bob"
    # A stale followup gets a new AuthURL.
    r = register(c, None, node_key(), "z", Followup=url)
    assert r["AuthURL"] and r["AuthURL"] != url


def test_auth_url_expires():
    t = TestControl(addr=f"127.0.0.1:{free_port()}",
                    extra_args=["--auth-timeout", "1"])
    t.start()
    try:
        c = Client(t.addr, bytes.fromhex(t.public_key()[5:])).open()
        nk = node_key()
        url = register(c, None, nk, "slow")["AuthURL"]
        t0 = time.monotonic()
        r = register(c, None, nk, "slow", Followup=url)   # blocks, then new
        assert r["AuthURL"] and r["AuthURL"] != url
        assert 0.5 < time.monotonic() - t0 < 5
        assert t.pending()[0]["id"] == r["AuthURL"].rsplit("/", 1)[1]
    finally:
        t.cleanup()


def test_map_stream_join_leave(tc):
    a = Joined(tc, "alpha")
    m = a.next()
    assert m["Node"]["Name"] == "alpha.tailnet.test."
    assert m["Node"]["Key"] == a.nk
    assert m["Node"]["Machine"].startswith("mkey:")
    assert m["Node"]["HomeDERP"] == 999
    assert m["Node"]["Addresses"][0].endswith("/32")
    assert m["Node"]["Addresses"][1].startswith("fd7a:115c:a1e0:")
    assert "Peers" not in m         # omitempty, as Go encodes it
    assert m["CollectServices"] is False
    assert m["Node"]["MachineAuthorized"] is True
    assert m["Node"]["Online"] is True and "LastSeen" not in m["Node"]
    assert m["Node"]["StableID"] == str(m["Node"]["ID"])
    assert m["Node"]["CapMap"]["https://tailscale.com/cap/is-admin"] == []
    assert "999" in m["DERPMap"]["Regions"]
    assert m["DNSConfig"]["Domains"][0] == "tailnet.test"
    assert m["PacketFilter"] == [{"SrcIPs": ["*"], "DstPorts": [
        {"IP": "*", "Ports": {"First": 0, "Last": 65535}}]}]
    assert m["Domain"] == "tailnet.test"
    a.apply(m)
    b = Joined(tc, "beta")
    mb = b.next()
    assert [p["Name"] for p in mb["Peers"]] == ["alpha.tailnet.test."]
    assert mb["Peers"][0]["Online"] is True
    bid = tc.node("beta")["id"]
    # alpha learns of beta through deltas, never a second full map.
    a.wait(lambda m: "Peers" not in m and a.peers.get(bid, {}).get(
        "Endpoints") == ["192.0.2.1:41641"] and a.peers[bid].get("Online"))
    p = a.peers[bid]
    assert p["Key"] == b.nk and p["DiscoKey"].startswith("discokey:")
    # Endpoint update through a lite request shows up as a patch.
    st, body = b.c.call("/machine/map", map_req(
        b.nk, stream=False, OmitPeers=True, Endpoints=["198.51.100.7:1"],
        DiscoKey=b.disco))
    assert st == 200 and body == b""
    d = a.wait(lambda m: m.get("PeersChangedPatch"))
    assert d["PeersChangedPatch"] == [{"NodeID": bid,
                                       "Endpoints": ["198.51.100.7:1"]}]
    assert tc.wait_node("beta", online=True)["endpoints"] == [
        "198.51.100.7:1"]
    # beta leaves: offline first (as Headscale: a patch), then removed when
    # deleted.
    b.close()
    d = a.wait(lambda m: m.get("PeersChangedPatch"))
    assert d["PeersChangedPatch"] == [{"NodeID": bid, "Online": False}]
    assert "OnlineChange" not in d
    assert a.peers[bid]["Online"] is False
    # The other style: OnlineChange + PeerSeenChange.
    tc.set_online_style("change")
    b = Joined(tc, "beta2")
    b2id = tc.node("beta2")["id"]
    a.wait(lambda m: a.peers.get(b2id, {}).get("Online") is True)
    b.close()
    d = a.wait(lambda m: m.get("OnlineChange"))
    assert d["OnlineChange"] == {str(b2id): False}
    assert d["PeerSeenChange"] == {str(b2id): True}
    tc.delete_node("beta2")
    a.wait(lambda m: m.get("PeersRemoved"))
    tc.delete_node("beta")
    d = a.wait(lambda m: m.get("PeersRemoved"))
    assert d["PeersRemoved"] == [bid] and a.peers == {}
    # Keep-alives arrive on their own.
    km = next(a.msgs)
    assert km == {"KeepAlive": True}


def test_policy_compilation(tc):
    tc.set_policy({
        "groups": {"group:ops": ["alice@"]},
        "tagOwners": {"tag:web": ["group:ops"]},
        "acls": [{"action": "accept", "src": ["group:ops"],
                  "dst": ["tag:web:80,443"], "proto": "tcp"}],
        "autoApprovers": {"routes": {"10.0.0.0/8": ["tag:web"]}}})
    a = Joined(tc, "admin", key=tc.preauth_key(user="alice"))
    w = Joined(tc, "web", key=tc.preauth_key(user="alice",
                                             tags=["tag:web"]),
               hostinfo_extra={"RoutableIPs": ["10.1.0.0/16"]})
    x = Joined(tc, "other", key=tc.preauth_key(user="carol"))
    mw = w.next()
    admin_ip = tc.node("admin")["ips"]
    web_ip = tc.node("web")["ips"]
    rule = mw["PacketFilter"][0]
    assert sorted(rule["SrcIPs"]) == sorted(admin_ip)
    assert rule["IPProto"] == [6]
    dsts = {(d["IP"], d["Ports"]["First"]) for d in rule["DstPorts"]}
    assert (web_ip[0], 80) in dsts and (web_ip[1], 443) in dsts
    assert (web_ip[0], 22) not in dsts
    # Route auto-approved: AllowedIPs and PrimaryRoutes carry it.
    assert "10.1.0.0/16" in mw["Node"]["AllowedIPs"]
    assert mw["Node"]["PrimaryRoutes"] == ["10.1.0.0/16"]
    assert mw["Node"]["Tags"] == ["tag:web"]
    # The admin node has no inbound rule; "other" sees no peer at all.
    ma = a.next()
    # Deny-all: PacketFilter is omitempty, so only PacketFilters says so.
    assert "PacketFilter" not in ma and ma["PacketFilters"] == {"base": []}
    a.apply(ma)
    wid = tc.node("web")["id"]
    a.wait(lambda m: wid in a.peers)
    assert [p["Name"] for p in a.peers.values()] == ["web.tailnet.test."]
    mx = x.next()
    assert mx.get("Peers", []) == []
    f = tc.filter_for("web")
    assert f["filter"] == mw["PacketFilter"]
    # Two ACLs with the same sources and protocol merge into one rule.
    pol2 = {"groups": {"group:ops": ["alice@"]},
            "tagOwners": {"tag:web": ["group:ops"]},
            "acls": [{"action": "accept", "src": ["group:ops"],
                      "dst": ["tag:web:80"]},
                     {"action": "accept", "src": ["group:ops"],
                      "dst": ["tag:web:22"]}]}
    tc.set_policy(pol2)
    d = w.wait(lambda m: "PacketFilter" in m)
    rule = d["PacketFilter"]
    assert len(rule) == 1 and "IPProto" not in rule[0]
    assert [p["Ports"]["First"] for p in d["PacketFilter"][0]["DstPorts"]] \
        == [80, 80, 22, 22]
    assert d["PacketFilters"] == {"base": d["PacketFilter"]}
    tc.set_policy(pol2 | {"autoApprovers": {
        "routes": {"10.0.0.0/8": ["tag:web"]}}})
    from tests.testcontrol.harness import AdminError
    for bad in ({"acls": [{"action": "drop", "src": ["*"], "dst": ["*:*"]}]},
                {"acls": [{"action": "accept", "src": ["group:none"],
                           "dst": ["*:*"]}]},
                {"acls": [{"action": "accept", "src": ["*"],
                           "dst": ["autogroup:internet:*"]}]},
                {"acls": [{"action": "accept", "src": ["*"],
                           "dst": ["*:99999"]}]},
                {"acls": [{"action": "accept", "src": ["*"], "dst": ["*"]}]},
                ["not", "an", "object"]):
        with pytest.raises(AdminError):
            tc.set_policy(bad)
    # The rejected policies left the working one in force.
    assert tc.filter_for("web")["filter"] == d["PacketFilter"]


@pytest.mark.parametrize("kind", ["bad_noise", "bad_zstd", "not_zstd",
                                  "bad_json",
                                  "oversized_frame", "oversized_noise",
                                  "drop"])
def test_fault_injection(tc, kind):
    a = Joined(tc, "victim")
    a.next()
    tc.fault(kind, node="victim")
    # A keep-alive already in flight may come first: read a few messages.
    expect = {"bad_noise": Exception, "oversized_noise": ValueError,
              "drop": (EOFError, ConnectionError),
              "bad_zstd": zstandard.ZstdError,
              "not_zstd": zstandard.ZstdError, "bad_json": ValueError}
    if kind in expect:
        with pytest.raises(expect[kind]) as ei:
            for _ in range(5):
                a.next(skip_keepalive=False)
        if kind == "oversized_noise":
            assert "bad record header" in str(ei.value)
        if kind == "bad_json":
            assert isinstance(ei.value, json.JSONDecodeError)
    else:
        # Walk the length prefixes until the bogus one shows up.
        body, pos, found = b"", 0, None
        deadline = time.monotonic() + 5
        while found is None and time.monotonic() < deadline:
            body = a.c.streams[a.sid]["body"]
            while len(body) - pos >= 4:
                n = struct.unpack("<I", body[pos:pos + 4])[0]
                if n == 0xFFFFFFF0:
                    found = pos
                    break
                if len(body) - pos - 4 < n:
                    break
                pos += 4 + n
            if found is None:
                a.c.pump(3)
        assert found is not None
    # The server keeps serving: a fresh node joins and gets its map.
    b = Joined(tc, "after")
    assert b.next()["Node"]["Name"] == "after.tailnet.test."


def test_handshake_faults(tc):
    pub = bytes.fromhex(tc.public_key()[5:])
    tc.fault("bad_handshake")
    c = Client(tc.addr, pub)
    assert c.connect()[0] == 101
    with pytest.raises(Exception):
        c.read_handshake()
    tc.fault("handshake_error")
    c = Client(tc.addr, pub)
    c.connect()
    with pytest.raises(RuntimeError, match="injected"):
        c.read_handshake()
    Client(tc.addr, pub).open()
    # A persistent fault stays until cleared.
    tc.fault("handshake_error", count=-1)
    for _ in range(3):
        c = Client(tc.addr, pub)
        c.connect()
        with pytest.raises(RuntimeError, match="injected"):
            c.read_handshake()
    tc.clear_faults()
    c = Client(tc.addr, pub).open()
    tc.fault("bad_register_json")
    st, body = c.call("/machine/register", {"Version": CAPVER,
                                            "NodeKey": node_key()})
    assert st == 200
    with pytest.raises(ValueError):
        json.loads(body)


def test_state_survives_restart(tc):
    a = Joined(tc, "keep")
    a.next()
    pub = tc.public_key()
    a.close()
    tc.restart()
    assert tc.public_key() == pub
    c = Client(tc.addr, bytes.fromhex(pub[5:]), machine=(a.c.msk, a.c.mpk))
    c.open()
    r = register(c, None, a.nk, "keep")
    assert r["MachineAuthorized"] and r["Error"] == ""


def test_tls(tmp_path):
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    import datetime
    import ssl
    k = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(k.public_key()).serial_number(1)
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.DNSName("localhost")]), critical=False)
            .sign(k, hashes.SHA256()))
    cp, kp = tmp_path / "c.pem", tmp_path / "k.pem"
    cp.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    kp.write_bytes(k.private_bytes(serialization.Encoding.PEM,
                                   serialization.PrivateFormat.PKCS8,
                                   serialization.NoEncryption()))
    t = TestControl(addr=f"127.0.0.1:{free_port()}", tls_cert=str(cp),
                    tls_key=str(kp))
    t.start()
    try:
        ctx = ssl.create_default_context(cafile=str(cp))
        host, port = t.addr.rsplit(":", 1)
        with socket.create_connection((host, int(port))) as raw:
            with ctx.wrap_socket(raw, server_hostname="localhost") as s:
                s.sendall(b"GET /key?v=145 HTTP/1.1\r\nHost: x\r\n\r\n")
                data = b""
                while b"publicKey" not in data:
                    data += s.recv(4096)
        assert b"200 OK" in data and t.public_key().encode() in data
        assert t.url.startswith("https://")
        # ts2021 over TLS: upgrade, Noise, HTTP/2, register.
        c = Client(t.addr, bytes.fromhex(t.public_key()[5:]), tls=ctx)
        c.open()
        r = register(c, t.preauth_key(user="tls"), node_key(), "tlsnode")
        assert r["MachineAuthorized"] and r["Login"]["LoginName"] == "tls"
    finally:
        t.cleanup()


def test_malformed_client_input(tc):
    pub = bytes.fromhex(tc.public_key()[5:])
    # Not HTTP at all.
    host, port = tc.addr.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=5) as s:
        s.sendall(b"\x16\x03\x01garbage\r\n\r\n")
        assert b"400" in s.recv(4096)
    with socket.create_connection((host, int(port)), timeout=5) as s:
        s.sendall(b"GET /key?v=145 HTTP/1.1\r\nX: " + b"a" * 70000 +
                  b"\r\n\r\n")
        assert b"400" in s.recv(4096)
    # Junk instead of Noise records after the handshake.  (Keep every
    # client open: closing one with unread data sends a RST.)
    c1 = Client(tc.addr, pub).open()
    c1.sock.sendall(b"\x04\xff\xff" + b"\0" * 100)
    # A valid record carrying junk instead of HTTP/2.
    c2 = Client(tc.addr, pub)
    c2.connect()
    c2.read_handshake()
    c2.send_plain(b"this is not an HTTP/2 preface at all\r\n\r\n")
    # A body over Headscale's 1 MiB Noise limit.
    c3 = Client(tc.addr, pub).open()
    sid = c3.request("/machine/register", {"Version": CAPVER,
                                           "Hostinfo": "x" * (1 << 20)})
    assert c3.wait_response(sid)[0] == 413
    # A map request with a malformed body and an unknown node key.
    c = Client(tc.addr, pub).open()
    assert c.call("/machine/map", "junk")[0] == 500
    assert c.call("/machine/map", map_req(node_key()))[0] == 404
    assert c.call("/machine/map", map_req("nodekey:zz"))[0] == 500
    deadline = time.monotonic() + 5
    want = {"noise_record_error": 1, "h2_protocol_error": 1, "bad_http": 2,
            "bad_map_json": 1, "map_refused": 1, "bad_map": 1,
            "body_too_large": 1}
    while time.monotonic() < deadline:
        counters = tc.counters()
        if all(counters.get(k) == v for k, v in want.items()):
            break
        time.sleep(0.05)
    assert {k: counters.get(k) for k in want} == want
    c1.sock.close()
    c2.sock.close()
    # Still serving.
    assert Joined(tc, "ok").next()["Node"]["Name"] == "ok.tailnet.test."


def test_routes_exit_node_and_expiry(tc):
    tc.set_policy({"acls": [{"action": "accept", "src": ["*"],
                             "dst": ["*:*"]}],
                   "autoApprovers": {"exitNode": ["alice@"]}})
    r = Joined(tc, "router", hostinfo_extra={
        "RoutableIPs": ["10.7.0.0/24", "0.0.0.0/0", "::/0"]})
    m = r.next()
    # Exit routes auto-approved (AllowedIPs, not PrimaryRoutes); the
    # subnet route waits for an admin.
    assert "0.0.0.0/0" in m["Node"]["AllowedIPs"]
    assert "::/0" in m["Node"]["AllowedIPs"]
    assert "10.7.0.0/24" not in m["Node"]["AllowedIPs"]
    assert "PrimaryRoutes" not in m["Node"]
    c = Joined(tc, "client")
    c.apply(c.next())
    rid = tc.node("router")["id"]
    tc.approve_routes("router", ["10.7.0.0/24", "0.0.0.0/0", "::/0"])
    c.wait(lambda m: "10.7.0.0/24" in c.peers[rid]["AllowedIPs"])
    assert c.peers[rid]["PrimaryRoutes"] == ["10.7.0.0/24"]
    # src "*" now carries the approved subnet route (Headscale).
    f = tc.filter_for("client")["filter"]
    assert "10.7.0.0/24" in f[0]["SrcIPs"]
    assert "100.64.0.0/10" not in f[0]["SrcIPs"]      # ChromeOS hole
    assert "fd7a:115c:a1e0::/48" in f[0]["SrcIPs"]
    # An admin expiry reaches the peers as an Expired node.
    tc.expire_node("router")
    c.wait(lambda m: c.peers[rid].get("Expired") is True)
    assert "MachineAuthorized" not in c.peers[rid]       # omitempty false


def test_in_netns(netns):
    import subprocess
    t = TestControl(addr="127.0.0.1:8080", ns=netns.name)
    t.start()
    try:
        key = t.preauth_key(user="alice", reusable=True)
        assert key.startswith("tskey-auth-")
        probe = ("import socket;s=socket.create_connection(('127.0.0.1',8080))"
                 ";s.sendall(b'GET /key?v=145 HTTP/1.1\\r\\nHost: x"
                 "\\r\\n\\r\\n');print(s.recv(4096).decode())")
        out = subprocess.run(["ip", "netns", "exec", netns.name,
                              sys.executable, "-c", probe],
                             capture_output=True, text=True,
                             check=True).stdout
        assert t.public_key() in out
        # Not on the host's loopback: it really runs in the namespace.
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", 8080), timeout=1)
    finally:
        t.cleanup()


def test_big_netmap(tc):
    t0 = time.monotonic()
    ids = tc.fake_nodes(10000)
    t_add = time.monotonic() - t0
    assert len(set(ids)) == 10000
    t0 = time.monotonic()
    a = Joined(tc, "big", timeout=120)      # generous: CI shares 2 cores
    m = a.next()
    t_map = time.monotonic() - t0
    assert len(m["Peers"]) == 10000
    ips = {p["Addresses"][0] for p in m["Peers"]}
    assert len(ips) == 10000 and m["Node"]["Addresses"][0] not in ips
    # One more node: a one-peer delta, not a new full map.
    b = Joined(tc, "one-more", timeout=120)
    d = a.wait(lambda m: m.get("PeersChanged"))
    assert "Peers" not in d and len(d["PeersChanged"]) == 1
    sys.stderr.write(f"10k fake nodes added in {t_add:.2f}s, "
                     f"full map delivered in {t_map:.2f}s\n")
    b.close()


def test_example_policy_file():
    pfile = os.path.join(REPO, "tests", "testcontrol", "example-policy.json")
    t = TestControl(addr=f"127.0.0.1:{free_port()}",
                    extra_args=["--policy", pfile])
    t.start()
    try:
        srv = Joined(t, "srv", key=t.preauth_key(user="bob",
                                                 tags=["tag:server"]))
        bob = Joined(t, "bobpc", key=t.preauth_key(user="bob"))
        ms = srv.next()
        srv.apply(ms)
        bid = t.node("bobpc")["id"]
        srv.wait(lambda m: bid in srv.peers)
        rules = t.filter_for("srv")["filter"]
        bob_ips = t.node("bobpc")["ips"]
        member = [r for r in rules if sorted(r["SrcIPs"]) == sorted(bob_ips)]
        assert member and sorted({p["Ports"]["First"] for p in
                                  member[0]["DstPorts"]}) == [22, 80, 443]
        # bobpc: nothing may reach it (bob is no admin), but it sees srv.
        mb = bob.next()
        assert "PacketFilter" not in mb
        assert [p["Name"] for p in mb["Peers"]] == ["srv.tailnet.test."]
    finally:
        t.cleanup()


def test_dns_derp_and_tags_config(tmp_path):
    t = TestControl(addr=f"127.0.0.1:{free_port()}", base_domain="ts.example",
                    extra_args=["--derp", "7:127.0.0.1:3345",
                                "--ephemeral-timeout", "1"])
    t.start()
    try:
        t.set_policy({"tagOwners": {"tag:srv": ["alice@"]},
                      "acls": [{"action": "accept", "src": ["*"],
                                "dst": ["*:*"]}]})
        a = Joined(t, "d1", hostinfo_extra={
            "RequestTags": ["tag:srv", "tag:nope"]})
        m = a.next()
        assert m["Node"]["Name"] == "d1.ts.example."
        assert m["Node"]["Tags"] == ["tag:srv"]
        assert m["Node"]["User"] == 2147455555      # tagged-devices
        assert m["DERPMap"]["Regions"]["7"]["Nodes"][0]["DERPPort"] == 3345
        assert m["DNSConfig"] == {"Proxied": True, "Domains": ["ts.example"]}
        t.set_dns({"magic_dns": True, "nameservers": ["192.0.2.53"],
                   "split": {"corp.example": ["192.0.2.54"]},
                   "search_domains": ["corp.example"],
                   "extra_records": [{"name": "db.ts.example", "type": "A",
                                      "value": "100.64.0.9"}]})
        d = a.wait(lambda m: "DNSConfig" in m)
        assert d["DNSConfig"] == {
            "Proxied": True, "Resolvers": [{"Addr": "192.0.2.53"}],
            "Routes": {"corp.example": [{"Addr": "192.0.2.54"}]},
            "Domains": ["ts.example", "corp.example"],
            "ExtraRecords": [{"Name": "db.ts.example", "Type": "A",
                              "Value": "100.64.0.9"}]}
        # Ephemeral node: gone after its stream ends and the timeout runs.
        e = Joined(t, "eph", key=t.preauth_key(user="alice", ephemeral=True))
        e.next()
        assert t.node("eph")["ephemeral"]
        e.close()
        deadline = time.monotonic() + 10
        while t.node("eph") is not None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert t.node("eph") is None
        # Ephemeral logout deletes at once.
        e2 = Joined(t, "eph2", key=t.preauth_key(user="alice",
                                                 ephemeral=True))
        r = register(e2.c, None, e2.nk, "eph2",
                     Expiry="1970-01-01T00:02:03Z")
        assert r["NodeKeyExpired"] and t.node("eph2") is None
    finally:
        t.cleanup()


def test_uncompressed_stream(tc):
    a = Joined(tc, "plain", Compress="")
    m = a.next()
    assert m["Node"]["Name"] == "plain.tailnet.test."
    # The frame really is raw JSON after the little-endian length.
    raw = a.c.streams[a.sid]["body"]
    n = struct.unpack("<I", raw[:4])[0]
    assert raw[4:5] == b"{" and json.loads(raw[4:4 + n]) == m


def test_deleted_node_stream_ends(tc):
    a = Joined(tc, "gone")
    a.next()
    tc.delete_node("gone")
    with pytest.raises(EOFError, match="map stream ended"):
        for _ in range(5):
            a.next()
    # Same Noise connection still serves; the node key is now unknown.
    assert a.c.call("/machine/map", map_req(a.nk))[0] == 404
    r = register(a.c, None, a.nk, "gone")
    assert r["AuthURL"] and not r["MachineAuthorized"]


def test_fan_out_to_many_sessions(tc):
    nodes = [Joined(tc, f"n{i}") for i in range(8)]
    for j in nodes:
        j.wait(lambda m: len(j.peers) == 7 and all(
            p.get("Online") for p in j.peers.values()), limit=60)
    # One leaves: every other session hears of it.
    gone = tc.node("n3")["id"]
    nodes[3].close()
    tc.delete_node("n3")
    for i, j in enumerate(nodes):
        if i != 3:
            j.wait(lambda m: gone not in j.peers, limit=60)
    assert len(tc.info()["online"]) == 7
