"""A flat tailnet lab: one bridge, the test control server, a DERP relay,
and privmesh nodes on the same documentation subnet.

    netns ctl:  br0 192.0.2.1/24; testcontrol :8080; testderp TLS (its
                self-signed certificate pinned with CertName sha256-raw;
                STUN on 3478 when asked)
        |-- netns <node 0>: 192.0.2.11
        |-- netns <node 1>: 192.0.2.12
        `-- ...

No NAT anywhere (tests/integration/natlab.py has those): tests that need
a node pair on DERP drop UDP between them with drop_udp_between().
"""
import ipaddress
import os
import re
import sys

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))
from pmtest import Netns, Suite, sh, stop_suites  # noqa: E402
from tests.testcontrol.harness import TestControl  # noqa: E402
from tests.testderp import TestDerp, certs  # noqa: E402

CTL_IP = "192.0.2.1"


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


def node_key(tc, n):
    return bytes.fromhex(tc.node(n.hostname)["node_key"].split(":", 1)[1])


def derp_map(d, code="test", name="Test"):
    """Region 900 on the lab's relay; STUN only if the relay serves it."""
    return {"Regions": {"900": {
        "RegionID": 900, "RegionCode": code, "RegionName": name,
        "Nodes": [{"Name": "900a", "RegionID": 900, "HostName": "derp.test",
                   "IPv4": CTL_IP, "IPv6": "none", "DERPPort": d.tls_port,
                   "STUNPort": d.stun_port if d.stun_port else -1,
                   "CertName": "sha256-raw:" +
                   certs.leaf_sha256(d.cert_pem)}]}}}


class BridgeLab:
    """start() builds it, up() joins every node, close() removes it all
    and returns the sanitizer reports of the nodes' logs."""

    def __init__(self, names, prefix, stun=False, code="test", name="Test"):
        self.names, self.prefix, self.stun = names, prefix, stun
        self.code, self.rname = code, name
        self.ctl, self.tc, self.derp = None, None, None
        self.made, self.suites, self.nodes = [], [], []

    def start(self):
        self.ctl = Netns()
        self.made.append(self.ctl)
        self.ctl.run("ip", "link", "add", "br0", "type", "bridge")
        self.ctl.run("ip", "addr", "add", CTL_IP + "/24", "dev", "br0")
        self.ctl.run("ip", "link", "set", "br0", "up")
        self.derp = TestDerp(ns=self.ctl.name, addr=CTL_IP, http_port=None,
                             tls_port=0,
                             stun_port=3478 if self.stun else None).start()
        self.tc = TestControl(addr=CTL_IP + ":8080", ns=self.ctl.name,
                              keepalive=2.0,
                              derpmap=derp_map(self.derp, self.code,
                                               self.rname))
        self.tc.start()
        for i, name in enumerate(self.names):
            self.nodes.append(self._node(i, name))
        return self

    def _node(self, i, name):
        ns = Netns()
        self.made.append(ns)
        host = f"{self.prefix}{name}{os.getpid() % 10000}"
        sh("ip", "-n", self.ctl.name, "link", "add", host, "type", "veth",
           "peer", "name", "eth0", "netns", ns.name)
        self.ctl.run("ip", "link", "set", host, "master", "br0", "up")
        underlay = f"192.0.2.{11 + i}"
        ns.run("ip", "addr", "add", underlay + "/24", "dev", "eth0")
        ns.run("ip", "link", "set", "eth0", "up")
        s = Suite(ns)
        s.start()
        self.suites.append(s)
        return Node(name, ns, s, underlay)

    def up(self):
        key = self.tc.preauth_key(user="alice", reusable=True)
        for n in self.nodes:
            n.suite.cli("up", "--login-server", self.tc.url, "--auth-key",
                        key, "--hostname", n.hostname, "--timeout", "20")

    def close(self, failed):
        try:
            bad = stop_suites(self.suites, failed)
        finally:
            if self.tc is not None:
                if failed:
                    sys.stderr.write("---- testcontrol ----\n" +
                                     self.tc.logs())
                self.tc.cleanup()
            if self.derp is not None:
                self.derp.stop()
            for ns in self.made:
                ns.delete()
        return bad
