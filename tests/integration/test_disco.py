"""Disco path selection: DERP first, upgrade to direct, fall back to DERP.

Topology (documentation addresses, all inside namespaces):

    netns ctl:  br0 192.0.2.1/24; testcontrol :8080; testderp TLS
        |-- netns a: 192.0.2.11
        `-- netns b: 192.0.2.12

Both nodes start with UDP between them dropped (nftables in a and b):
they talk through DERP (`privmesh ping` says via DERP(test), status says
relay).  With the block removed, disco pings get pongs and the pair goes
direct within seconds.  With the block back in the middle of a TCP
transfer over the tunnel, heartbeats stop getting pongs, trust runs out
and traffic moves to DERP; the stream arrives intact.  A fake peer's
disco garbage (unknown sender key, a box that does not open) is counted
and ignored.
"""
import os
import subprocess
import sys
import threading
import time

import pytest

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))
from bridgelab import BridgeLab, drop_udp_between, node_key  # noqa: E402
from pmtest import call_failed, wait_for  # noqa: E402

NAMES = ("a", "b")
PING_RE_DERP = "via DERP(test) in "


def block(nodes):
    a, b = nodes
    drop_udp_between(a.ns, b.underlay)
    drop_udp_between(b.ns, a.underlay)


def unblock(nodes):
    for n in nodes:
        n.ns.run("nft", "delete", "table", "inet", "pmtest_block")


@pytest.fixture
def disco_net(request):
    lab = BridgeLab(NAMES, "pmds")
    try:
        lab.start()
        block(lab.nodes)
        lab.up()
        yield lab.ctl, lab.tc, lab.derp, lab.nodes
    finally:
        bad = lab.close(call_failed(request))
        assert not bad, "\n".join(bad)


def privmesh_ping(node, target, *args):
    return node.suite.cli("ping", *args, target, check=False)


def disco(node):
    return node.suite.status()["wireguard"]["disco"]


SENDER = r"""
import hashlib, socket, sys, time
c = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=60)
h = hashlib.sha256(); n = 0; end = time.time() + float(sys.argv[3])
while time.time() < end:
    b = hashlib.sha256(str(n).encode()).digest() * 512   # 16 KiB
    c.sendall(b); h.update(b); n += 1
    time.sleep(0.01)
c.close()
print(n * 16384, h.hexdigest(), flush=True)
"""

RECEIVER = r"""
import hashlib, socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2]))); s.listen(1)
print("listening", flush=True)
c, _ = s.accept(); c.settimeout(90); h = hashlib.sha256(); n = 0
while True:
    b = c.recv(65536)
    if not b: break
    h.update(b); n += len(b)
print(n, h.hexdigest(), flush=True)
"""


def test_derp_then_direct_then_fallback(disco_net):
    ctl, tc, d, (a, b) = disco_net
    ka, kb = node_key(tc, a), node_key(tc, b)
    wait_for(lambda: d.connected(ka) and d.connected(kb), 20,
             "a and b at the relay")
    ipb = str(b.addr(4))

    # UDP blocked: pongs only through DERP.
    wait_for(lambda: a.ping(ipb), 30, "a pings b over DERP")
    r = privmesh_ping(a, b.hostname, "-c", "2")
    assert r.returncode == 1, r.stdout + r.stderr
    assert f"pong from {b.hostname} ({ipb}) {PING_RE_DERP}" in r.stdout, \
        r.stdout
    assert "direct connection not established" in r.stderr
    assert a.path_to(b) == 'relay "test"', a.backend()["peers"]
    assert disco(a)["tx_call_me_maybe"] > 0
    assert disco(b)["rx_call_me_maybe"] > 0

    # Block removed: direct within ~10 s.
    unblock((a, b))
    t0 = time.time()
    r = privmesh_ping(a, ipb, "-c", "10")
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.splitlines()[-1].startswith(
        f"pong from {b.hostname} ({ipb}) via 192.0.2.12:41641 in "), r.stdout
    assert time.time() - t0 < 10
    a.ping(ipb)
    wait_for(lambda: a.path_to(b) == "direct 192.0.2.12:41641", 10,
             "a's status: direct")
    wait_for(lambda: b.ping(str(a.addr(4))) and
             b.path_to(a) == "direct 192.0.2.11:41641", 10,
             "b's status: direct")
    derp_before = disco(a)["path_derp"]

    # Block again in the middle of a TCP stream: it moves to DERP and
    # survives.
    rx = subprocess.Popen(["ip", "netns", "exec", b.ns.name,
                           "/usr/bin/python3", "-c", RECEIVER, ipb, "5202"],
                          stdout=subprocess.PIPE, text=True)
    assert rx.stdout.readline().strip() == "listening"
    out = {}

    def send():
        out["tx"] = subprocess.run(
            ["ip", "netns", "exec", a.ns.name, "/usr/bin/python3", "-c",
             SENDER, ipb, "5202", "20"], capture_output=True, text=True,
            timeout=120)

    th = threading.Thread(target=send)
    th.start()
    try:
        time.sleep(4)
        assert a.path_to(b) == "direct 192.0.2.12:41641"
        block((a, b))
        wait_for(lambda: a.path_to(b) == 'relay "test"', 15,
                 "a falls back to DERP")
        th.join(timeout=150)
        tx = out["tx"]
        assert tx.returncode == 0, tx.stderr
        got, _ = rx.communicate(timeout=60)
    finally:
        th.join(timeout=150)
        rx.kill()
        rx.wait()
    assert got.split() == tx.stdout.split(), (got, tx.stdout)
    assert int(got.split()[0]) > 0
    assert disco(a)["path_derp"] > derp_before
    assert disco(a)["ping_timeouts"] > 0
    r = privmesh_ping(a, b.hostname, "-c", "1")
    assert PING_RE_DERP in r.stdout, r.stdout


FAKE = r"""
import os, socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
dst = (sys.argv[1], 41641)
known = bytes.fromhex(sys.argv[2])
magic = b"TS\xf0\x9f\x92\xac"
for _ in range(20):         # a sender no peer has as its disco key
    s.sendto(magic + os.urandom(32) + os.urandom(24) + os.urandom(40), dst)
for _ in range(20):         # a peer's disco key, a box that does not open
    s.sendto(magic + known + os.urandom(24) + os.urandom(40), dst)
for _ in range(5):          # too short to be anything: counted as bad
    s.sendto(magic + os.urandom(10), dst)
print("sent")
"""


def test_fake_peer_disco_garbage_counted(disco_net):
    ctl, tc, d, (a, b) = disco_net
    unblock((a, b))
    wait_for(lambda: a.ping(str(b.addr(4))), 30, "a pings b")
    before = disco(a)
    rx_bad = a.suite.status()["wireguard"]["counters"]["rx_bad"]
    bdisco = tc.node(b.hostname)["disco_key"].split(":", 1)[1]
    out = ctl.run("/usr/bin/python3", "-c", FAKE, a.underlay, bdisco)
    assert out.stdout.strip() == "sent"
    wait_for(lambda: disco(a)["rx_unknown_key"] - before["rx_unknown_key"]
             >= 20 and disco(a)["rx_bad_box"] - before["rx_bad_box"] >= 20,
             10, "disco garbage counted")
    wait_for(lambda: a.suite.status()["wireguard"]["counters"]["rx_bad"]
             - rx_bad >= 5, 10, "short garbage counted")
    # The real peer is unaffected.
    assert a.ping(str(b.addr(4)))
    r = privmesh_ping(a, b.hostname, "-c", "3")
    assert r.returncode == 0 and "via 192.0.2.12:41641" in r.stdout, \
        r.stdout + r.stderr
    assert a.suite.procs()["netd"]["restarts"] == 0


def test_ping_timeouts_and_unknown_node(disco_net):
    ctl, tc, d, (a, b) = disco_net
    ipb = str(b.addr(4))
    r = privmesh_ping(a, "no-such-node", "-c", "1")
    assert r.returncode == 1 and "no such peer: no-such-node" in r.stderr, \
        r.stdout + r.stderr
    r = privmesh_ping(a, ipb, "-c", "1", "--timeout", "bogus")
    assert r.returncode == 2 and "bad --timeout" in r.stderr
    # b gone from the network: neither UDP nor DERP answers.
    b.ns.run("ip", "link", "set", "eth0", "down")
    t0 = time.time()
    r = privmesh_ping(a, b.hostname, "-c", "2", "--timeout", "1s")
    took = time.time() - t0
    assert r.returncode == 1, r.stdout + r.stderr
    assert r.stdout.splitlines() == [f'ping "{ipb}" timed out'] * 2, r.stdout
    assert "no reply" in r.stderr
    assert 1.5 < took < 6, took
