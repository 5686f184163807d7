"""ctrld against the independent Python test control server.

Topology: one network namespace per test; inside it the test control
server on 127.0.0.1 and one or two privd suites (each its own state dir
and API socket).  Traffic stays on the namespace's loopback.

    +------------------------ netns pmt-XXXX -------------------------+
    |  testcontrol 127.0.0.1:<port>  (tests/testcontrol, Python)      |
    |     ^  ts2021: GET /key, POST /ts2021 (Noise), HTTP/2           |
    |  privd A -- ctrld A      privd B -- ctrld B                     |
    +-----------------------------------------------------------------+
"""
import ipaddress
import os
import subprocess
import sys
import time

import pytest

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))
from pmtest import Suite, wait_for  # noqa: E402
from tests.testcontrol.harness import TestControl  # noqa: E402

CGNAT = ipaddress.ip_network("100.64.0.0/10")
TSULA = ipaddress.ip_network("fd7a:115c:a1e0::/48")


@pytest.fixture
def control(netns):
    tc = TestControl(addr="127.0.0.1:18080", ns=netns.name, keepalive=2.0)
    tc.start()
    yield tc
    if os.environ.get("PM_SHOW_CONTROL_LOG"):
        sys.stderr.write(tc.logs())
    tc.cleanup()


@pytest.fixture
def suites(netns, request):
    made = []

    def make(name):
        s = Suite(netns, extra_args=["--tun", "pm" + name])
        s.start()
        made.append(s)
        return s
    yield make
    for s in made:
        if getattr(request.node, "rep_call", None) and request.node.rep_call.failed:
            sys.stderr.write("---- privd log ----\n" + s.logs())
        s.cleanup()


def backend(s):
    return s.status()["backend"]


def up(s, tc, hostname, key=None, extra=(), timeout=20, check=True):
    key = key or tc.preauth_key(user="alice")
    return s.cli("up", "--login-server", tc.url, "--auth-key", key,
                 "--hostname", hostname, "--timeout", str(timeout), *extra,
                 check=check)


def peer_names(s):
    return sorted(p["hostname"] for p in backend(s)["peers"])


def test_register_with_preauth_key_gets_tailnet_addresses(netns, control,
                                                           suites):
    a = suites("a")
    assert backend(a)["state"] == "NoState"
    up(a, control, "node-a")
    b = backend(a)
    assert b["state"] == "Running" and b["connected"], b
    addrs = [ipaddress.ip_interface(x).ip for x in b["self"]["addresses"]]
    assert any(x.version == 4 and x in CGNAT for x in addrs), addrs
    assert any(x.version == 6 and x in TSULA for x in addrs), addrs
    # `ip` prints exactly those addresses.
    out = a.cli("ip").stdout.split()
    assert sorted(out) == sorted(str(x) for x in addrs)
    assert a.cli("ip", "-4").stdout.split() == [
        str(x) for x in addrs if x.version == 4]
    # The server sees the node under our machine and node keys.
    nodes = control.nodes()
    assert len(nodes) == 1
    assert b["self"]["hostname"] == "node-a"
    assert b["self"]["os"] == "linux"
    # Human-readable status shows the backend state and self.
    text = a.cli("status").stdout
    assert "backend: Running" in text and "self" in text


def test_second_node_appears_and_disappears(netns, control, suites):
    a = suites("a")
    b = suites("b")
    up(a, control, "node-a")
    assert peer_names(a) == []
    up(b, control, "node-b")
    wait_for(lambda: peer_names(a) == ["node-b"], timeout=15,
             what="node-b in node-a's netmap")
    wait_for(lambda: peer_names(b) == ["node-a"], timeout=15,
             what="node-a in node-b's netmap")
    peer = backend(a)["peers"][0]
    assert peer["online"] is True
    assert any(ipaddress.ip_interface(x).ip in CGNAT
               for x in peer["addresses"])
    assert "node-b" in a.cli("status").stdout
    nid = [n for n in control.nodes() if n["name"].startswith("node-b")][0]
    control.delete_node(nid["id"])
    wait_for(lambda: peer_names(a) == [], timeout=15,
             what="node-b gone from node-a's netmap")
