"""Three nodes on the test control server, talking over WireGuard.

Topology: the control server in its own namespace on a bridge; each node
its own namespace and privd suite, joined to the bridge by a veth pair.
Addresses are from the documentation range 192.0.2.0/24 (simulated public
hosts); nothing leaves these namespaces.

    netns ctl:  br0 192.0.2.1/24, testcontrol on 192.0.2.1:8080
        |-- veth -- netns a: eth0 192.0.2.11  privd suite "node-a"
        |-- veth -- netns b: eth0 192.0.2.12  privd suite "node-b"
        `-- veth -- netns c: eth0 192.0.2.13  privd suite "node-c"

Each node's ctrld fans the netmap out: the peers to netd (WireGuard, the
node key as interface key, direct endpoints "192.0.2.1x:41641" reported by
netd through MapRequest.Endpoints), addresses and routes to privd.
"""
import base64
import ipaddress
import os
import sys
import time

import pytest

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))
import bridgelab  # noqa: E402
from pmtest import Netns, Suite, call_failed, sh, stop_suites  # noqa: E402
from pmtest import wait_for  # noqa: E402
from tests.testcontrol.harness import TestControl  # noqa: E402

CGNAT = ipaddress.ip_network("100.64.0.0/10")
TSULA = ipaddress.ip_network("fd7a:115c:a1e0::/48")
NAMES = ("a", "b", "c")


class Node(bridgelab.Node):
    def addrs(self):
        return [ipaddress.ip_interface(x).ip
                for x in self.backend()["self"]["addresses"]]

    def peer_names(self):
        return sorted(p["hostname"] for p in self.backend()["peers"])

    def wg_keys(self):
        wg = self.suite.status().get("wireguard") or {}
        return sorted(p["public_key"] for p in wg.get("peers", []))


def b64_nodekey(text):
    return base64.b64encode(bytes.fromhex(text.split(":", 1)[1])).decode()


@pytest.fixture
def tailnet(request):
    ctl = Netns()
    made_ns, suites = [ctl], []
    tc = None
    try:
        ctl.run("ip", "link", "add", "br0", "type", "bridge")
        ctl.run("ip", "addr", "add", "192.0.2.1/24", "dev", "br0")
        ctl.run("ip", "link", "set", "br0", "up")
        tc = TestControl(addr="192.0.2.1:8080", ns=ctl.name, keepalive=2.0)
        tc.start()
        nodes = []
        for i, name in enumerate(NAMES):
            ns = Netns()
            made_ns.append(ns)
            host, peer = f"pmv{name}{os.getpid() % 10000}", "eth0"
            sh("ip", "-n", ctl.name, "link", "add", host, "type", "veth",
               "peer", "name", peer, "netns", ns.name)
            ctl.run("ip", "link", "set", host, "master", "br0", "up")
            underlay = f"192.0.2.{11 + i}"
            ns.run("ip", "addr", "add", underlay + "/24", "dev", peer)
            ns.run("ip", "link", "set", peer, "up")
            s = Suite(ns)
            # Quad-100 into the TUN; resolv.conf is the suite's own file.
            resolv = os.path.join(s.dir, "resolv.conf")
            with open(resolv, "w") as f:
                f.write("nameserver 192.0.2.1\n")
            s.extra = ["--accept-dns", "--resolv-conf", resolv]
            s.start()
            suites.append(s)
            nodes.append(Node(name, ns, s, underlay))
        key = tc.preauth_key(user="alice", reusable=True)
        for n in nodes:
            n.suite.cli("up", "--login-server", tc.url, "--auth-key", key,
                        "--hostname", n.hostname, "--timeout", "20")
        yield tc, nodes
    finally:
        failed = call_failed(request)
        bad = stop_suites(suites, failed)
        if tc is not None:
            if failed:
                sys.stderr.write("---- testcontrol ----\n" + tc.logs())
            tc.cleanup()
        for ns in made_ns:
            ns.delete()
        assert not bad, "\n".join(bad)


def all_see_each_other(nodes):
    for n in nodes:
        want = sorted(m.hostname for m in nodes if m is not n)
        wait_for(lambda n=n, want=want: n.peer_names() == want, timeout=20,
                 what=f"{n.hostname} sees {want}")
        wait_for(lambda n=n: len(n.wg_keys()) == len(nodes) - 1, timeout=10,
                 what=f"{n.hostname}'s WireGuard peers")


def ping_all(nodes, timeout=15):
    for n in nodes:
        for m in nodes:
            if m is n:
                continue
            for v in (4, 6):
                dst = m.addr(v)
                wait_for(lambda n=n, dst=dst: n.ping(dst), timeout=timeout,
                         what=f"{n.hostname} pings {m.hostname} at {dst}")


def test_three_nodes_ping_each_other_over_wireguard(tailnet):
    tc, nodes = tailnet
    for n in nodes:
        a4, a6 = n.addr(4), n.addr(6)
        assert a4 in CGNAT and a6 in TSULA, n.addrs()
    all_see_each_other(nodes)
    # Each peer's WireGuard endpoint is the direct one netd reported.
    a = nodes[0]
    for p in a.backend()["peers"]:
        assert p["endpoints"], p
        assert p["endpoints"][0].startswith("192.0.2.1"), p
    ping_all(nodes)
    # The tunnel carries it: handshakes done, bytes both ways, and the
    # addresses and routes privd installed from the netmap.
    wg = a.suite.status()["wireguard"]
    assert len(wg["peers"]) == 2
    for p in wg["peers"]:
        assert p["endpoint"].startswith("192.0.2.1"), p
        assert p["rx_bytes"] > 0 and p["tx_bytes"] > 0, p
    addr_out = a.ns.run("ip", "addr", "show", "dev", "pm0").stdout
    assert str(a.addr(4)) in addr_out and str(a.addr(6)) in addr_out
    routes = a.ns.run("ip", "route", "show", "table", "52").stdout
    for m in nodes[1:]:
        assert str(m.addr(4)) in routes, routes
    # Peer IPv6 addresses: one route for the whole ULA range, as tailscale.
    routes6 = a.ns.run("ip", "-6", "route", "show", "table", "52").stdout
    assert "fd7a:115c:a1e0::/48 dev pm0" in routes6, routes6
    # MagicDNS: dnsd got every peer's FQDN from the netmap.
    for m in nodes[1:]:
        name = [p for p in a.backend()["peers"]
                if p["hostname"] == m.hostname][0]["name"]
        for qtype, v in (("A", 4), ("AAAA", 6)):
            out = a.ns.run("dig", "+time=2", "+tries=2", "+short",
                           "@100.100.100.100", name, qtype).stdout.split()
            assert out == [str(m.addr(v))], (name, qtype, out)
    # `privmesh status` lists the peers with their tailnet IPs, online.
    text = a.suite.cli("status").stdout
    for m in nodes[1:]:
        line = [ln for ln in text.splitlines() if m.hostname in ln]
        assert line, text
        assert str(m.addr(4)) in line[0] and str(m.addr(6)) in line[0]
        assert "online" in line[0], line[0]
        # the path: a handshake went over the peer's direct endpoint
        assert f"direct {m.underlay}:41641" in line[0], line[0]
    for p in a.backend()["peers"]:
        assert p["path"].startswith("direct 192.0.2.1"), p


def test_deleted_node_disappears_and_its_wireguard_peer_goes(tailnet):
    tc, nodes = tailnet
    all_see_each_other(nodes)
    ping_all(nodes)
    a, b, c = nodes
    ckey = b64_nodekey([p for p in a.backend()["peers"]
                        if p["hostname"] == "node-c"][0]["key"])
    assert ckey in a.wg_keys()
    cid = [n for n in tc.nodes() if n["name"].startswith("node-c")][0]["id"]
    tc.delete_node(cid)
    for n in (a, b):
        wait_for(lambda n=n: n.peer_names() ==
                 sorted(m.hostname for m in (a, b) if m is not n),
                 timeout=15, what=f"node-c gone from {n.hostname}'s netmap")
        wait_for(lambda n=n: ckey not in n.wg_keys() and
                 len(n.wg_keys()) == 1, timeout=10,
                 what=f"node-c's WireGuard peer gone from {n.hostname}")
    # c's address no longer reaches anything; a and b still talk.
    assert not a.ping(c.addr(4))
    ping_all([a, b])
    routes = a.ns.run("ip", "route", "show", "table", "52").stdout
    assert str(c.addr(4)) not in routes, routes


def test_control_restart_keeps_tunnels(tailnet):
    tc, nodes = tailnet
    all_see_each_other(nodes)
    ping_all(nodes)
    a = nodes[0]
    tc.stop()
    wait_for(lambda: not a.backend()["connected"], timeout=10,
             what="node-a notices the server is gone")
    # The last good netmap, and so every tunnel, stays in force.
    ping_all(nodes, timeout=5)
    assert len(a.wg_keys()) == 2
    tc.start()
    wait_for(lambda: all(n.backend()["connected"] for n in nodes),
             timeout=30, what="every node reconnected")
    time.sleep(1)
    all_see_each_other(nodes)
    ping_all(nodes, timeout=5)


@pytest.mark.parametrize("kind,text", [
    ("bad_zstd", "zstd"),
    ("bad_noise", "noise"),
])
def test_server_garbage_leaves_tunnels_up(tailnet, kind, text):
    """A control server sending garbage: a clear error in status, ctrld
    reconnects, and the tunnels never stop carrying traffic."""
    tc, nodes = tailnet
    all_see_each_other(nodes)
    ping_all(nodes)
    a = nodes[0]
    before = a.backend()
    tc.fault(kind, node=a.hostname, count=-1)
    wait_for(lambda: text in a.backend()["last_error"], timeout=15,
             what=f"{kind}: error mentioning {text!r} in status")
    ping_all(nodes, timeout=5)        # while ctrld keeps failing
    assert len(a.wg_keys()) == 2
    tc.clear_faults()
    wait_for(lambda: a.backend()["connected"] and
             a.backend()["reconnects"] > before["reconnects"] and
             a.backend()["error"] == "", timeout=30,
             what="reconnected once the server behaves")
    assert a.backend()["errors"] > before["errors"]
    procs = {p["name"]: p for p in a.suite.status()["processes"]}
    assert procs["ctrld"]["restarts"] == 0
    ping_all(nodes, timeout=5)


def wg_allowed(node, key_b64):
    wg = node.suite.status().get("wireguard") or {}
    for p in wg.get("peers", []):
        if p["public_key"] == key_b64:
            return p.get("allowed_ips", [])
    return None


def test_subnet_route_only_with_accept_routes(tailnet):
    tc, nodes = tailnet
    all_see_each_other(nodes)
    a, b, c = nodes
    subnet = "10.9.0.0/24"
    c.ns.run("ip", "link", "add", "lan0", "type", "veth", "peer", "name",
             "lan1")
    c.ns.run("ip", "addr", "add", "10.9.0.1/24", "dev", "lan0")
    c.ns.run("ip", "link", "set", "lan0", "up")
    c.suite.cli("set", "--advertise-routes", subnet)
    wait_for(lambda: subnet in (tc.node("node-c").get("hostinfo") or {})
             .get("RoutableIPs", []), timeout=15,
             what="node-c advertises the subnet")
    tc.approve_routes("node-c", [subnet])

    def c_peer(n):
        return [p for p in n.backend()["peers"]
                if p["hostname"] == "node-c"][0]
    wait_for(lambda: subnet in c_peer(a)["allowed_ips"], timeout=15,
             what="the approved route in node-a's netmap")
    ckey = b64_nodekey(c_peer(a)["key"])
    # Without --accept-routes: in the netmap, but neither in WireGuard
    # nor in the routing table.
    time.sleep(1)
    assert subnet not in wg_allowed(a, ckey)
    assert "10.9.0.0/24" not in a.ns.run(
        "ip", "route", "show", "table", "52").stdout
    a.suite.cli("set", "--accept-routes")
    wait_for(lambda: subnet in wg_allowed(a, ckey), timeout=10,
             what="the subnet among node-c's WireGuard allowed IPs")
    wait_for(lambda: "10.9.0.0/24" in a.ns.run(
        "ip", "route", "show", "table", "52").stdout, timeout=10,
        what="the subnet route on node-a")
    wait_for(lambda: a.ping("10.9.0.1"), timeout=10,
             what="node-a reaches node-c's subnet")
    # b did not accept routes: nothing changed there.
    assert subnet not in wg_allowed(b, ckey)


@pytest.mark.parametrize("victim", ["netd", "ctrld", "dnsd"])
def test_restarted_child_gets_the_tailnet_back(tailnet, victim):
    tc, nodes = tailnet
    all_see_each_other(nodes)
    ping_all(nodes)
    a, b = nodes[0], nodes[1]
    os.kill(a.suite.pid(victim), 9)
    a.suite.wait_running(restarts={victim: 1})
    # netd restarted: empty WireGuard until ctrld resends the whole set;
    # dnsd restarted: MagicDNS records again.
    wait_for(lambda: len(a.wg_keys()) == 2, timeout=10,
             what="node-a's WireGuard peers back")
    ping_all(nodes)
    name = [p for p in a.backend()["peers"]
            if p["hostname"] == b.hostname][0]["name"]
    wait_for(lambda: a.ns.run("dig", "+time=1", "+tries=1", "+short",
                              "@100.100.100.100", name, "A",
                              check=False).stdout.split() == [str(b.addr(4))],
             timeout=10, what="MagicDNS answers again")


def test_packet_filter_from_policy(tailnet):
    tc, nodes = tailnet
    all_see_each_other(nodes)
    ping_all(nodes)
    a, b, c = nodes
    a4, b4 = a.addr(4), b.addr(4)
    # Only a may open anything, and only towards b.
    tc.set_policy({"acls": [{"action": "accept", "src": [f"{a4}/32"],
                             "dst": [f"{b4}/32:*"]}]})
    wait_for(lambda: not b.ping(a4), timeout=15,
             what="node-a's filter refuses node-b's pings")
    # Echo replies pass the filter, so a's own pings to b still work.
    assert a.ping(b4)
    assert not c.ping(b4)
    assert not c.ping(a4)
    filtered = a.suite.status()["wireguard"]["counters"]["rx_filtered"]
    assert filtered > 0
    # Back to allow-all: everyone reaches everyone again.
    tc.set_policy(None)
    ping_all(nodes)


def test_down_takes_the_tailnet_state_away(tailnet):
    tc, nodes = tailnet
    all_see_each_other(nodes)
    ping_all(nodes)
    a, b = nodes[0], nodes[1]
    a4 = a.addr(4)
    a.suite.cli("down")
    wait_for(lambda: a.wg_keys() == [], timeout=10,
             what="node-a's WireGuard peers gone after down")
    wait_for(lambda: str(a4) not in a.ns.run(
        "ip", "addr", "show", "dev", "pm0").stdout, timeout=10,
        what="node-a's tailnet address gone after down")
    assert a.ns.run("ip", "route", "show", "table", "52").stdout.strip() == ""
    assert not b.ping(a4)
