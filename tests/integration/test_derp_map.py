"""The DERPMap from the control server reaches netd.

One node in its own namespace, the test control server in another (as in
test_tailnet.py).  ctrld turns tailcfg.DERPMap into DerpMapUpdate
transactions with this node's home region; netd logs each map it puts in
force.  A map change on the server (admin set-derpmap) reaches netd;
regions and nodes that cannot be used are left out and logged, and the
node keeps working.

This is only the map: the DERP client that uses it is not in the tree yet.
"""
import os
import re
import sys
import time

import pytest

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))
from pmtest import Netns, Suite, call_failed, sh, stop_suites  # noqa: E402
from pmtest import wait_for  # noqa: E402
from tests.testcontrol.harness import TestControl  # noqa: E402


def region(rid, code, *nodes):
    return {"RegionID": rid, "RegionCode": code, "RegionName": code.upper(),
            "Nodes": [dict(n, RegionID=rid) for n in nodes]}


def node(name, host, v4="", derp_port=443, **kw):
    return dict({"Name": name, "HostName": host, "IPv4": v4,
                 "IPv6": "none", "DERPPort": derp_port,
                 "InsecureForTests": True}, **kw)


MAP1 = {"Regions": {
    "901": region(901, "alpha", node("901a", "derp1.test", "198.51.100.1")),
    "900": region(900, "beta", node("900a", "derp0.test", "198.51.100.2",
                                    CertName="sha256-raw:" + "ab" * 32))}}


@pytest.fixture
def one_node(request):
    ctl, ns = Netns(), Netns()
    tc = s = None
    host = f"pmdm{os.getpid() % 10000}"
    try:
        sh("ip", "-n", ctl.name, "link", "add", host, "type", "veth",
           "peer", "name", "eth0", "netns", ns.name)
        ctl.run("ip", "addr", "add", "192.0.2.1/24", "dev", host)
        ctl.run("ip", "link", "set", host, "up")
        ns.run("ip", "addr", "add", "192.0.2.11/24", "dev", "eth0")
        ns.run("ip", "link", "set", "eth0", "up")
        tc = TestControl(addr="192.0.2.1:8080", ns=ctl.name, keepalive=2.0,
                         derpmap=MAP1)
        tc.start()
        s = Suite(ns).start()
        key = tc.preauth_key(user="alice")
        s.cli("up", "--login-server", tc.url, "--auth-key", key,
              "--hostname", "dm", "--timeout", "20")
        yield tc, s
    finally:
        bad = stop_suites([s] if s is not None else [],
                          call_failed(request))
        if tc is not None:
            tc.cleanup()
        ctl.delete()
        ns.delete()
        assert not bad, "\n".join(bad)


def in_force(s):
    """netd's committed maps: [(regions, home)], oldest first."""
    return [(int(m.group(1)), int(m.group(2))) for m in re.finditer(
        r"DERP map: generation \d+ in force: (\d+) regions, home (\d+)",
        s.logs())]


def test_derpmap_reaches_netd_and_follows_changes(one_node):
    tc, s = one_node
    # Two regions; no HomeDERP reported yet: the lowest region is home.
    wait_for(lambda: (2, 900) in in_force(s), 15, "first map in netd")
    before = len(in_force(s))

    # A bigger map with one unusable region (RegionID differs from its
    # key) and one node whose address does not parse: both left out.
    map2 = {"Regions": dict(MAP1["Regions"], **{
        "7": region(7, "seven", node("7a", "derp7.test", "198.51.100.7"),
                    node("7b", "bad.test", "198.51.100.700")),
        "8": dict(region(9, "wrong", node("8a", "derp8.test")))})}
    tc.set_derpmap(map2)
    # The home stays 900: ctrld reported it as NetInfo.PreferredDERP, so
    # the self node's HomeDERP says 900 now, although 7 is lower.
    wait_for(lambda: s.status()["backend"]["self"].get("home_derp") == 900,
             15, "PreferredDERP at control, HomeDERP in the netmap")
    wait_for(lambda: (3, 900) in in_force(s)[before:], 15, "second map")
    logs = s.logs()
    assert 'region "8": bad RegionID, skipped' in logs
    assert 'region 7 node "bad.test": bad address; skipped' in logs

    # The same map again: nothing new for netd.
    n = len(in_force(s))
    tc.set_derpmap(map2)
    time.sleep(2)   # a keepalive interval: the map was sent again
    assert len(in_force(s)) == n
    # Every process still up, none restarted.
    assert all(p["state"] == "running" and p["restarts"] == 0
               for p in s.status()["processes"] if p["name"] != "privd")
