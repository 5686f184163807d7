"""Two nodes that cannot reach each other over UDP talk through DERP.

Topology (documentation addresses, all inside namespaces):

    netns ctl:  br0 192.0.2.1/24; testcontrol :8080; testderp TLS (its
                self-signed certificate pinned with CertName sha256-raw)
        |-- netns a: 192.0.2.11    nftables: UDP to/from b dropped
        |-- netns b: 192.0.2.12    nftables: UDP to/from a dropped
        `-- netns c: 192.0.2.13    no filter

a and b each report their direct endpoint, but no disco ping between
them gets a pong: they stay on the peer's home DERP region
(NetInfo.PreferredDERP, which ctrld reports from the DERP map), where
every peer with a disco key starts.  a-c and b-c go direct (test_disco.py
covers the upgrade and the fallback).
"""
import hashlib
import os
import re
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))
from bridgelab import BridgeLab, drop_udp_between, node_key  # noqa: E402
from bridgelab import udp_dropped  # noqa: E402
from pmtest import call_failed, wait_for  # noqa: E402

NAMES = ("a", "b", "c")


@pytest.fixture
def derp_net(request):
    lab = BridgeLab(NAMES, "pmdp")
    try:
        lab.start()
        a, b, _ = lab.nodes
        drop_udp_between(a.ns, b.underlay)
        drop_udp_between(b.ns, a.underlay)
        lab.up()
        yield lab.tc, lab.derp, lab.nodes
    finally:
        bad = lab.close(call_failed(request))
        assert not bad, "\n".join(bad)


def transfer(src, dst, size=10 << 20):
    """size random bytes from src to dst over TCP on dst's tailnet IPv4;
    returns (sent sha256, received sha256)."""
    data = os.urandom(size)
    port = 5201
    rx = subprocess.Popen(
        ["ip", "netns", "exec", dst.ns.name, "/usr/bin/python3", "-c",
         "import socket,hashlib,sys\n"
         "s=socket.socket(socket.AF_INET6 if ':' in sys.argv[1] else "
         "socket.AF_INET)\n"
         "s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\n"
         "s.bind((sys.argv[1],int(sys.argv[2])));s.listen(1)\n"
         "print('listening',flush=True)\n"
         "c,_=s.accept();h=hashlib.sha256();n=0\n"
         "while True:\n"
         " b=c.recv(65536)\n"
         " if not b: break\n"
         " h.update(b);n+=len(b)\n"
         "print(n,h.hexdigest(),flush=True)\n",
         str(dst.addr(4)), str(port)],
        stdout=subprocess.PIPE, text=True)
    assert rx.stdout.readline().strip() == "listening"
    tx = subprocess.run(
        ["ip", "netns", "exec", src.ns.name, "/usr/bin/python3", "-c",
         "import socket,sys\n"
         "c=socket.create_connection((sys.argv[1],int(sys.argv[2])),"
         "timeout=60)\n"
         "c.sendall(sys.stdin.buffer.read());c.close()\n",
         str(dst.addr(4)), str(port)], input=data, timeout=120)
    assert tx.returncode == 0
    out, _ = rx.communicate(timeout=60)
    n, digest = out.split()
    return (size, hashlib.sha256(data).hexdigest()), (int(n), digest)


def test_udp_blocked_pair_talks_through_derp(derp_net):
    tc, d, (a, b, c) = derp_net
    ka, kb = node_key(tc, a), node_key(tc, b)
    wait_for(lambda: d.connected(ka) and d.connected(kb), 20,
             "a and b at the relay")
    # IPv4 and IPv6 inside the tunnel, both ways, over DERP.
    for src, dst in ((a, b), (b, a)):
        for v in (4, 6):
            wait_for(lambda src=src, dst=dst, v=v: src.ping(dst.addr(v)),
                     30, f"{src.hostname} pings {dst.hostname} v{v}")
    assert a.path_to(b) == 'relay "test"', a.backend()["peers"]
    assert b.path_to(a) == 'relay "test"', b.backend()["peers"]
    assert udp_dropped(a.ns) > 0      # the direct path was tried
    # The relay carried WireGuard between the two node keys.
    assert any(f["type"] == 0x04 and f["src"] == ka.hex() and
               f["payload"][:32] == kb for f in d.received())

    # A pair with working UDP still goes direct.
    for v in (4, 6):
        wait_for(lambda v=v: a.ping(c.addr(v)), 15, f"a pings c v{v}")
    assert a.path_to(c) == "direct 192.0.2.13:41641", a.backend()["peers"]

    # 10 MB over the relayed tunnel, intact.
    sent, got = transfer(a, b)
    assert got == sent


def test_relay_garbage_counted_and_tunnel_recovers(derp_net):
    tc, d, (a, b, c) = derp_net
    ka = node_key(tc, a)
    wait_for(lambda: a.ping(b.addr(4)), 30, "a pings b over DERP")
    d.inject_fault("garbage")
    d.close_client(ka)
    wait_for(lambda: re.search(r"DERP: region 900: connection lost: "
                               r"(frame too large|closed by the server) "
                               r"\(server errors 1\)", a.suite.logs())
             or re.search(r"DERP: region 900: logged in \(3 logins\)",
                          a.suite.logs()), 15, "garbage handled")
    wait_for(lambda: d.connected(ka), 15, "a back at the relay")
    wait_for(lambda: a.ping(b.addr(4)) and a.ping(b.addr(6)), 30,
             "a pings b again")
    netd = [p for p in a.suite.status()["processes"]
            if p["name"] == "netd"][0]
    assert netd["restarts"] == 0
