"""netd keeps a connection to its home DERP region.

The test control server and the test DERP relay (TLS, its self-signed
certificate pinned by CertName "sha256-raw:...") in one namespace, one
node in another.  ctrld sends netd the DERPMap; netd asks privd for a
marked TCP socket, connects, does TLS with the pin and logs in with its
node key.  When the relay drops it, or sends garbage, netd counts it and
logs in again after a backoff.

Only the connection: WireGuard over DERP is not in the tree yet.
"""
import os
import re
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))
from bridgelab import derp_map  # noqa: E402
from pmtest import Netns, Suite, call_failed, sh, stop_suites  # noqa: E402
from pmtest import wait_for  # noqa: E402
from tests.testcontrol.harness import TestControl  # noqa: E402
from tests.testderp import TestDerp  # noqa: E402


@pytest.fixture
def node_and_derp(request):
    ctl, ns = Netns(), Netns()
    tc = s = d = None
    host = f"pmdh{os.getpid() % 10000}"
    try:
        sh("ip", "-n", ctl.name, "link", "add", host, "type", "veth",
           "peer", "name", "eth0", "netns", ns.name)
        ctl.run("ip", "addr", "add", "192.0.2.1/24", "dev", host)
        ctl.run("ip", "link", "set", host, "up")
        ns.run("ip", "addr", "add", "192.0.2.11/24", "dev", "eth0")
        ns.run("ip", "link", "set", "eth0", "up")
        d = TestDerp(ns=ctl.name, addr="192.0.2.1", http_port=None,
                     tls_port=0, stun_port=None).start()
        tc = TestControl(addr="192.0.2.1:8080", ns=ctl.name, keepalive=2.0,
                         derpmap=derp_map(d))
        tc.start()
        s = Suite(ns).start()
        s.cli("up", "--login-server", tc.url, "--auth-key",
              tc.preauth_key(user="alice"), "--hostname", "dh",
              "--timeout", "20")
        key = bytes.fromhex(tc.node("dh")["node_key"].split(":", 1)[1])
        yield tc, s, d, key
    finally:
        bad = stop_suites([s] if s is not None else [],
                          call_failed(request))
        if tc is not None:
            tc.cleanup()
        if d is not None:
            d.stop()
        ctl.delete()
        ns.delete()
        assert not bad, "\n".join(bad)


def logins(s):
    return [int(m.group(1)) for m in re.finditer(
        r"DERP: region 900: logged in \((\d+) logins\)", s.logs())]


def test_home_region_connection_survives_drops_and_garbage(node_and_derp):
    tc, s, d, key = node_and_derp
    wait_for(lambda: d.connected(key), 15, "netd at its home relay")
    assert logins(s) == [1]
    assert 'DERP: home region 900 "test" via derp.test' in s.logs()

    # The relay drops the connection: netd logs in again.
    d.close_client(key)
    wait_for(lambda: 2 in logins(s), 10, "second login")
    assert "connection lost: closed by the server (server errors 0)" \
        in s.logs()

    # Garbage after the next login (a 2 MiB frame header): counted as a
    # server error, and netd logs in once more.
    d.inject_fault("oversized_frame")
    d.close_client(key)
    wait_for(lambda: "connection lost: frame too large (server errors 1)"
             in s.logs(), 10, "the garbage counted")
    wait_for(lambda: d.connected(key) and len(logins(s)) >= 3, 10,
             "login after the garbage")
    # netd never restarted.
    netd = [p for p in s.status()["processes"] if p["name"] == "netd"][0]
    assert netd["state"] == "running" and netd["restarts"] == 0
