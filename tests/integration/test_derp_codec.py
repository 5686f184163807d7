"""netd's wire codecs (netd/stun.c, netd/derp_frame.c) against the
independent Python DERP/STUN server in tests/testderp.

build/tests/unit/codec_probe is a client made only of those codecs: it
logs in over plain HTTP (ServerKey, sealed ClientInfo, ServerInfo,
NotePreferred), sends a packet to itself, pings, then prints every frame
the server sends.  Its reads are 7 bytes at a time, so the incremental
frame reader sees frames split everywhere.  Everything runs on loopback in
a fresh network namespace.
"""
import os
import subprocess
import sys

import nacl.public
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)
import pmtest  # noqa: E402
from tests.testderp import TestDerp  # noqa: E402

PROBE = os.path.join(pmtest.BUILD, "tests", "unit", "codec_probe")


def probe(ns, *args, **kw):
    return subprocess.Popen(["ip", "netns", "exec", ns.name, PROBE, *args],
                            stdout=subprocess.PIPE, text=True, **kw)


@pytest.fixture
def derp(netns):
    d = TestDerp(ns=netns.name, addr=["127.0.0.1", "::1"], http_port=0,
                 tls_port=None, stun_port=0).start()
    yield d
    d.stop()


@pytest.mark.parametrize("ip", ["127.0.0.1", "::1"])
def test_stun_binding(netns, derp, ip):
    p = probe(netns, "stun", ip, str(derp.stun_port))
    out, _ = p.communicate(timeout=10)
    assert p.returncode == 0, out
    lines = dict(line.split(" ", 1) for line in out.splitlines())
    mapped, local = lines["mapped"].split(" local ")
    # No NAT on loopback: the server saw our own address and port.
    assert mapped == local
    # The server accepted the request as Tailscale's (SOFTWARE, FINGERPRINT).
    txids = [r[2] for r in derp.stun_requests()]
    assert bytes.fromhex(lines["txid"]) in [bytes(t) for t in txids]
    assert derp.counter("stun_success") == 1


@pytest.mark.parametrize("fault", ["wrong_txid", "bad_attr_len", "bad_family",
                                   "truncated", "error_response"])
def test_stun_bad_answers_rejected(netns, derp, fault):
    derp.inject_stun_fault(fault)
    p = probe(netns, "stun", "127.0.0.1", str(derp.stun_port))
    out, _ = p.communicate(timeout=10)
    assert p.returncode == 1 and out.startswith("error "), out


@pytest.mark.parametrize("fault", ["mapped_only", "xor_alt"])
def test_stun_fallback_attributes(netns, derp, fault):
    derp.inject_stun_fault(fault)
    p = probe(netns, "stun", "127.0.0.1", str(derp.stun_port))
    out, _ = p.communicate(timeout=10)
    assert p.returncode == 0, out
    mapped, local = out.splitlines()[1].split(" ", 1)[1].split(" local ")
    assert mapped == local


def readline(p):
    line = p.stdout.readline()
    assert line, "probe exited"
    return line.rstrip("\n")


DISCO_MAGIC = b"TS\xf0\x9f\x92\xac"


def test_derp_frames(netns, derp):
    peer = nacl.public.PrivateKey.generate()     # a disco peer, in Python
    peer_pub = bytes(peer.public_key)
    p = probe(netns, "derp", "127.0.0.1", str(derp.http_port), peer_pub.hex())
    try:
        assert readline(p) == "server_key " + derp.public_key.hex()
        assert readline(p) == "server_info version 2"
        assert readline(p) == "self_packet ok"
        assert readline(p) == "pong ok"
        tag, disco_pub = readline(p).split()
        assert tag == "disco_key"
        disco_pub = bytes.fromhex(disco_pub)
        tag, txid = readline(p).split()
        assert tag == "disco_ping"
        txid = bytes.fromhex(txid)
        tag, key = readline(p).split()
        assert tag == "ready"
        key = bytes.fromhex(key)
        # The relay has no client with that key; the packet looked like
        # disco to it, so it says "not here".
        assert readline(p) == "peer_gone 1"
        c = derp.counters()
        # The server opened our sealed ClientInfo and saw the home flag.
        assert c.get("handshake_errors", 0) == 0
        assert c["preferred"] == {key.hex(): True}
        assert c["got_ping"] == 1
        assert c["packets_received_disco"] == 1

        # Our disco Ping, opened by PyNaCl: Go's layout with our node key.
        sent = [f for f in derp.received() if f["type"] == 0x04 and
                f["payload"][:32] == peer_pub]
        assert len(sent) == 1
        pkt = sent[0]["payload"][32:]
        assert pkt[:6] == DISCO_MAGIC and pkt[6:38] == disco_pub
        inner = nacl.public.Box(peer, nacl.public.PublicKey(disco_pub)).decrypt(
            pkt[62:], pkt[38:62])
        assert inner == b"\x01\x00" + txid + key

        # A Pong sealed by PyNaCl reaches us as a RecvPacket and opens.
        pong = (b"\x02\x00" + txid + bytes(10) + b"\xff\xff" +
                bytes([192, 0, 2, 1]) + (41641).to_bytes(2, "big"))
        boxed = nacl.public.Box(peer, nacl.public.PublicKey(disco_pub)).encrypt(pong)
        derp.send_frame(key, 0x05, peer_pub + DISCO_MAGIC + peer_pub + bytes(boxed))
        assert readline(p) == f"disco pong {txid.hex()} 192.0.2.1:41641"

        derp.send_health(key, "duplicate\nconnection")
        assert readline(p) == 'health "duplicate?connection"'
        derp.send_keepalive(key)
        assert readline(p) == "keepalive"
        derp.send_ping(key, b"8 bytes!")
        assert readline(p) == "ping " + b"8 bytes!".hex()
        derp.send_frame(key, 0x7e, b"future")
        assert readline(p) == "frame unknown 0x7e len 6"
        derp.send_frame(key, 0x08, key + b"\x01")
        assert readline(p) == "peer_gone 1"
        derp.send_restarting(key, 1500, 30000)
        assert readline(p) == "restarting 1500 30000"
        assert p.wait(timeout=10) == 0
        assert derp.pongs() == [(key.hex(), b"8 bytes!")]
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def test_derp_oversized_frame(netns, derp):
    derp.inject_fault("oversized_frame")
    p = probe(netns, "derp-listen", "127.0.0.1", str(derp.http_port))
    out, _ = p.communicate(timeout=10)
    # A 2 MiB frame header right after the login: the reader refuses it.
    assert out.splitlines()[-1] == "error frame too large", out


@pytest.mark.parametrize("fault,error", [
    ("wrong_magic", "server key"), ("truncated_server_key", "server key"),
    ("server_key_wrong_type", "server key"), ("bad_server_info", "server info"),
    ("server_info_bad_json", "server info"),
    ("close_mid_server_key", "connection closed"),
    ("close_mid_frame", "connection closed")])
def test_derp_bad_server(netns, derp, fault, error):
    derp.inject_fault(fault)
    p = probe(netns, "derp-listen", "127.0.0.1", str(derp.http_port))
    out, _ = p.communicate(timeout=10)
    assert out.splitlines()[-1] == "error " + error, out


@pytest.mark.parametrize("fault,line", [("short_peer_gone", "bad PeerGone"),
                                        ("short_recv_packet", "bad RecvPacket"),
                                        ("unknown_frame", "frame unknown 0x7e len 17")])
def test_derp_odd_frames_skipped(netns, derp, fault, line):
    """Short or unknown frames are reported and skipped; the stream goes on."""
    derp.inject_fault(fault)
    p = probe(netns, "derp-listen", "127.0.0.1", str(derp.http_port))
    try:
        assert readline(p).startswith("server_key ")
        assert readline(p) == "server_info version 2"
        tag, key = readline(p).split()
        assert tag == "ready"
        assert readline(p) == line
        derp.send_restarting(bytes.fromhex(key), 1, 2)
        assert readline(p) == "restarting 1 2"
        assert p.wait(timeout=10) == 0
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
