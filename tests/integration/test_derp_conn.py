"""netd's DERP connection protocol (netd/derp_conn.c) against the
independent Python relay tests/testderp, over plain TCP on loopback in a
namespace: the HTTP upgrade, login, packets between two clients, pings
answered, odd frames skipped and counted, a hostile server's garbage
ending the connection with the failure counted.

Driven by tests/unit/derpc_probe (a poll loop around the same code netd
uses); TLS and the tunnel-bypassing socket are netd's part, not this.
"""
import os
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))
import pmtest  # noqa: E402
from tests.testderp import TestDerp, certs  # noqa: E402

PROBE = os.path.join(pmtest.BUILD, "tests", "unit", "derpc_probe")


def probe(ns, *args):
    return subprocess.Popen(["ip", "netns", "exec", ns.name, PROBE, *args],
                            stdout=subprocess.PIPE, text=True)


def readline(p):
    line = p.stdout.readline()
    assert line, "probe exited"
    return line.rstrip("\n")


@pytest.fixture
def derp(netns):
    d = TestDerp(ns=netns.name, addr=["127.0.0.1", "::1"], http_port=0,
                 tls_port=None, stun_port=None).start()
    yield d
    d.stop()


def counters(line):
    f = line.split()
    assert f[0] == "counters", line
    return dict(zip(f[1::2], map(int, f[2::2])))


@pytest.mark.parametrize("ip", ["127.0.0.1", "::1"])
def test_two_clients_exchange_packets(netns, derp, ip):
    p = probe(netns, "pair", ip, str(derp.http_port), "2000")
    out, _ = p.communicate(timeout=60)
    lines = out.splitlines()
    assert lines[0] == "ready", out
    assert lines[1] == "ok 2000 bad 0", out
    c = counters(lines[2])
    assert c["tx"] == 2000 and c["dropped"] == 0 and c["failed"] == 0


def test_ping_answered_odd_frames_skipped_restarting(netns, derp):
    derp.inject_fault("unknown_frame")
    p = probe(netns, "one", "127.0.0.1", str(derp.http_port))
    try:
        tag, key = readline(p).split()
        assert tag == "ready"
        key = bytes.fromhex(key)
        assert readline(p) == "skipped 1"
        derp.send_frame(key, 0x08, bytes(10))     # PeerGone, too short
        assert readline(p) == "skipped 2"
        derp.send_ping(key, b"8 bytes!")
        assert readline(p) == "pings 1"
        pmtest.wait_for(lambda: derp.pongs() == [(key.hex(), b"8 bytes!")],
                        10, "pong at the relay")
        derp.send_restarting(key, 1500, 30000)
        assert readline(p) == "restarting 1500 30000"
        derp.close_client(key)
        assert readline(p) == "eof"
        c = counters(readline(p))
        assert c["skipped"] == 2 and c["failed"] == 0 and c["pings"] == 1
    finally:
        if p.poll() is None:
            p.kill()
        p.wait()


@pytest.mark.parametrize("fault,why", [
    ("http_error", "HTTP status 500, not 101"),
    ("wrong_magic", "bad ServerKey"),
    ("truncated_server_key", "bad ServerKey"),
    ("server_key_wrong_type", "bad ServerKey"),
    ("bad_server_info", "bad ServerInfo"),
    ("server_info_bad_json", "bad ServerInfo"),
    ("oversized_frame", "frame too large")])
def test_hostile_server_fails_the_connection(netns, derp, fault, why):
    derp.inject_fault(fault)
    p = probe(netns, "one", "127.0.0.1", str(derp.http_port))
    out, _ = p.communicate(timeout=20)
    lines = out.splitlines()
    assert "failed " + why in lines, out
    assert counters(lines[-1])["failed"] == 1, out


def test_garbage_after_login_ends_the_connection(netns, derp):
    """4 KiB of random bytes after ServerInfo: a frame header with a length
    past 1 MiB fails the connection (counted); in the rare case the first
    five bytes give a small length, the server's hang-up ends it."""
    derp.inject_fault("garbage")
    p = probe(netns, "one", "127.0.0.1", str(derp.http_port))
    out, _ = p.communicate(timeout=20)
    lines = out.splitlines()
    # (the garbage often arrives in the same read as ServerInfo, before
    # the probe could say "ready")
    assert lines[-2] in ("failed frame too large", "eof"), out
    c = counters(lines[-1])
    assert c["failed"] == (1 if lines[-2].startswith("failed") else 0)
    assert c["rx"] == 0


# ---- TLS (netd/derp_tls.c) ---------------------------------------------

@pytest.fixture
def tls_derp(netns, tmp_path):
    d = TestDerp(ns=netns.name, addr=["127.0.0.1", "::1"], http_port=None,
                 tls_port=0, stun_port=None).start()
    ca = tmp_path / "derp-ca.pem"
    ca.write_text(d.cert_pem if isinstance(d.cert_pem, str)
                  else d.cert_pem.decode())
    yield d, str(ca)
    d.stop()


def tls_probe(netns, d, host, cert, insecure, ca, *args):
    p = probe(netns, "--tls", host, cert, "1" if insecure else "0", ca,
              *args)
    out, _ = p.communicate(timeout=60)
    return out.splitlines()


def pin(d):
    return "sha256-raw:" + certs.leaf_sha256(d.cert_pem)


@pytest.mark.parametrize("mode", ["insecure", "pinned", "ca"])
def test_tls_pair_exchanges_packets(netns, tls_derp, mode):
    d, ca = tls_derp
    cert = {"insecure": "-", "pinned": pin(d), "ca": "-"}[mode]
    lines = tls_probe(netns, d, "derp.test", cert, mode == "insecure",
                      ca if mode == "ca" else "-", "pair", "127.0.0.1",
                      str(d.tls_port), "500")
    assert lines[:2] == ["ready", "ok 500 bad 0"], lines


@pytest.mark.parametrize("host,cert,ca,why", [
    # A pin that is not the leaf's hash.
    ("derp.test", "sha256-raw:" + "00" * 32, "-",
     "failed TLS cert hash does not match expected cert hash"),
    # The right pin, but the certificate is not for that name.
    ("other.test", None, "-",
     "failed TLS cert does not match server name"),
    # Verification without the CA: the self-signed cert is refused.
    ("derp.test", "-", "-", "failed TLS certificate: "),
    # With the CA, for a name the certificate does not carry.
    ("other.test", "-", "ca", "failed TLS certificate: "),
])
def test_tls_refuses_what_it_cannot_trust(netns, tls_derp, host, cert, ca,
                                          why):
    d, ca_path = tls_derp
    lines = tls_probe(netns, d, host, pin(d) if cert is None else cert,
                      False, ca_path if ca == "ca" else "-", "one",
                      "127.0.0.1", str(d.tls_port))
    assert any(ln.startswith(why) for ln in lines), lines
    assert not any(ln.startswith("ready") for ln in lines), lines


# ---- netd's client on the loop (netd/derp_client.c) ----------------------

def read_until(p, pred, limit=20):
    seen = []
    for _ in range(limit):
        line = readline(p)
        seen.append(line)
        if pred(line):
            return seen
    raise AssertionError("not seen: %r" % seen)


def test_loop_client_relays_reconnects_and_counts_garbage(netns, tls_derp):
    d, _ = tls_derp
    p = probe(netns, "--tls", "derp.test", pin(d), "0", "-", "loop",
              "127.0.0.1", str(d.tls_port))
    try:
        tag, n, key = readline(p).split()
        assert (tag, n) == ("login", "1")
        key = bytes.fromhex(key)
        # A packet from another key: the probe echoes it back to it.
        src = bytes(range(32))
        d.send_frame(key, 0x05, src + b"echo me")
        pmtest.wait_for(lambda: any(
            f["type"] == 0x04 and f["src"] == key.hex() and
            f["payload"] == src + b"echo me" for f in d.received()),
            10, "the echo at the relay")
        # The server drops us: reconnect and log in again.
        d.close_client(key)
        assert readline(p) == "drop closed by the server errors 0"
        assert readline(p) == "login 2 " + key.hex()
        # The next connection gets a 2 MiB frame header after the login
        # (garbage with a deterministic outcome): the client counts it as
        # a server error and connects again.
        d.inject_fault("oversized_frame")
        d.close_client(key)
        assert readline(p) == "drop closed by the server errors 0"
        seen = read_until(p, lambda ln: ln.startswith("drop "))
        assert seen[-1] == "drop frame too large errors 1", seen
        read_until(p, lambda ln: ln.startswith("login "))
        assert d.connected(key)
    finally:
        if p.poll() is None:
            p.kill()
        p.wait()
