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
import ipaddress
import os
import re
import subprocess
import sys
import time

import pytest

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))
from pmtest import Netns, Suite, sh, wait_for  # noqa: E402
from tests.testcontrol.harness import TestControl  # noqa: E402
from tests.testderp import TestDerp, certs  # noqa: E402

NAMES = ("a", "b", "c")


class Node:
    def __init__(self, name, ns, suite, underlay):
        self.name, self.ns, self.suite, self.underlay = name, ns, suite, underlay

    @property
    def hostname(self):
        return "node-" + self.name

    def backend(self):
        return self.suite.status()["backend"]

    def addr(self, version):
        return [ipaddress.ip_interface(x).ip
                for x in self.backend()["self"]["addresses"]
                if ipaddress.ip_interface(x).version == version][0]

    def path_to(self, other):
        for p in self.backend()["peers"]:
            if p["hostname"] == other.hostname:
                return p.get("path")
        return None

    def ping(self, addr, count=1, wait=1):
        return self.ns.run("ping", "-c", str(count), "-W", str(wait),
                           str(addr), check=False).returncode == 0


def drop_udp_between(ns, other_ip):
    t = ("inet", "pmtest_block")
    ns.run("nft", "add", "table", *t)
    ns.run("nft", "add", "chain", *t, "out", "{ type filter hook output "
           "priority 0 ; }")
    ns.run("nft", "add", "chain", *t, "in", "{ type filter hook input "
           "priority 0 ; }")
    ns.run("nft", "add", "rule", *t, "out", "ip", "daddr", other_ip,
           "meta", "l4proto", "udp", "counter", "drop")
    ns.run("nft", "add", "rule", *t, "in", "ip", "saddr", other_ip,
           "meta", "l4proto", "udp", "counter", "drop")


def udp_dropped(ns):
    out = ns.run("nft", "list", "table", "inet", "pmtest_block").stdout
    return sum(int(x) for x in re.findall(r"packets (\d+)", out))


@pytest.fixture
def derp_net(request):
    ctl = Netns()
    made, suites = [ctl], []
    tc = d = None
    try:
        ctl.run("ip", "link", "add", "br0", "type", "bridge")
        ctl.run("ip", "addr", "add", "192.0.2.1/24", "dev", "br0")
        ctl.run("ip", "link", "set", "br0", "up")
        d = TestDerp(ns=ctl.name, addr="192.0.2.1", http_port=None,
                     tls_port=0, stun_port=None).start()
        dmap = {"Regions": {"900": {
            "RegionID": 900, "RegionCode": "test", "RegionName": "Test",
            "Nodes": [{"Name": "900a", "RegionID": 900,
                       "HostName": "derp.test", "IPv4": "192.0.2.1",
                       "IPv6": "none", "DERPPort": d.tls_port,
                       "STUNPort": -1, "CertName": "sha256-raw:" +
                       certs.leaf_sha256(d.cert_pem)}]}}}
        tc = TestControl(addr="192.0.2.1:8080", ns=ctl.name, keepalive=2.0,
                         derpmap=dmap)
        tc.start()
        nodes = []
        for i, name in enumerate(NAMES):
            ns = Netns()
            made.append(ns)
            host = f"pmdp{name}{os.getpid() % 10000}"
            sh("ip", "-n", ctl.name, "link", "add", host, "type", "veth",
               "peer", "name", "eth0", "netns", ns.name)
            ctl.run("ip", "link", "set", host, "master", "br0", "up")
            underlay = f"192.0.2.{11 + i}"
            ns.run("ip", "addr", "add", underlay + "/24", "dev", "eth0")
            ns.run("ip", "link", "set", "eth0", "up")
            s = Suite(ns)
            s.start()
            suites.append(s)
            nodes.append(Node(name, ns, s, underlay))
        drop_udp_between(nodes[0].ns, nodes[1].underlay)
        drop_udp_between(nodes[1].ns, nodes[0].underlay)
        key = tc.preauth_key(user="alice", reusable=True)
        for n in nodes:
            n.suite.cli("up", "--login-server", tc.url, "--auth-key", key,
                        "--hostname", n.hostname, "--timeout", "20")
        yield tc, d, nodes
    finally:
        failed = getattr(request.node, "rep_call", None)
        bad = []
        for s in suites:
            if failed is not None and failed.failed:
                sys.stderr.write("---- privd log ----\n" + s.logs())
            s.stop()
            bad += [ln for ln in s.logs().splitlines()
                    if "runtime error:" in ln or
                    "ERROR: AddressSanitizer" in ln]
            s.cleanup()
        if tc is not None:
            tc.cleanup()
        if d is not None:
            d.stop()
        for ns in made:
            ns.delete()
        assert not bad, "\n".join(bad)


def node_key(tc, n):
    return bytes.fromhex(tc.node(n.hostname)["node_key"].split(":", 1)[1])


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
