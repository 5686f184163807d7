"""The NAT lab (issue 6): nodes behind simulated NATs (natlab.py) find
each other directly when their NATs allow it, and through DERP when they
do not, and a TCP stream survives the move.

One lab for the module (starting the suites is the slow part):

    e1, e2  easy NATs (endpoint-independent mapping)
    h1, h2  hard NATs (a random port per destination); h2's home DERP
            region is 902, the others' 901 (add_node home=: control's
            HomeDERP, and STUN from port 41641 to the other region
            dropped), so h1 and h2 each send to the other's home region
    u       a firewall dropping all UDP
    p1, p2  no NAT (public addresses)
    e3, e4  easy NATs, kept for `privmesh ping` alone

"Direct" and "relay" are read from `privmesh status --json` (per-peer
`path`: "direct IP:port" or 'relay "code"').

The easy-easy upgrade and the fall back after a cut rest on netcheck (STUN
endpoints) and disco (path discovery and selection).
"""
import os
import sys
import time

import pytest

sys.path.insert(0, os.path.dirname(__file__))
from natlab import (Lab, punch, stun_mappings, transfer,  # noqa: E402
                    wait_path)
from pmtest import wait_for  # noqa: E402
from test_testderp import DerpClient  # noqa: E402

HOME, OTHER = 901, 902
F_SEND = 0x04


@pytest.fixture(scope="module")
def lab(request):
    lab = Lab().start()
    try:
        nodes = {}
        # Homes: h2 in 902, the others in 901, whether control's HomeDERP
        # or netcheck decides (u has no UDP, so no STUN: netcheck keeps
        # control's).
        for name, nat in (("e1", "easy"), ("e2", "easy"), ("h1", "hard"),
                          ("h2", "hard"), ("u", "udp-blocked"),
                          ("p1", "none"), ("p2", "none"),
                          ("e3", "easy"), ("e4", "easy")):
            nodes[name] = lab.add_node(name, nat, home=OTHER
                                       if name == "h2" else HOME)
        lab.login()
        lab.n = nodes
        yield lab
    finally:
        if request.session.testsfailed:
            lab.dump_logs()
        lab.close()
    assert not lab.errors, "\n".join(lab.errors)


def relayed(p):
    return p.startswith('relay "')


def intact(src, dst, size=2 << 20, **kw):
    sent, got = transfer(src, dst, size, **kw).wait()
    assert got == sent and sent[0] == size, (sent, got)


def sends_to(derp, src, dst):
    """SendPacket frames relay `derp` read from node src to node dst."""
    ks, kd = src.node_key().hex(), dst.node_key()
    return sum(1 for f in derp.received() if f["type"] == F_SEND and
               f["src"] == ks and f["payload"][:32] == kd)


def test_the_lab_nats_behave_as_named(lab):
    """The lab itself, with plain UDP on a port privmesh does not use: what
    the two STUN servers see, and whether simultaneous sends get through
    (hole punching), per NAT kind."""
    n, port = lab.n, 41700
    easy = stun_mappings(lab, n["e1"], port)
    assert easy == {HOME: (n["e1"].public, port),
                    OTHER: (n["e1"].public, port)}, easy
    hard = stun_mappings(lab, n["h1"], port)
    assert hard[HOME][0] == hard[OTHER][0] == n["h1"].public, hard
    assert hard[HOME][1] != hard[OTHER][1], hard     # per destination
    assert stun_mappings(lab, n["u"], port) == {HOME: None, OTHER: None}
    assert stun_mappings(lab, n["p1"], port) == {
        HOME: (n["p1"].public, port), OTHER: (n["p1"].public, port)}
    a, b = punch(n["e1"], n["e2"], port)
    assert a > 0 and b > 0, (a, b)
    assert punch(n["h1"], n["h2"], port) == (0, 0)
    assert punch(n["u"], n["p1"], port) == (0, 0)


def test_nodes_with_different_home_regions_talk_through_derp(lab):
    """h1 (home 901) starts talking to h2 (home 902), and h2 to e2 (home
    901): the first packets of each go to the peer's home region, a
    connection opened on demand; the answers come back the same way."""
    h1, h2, e2 = lab.n["h1"], lab.n["h2"], lab.n["e2"]
    wait_for(lambda: lab.home(h2) == OTHER and h2.derp()[OTHER]["connected"],
             20, "h2 at home in 902")
    wait_for(lambda: lab.home(h1) == HOME and lab.home(e2) == HOME, 20,
             "h1 and e2 at home in 901")
    wait_for(lambda: h1.ping(h2), 40, "h1 pings h2")
    wait_for(lambda: h2.ping(e2), 40, "h2 pings e2")
    assert sends_to(lab.derp(OTHER), h1, h2) > 0
    assert sends_to(lab.derp(HOME), h2, e2) > 0
    d1, d2 = h1.derp(), h2.derp()
    assert d1[HOME]["home"] and not d1[OTHER]["home"], d1
    assert d1[OTHER]["logins"] >= 1 and d1[OTHER]["tx_packets"] > 0, d1
    # What came while it logged in waited for it.
    assert d1[OTHER]["tx_dropped"] == 0, d1
    assert d2[OTHER]["home"] and not d2[HOME]["home"], d2
    assert d2[HOME]["tx_packets"] > 0, d2
    assert relayed(h1.path_to(h2)) and relayed(h2.path_to(e2))
    # Each server was told whether it is the client's home (NotePreferred).
    k1, k2 = h1.node_key().hex(), h2.node_key().hex()
    pref = {rid: lab.derp(rid).counters()["preferred"]
            for rid in (HOME, OTHER)}
    assert pref[HOME][k1] and not pref[OTHER][k1], pref
    assert pref[OTHER][k2] and not pref[HOME][k2], pref
    text = h1.suite.cli("status").stdout
    assert f"derp region {HOME} (home): connected" in text, text
    assert f"derp region {OTHER}: connected" in text, text


def test_hard_hard_pair_stays_on_derp_and_works(lab):
    h1, h2 = lab.n["h1"], lab.n["h2"]
    wait_for(lambda: h1.ping(h2), 40, "h1 pings h2")
    # Long enough for disco to have tried every endpoint.
    end = time.time() + 8
    while time.time() < end:
        for a, b in ((h1, h2), (h2, h1)):
            p = a.path_to(b)
            assert relayed(p), f"{a.name}->{b.name}: {p}"
        time.sleep(1)
    intact(h1, h2)
    intact(h2, h1)
    assert relayed(h1.path_to(h2)) and relayed(h2.path_to(h1))
    out = h1.pm_ping(h2)
    assert "via DERP(" in out, out


def test_udp_blocked_node_works_through_derp(lab):
    u, e1 = lab.n["u"], lab.n["e1"]
    wait_for(lambda: u.ping(e1), 40, "u pings e1")
    wait_for(lambda: e1.ping(u), 20, "e1 pings u")
    assert relayed(u.path_to(e1)) and relayed(e1.path_to(u))
    out = u.pm_ping(e1)
    assert "via DERP(" in out, out
    intact(u, e1)
    intact(e1, u)
    # The firewall saw (and dropped) the direct attempts.
    out = u.router.run("nft", "list", "chain", "ip", "natlab",
                       "guard_fwd").stdout
    assert "udp counter packets 0 " not in out, out


def test_easy_easy_pair_goes_direct_within_10s(lab):
    e1, e2 = lab.n["e1"], lab.n["e2"]
    t0 = time.monotonic()
    wait_for(lambda: e1.ping(e2), 10, "e1 pings e2")
    want = f"direct {e2.public}:41641"
    wait_path(e1, e2, lambda p: p == want, 10 - (time.monotonic() - t0))
    wait_path(e2, e1, lambda p: p == f"direct {e1.public}:41641", 5)
    intact(e1, e2)
    assert e1.path_to(e2) == want
    out = e1.pm_ping(e2)
    assert f"via {e2.public}:41641" in out, out


def test_privmesh_ping_alone_takes_an_easy_pair_direct(lab):
    """As `tailscale ping`: with no traffic between them, disco pings
    alone go direct.  The first pong comes through DERP (each NAT drops
    the other's unsolicited pings); the CallMeMaybe that follows makes the
    peer ping back, which opens both NATs, and a later pong comes over the
    direct path.  e3 and e4 have exchanged nothing before."""
    e3, e4 = lab.n["e3"], lab.n["e4"]
    r = e3.suite.cli("ping", "-c", "10", e4.hostname, check=False)
    pongs = [ln for ln in r.stdout.splitlines() if ln.startswith("pong ")]
    assert r.returncode == 0, r.stdout + r.stderr
    assert "via DERP(r1) in " in pongs[0], pongs
    assert f" via {e4.public}:41641 in " in pongs[-1], pongs
    assert e3.path_to(e4) == f"direct {e4.public}:41641"


def test_cutting_the_direct_path_moves_a_tcp_stream_to_derp(lab):
    e1, e2 = lab.n["e1"], lab.n["e2"]
    wait_path(e1, e2, lambda p: p.startswith("direct "), 15)
    size, rate = 6 << 20, 1 << 20      # about 6 s
    t = transfer(e1, e2, size, rate=rate)
    try:
        time.sleep(1.5)
        lab.cut(e1, e2)
        wait_path(e1, e2, relayed, 15, "e1->e2 falls back to DERP")
        sent, got = t.wait()
        assert got == sent and sent[0] == size, (sent, got)
        assert lab.cut_drops() > 0
    finally:
        lab.restore(e1, e2)


def test_cutting_a_public_pair_moves_a_tcp_stream_to_derp(lab):
    """The same cut between two nodes with public addresses (direct with
    no hole punching): disco stops trusting the direct path and moves the
    stream to DERP."""
    p1, p2 = lab.n["p1"], lab.n["p2"]
    wait_for(lambda: p1.ping(p2), 20, "p1 pings p2")
    wait_path(p1, p2, lambda p: p == f"direct {p2.public}:41641", 10)
    size, rate = 6 << 20, 256 << 10     # about 24 s
    t = transfer(p1, p2, size, rate=rate)
    try:
        time.sleep(2)
        lab.cut(p1, p2)
        wait_path(p1, p2, relayed, 40, "p1->p2 falls back to DERP")
        sent, got = t.wait()
        assert got == sent and sent[0] == size, (sent, got)
        assert lab.cut_drops() > 0
        assert relayed(p1.path_to(p2))
    finally:
        lab.restore(p1, p2)


def test_garbage_from_relay_and_fake_peer_dropped_and_counted(lab):
    u, e1 = lab.n["u"], lab.n["e1"]
    wait_for(lambda: u.ping(e1), 30, "u pings e1")
    home = wait_for(lambda: lab.home(u), 10, "u's home region")
    d = lab.derp(home)
    ku = u.node_key()

    # A fake peer (a key no netmap knows) sends u junk through the relay.
    fake = DerpClient(lab.inet.name, d.addrs[0], d.tls_port, tls=True)
    try:
        before = u.derp()[home]["rx_refused"]
        for i in range(5):
            fake.send_packet(ku, bytes([4, 0, 0, 0]) + os.urandom(60 + i))
        fake.send_packet(ku, os.urandom(3))
        wait_for(lambda: u.derp()[home]["rx_refused"] >= before + 6, 10,
                 "the fake peer's packets refused and counted")
    finally:
        fake.close()
    assert u.status()["wireguard"]["counters"]["rx_bad"] >= 6

    # The relay skips short and unknown frames (counted, the connection
    # goes on), then sends garbage (counted as a server error, dropped,
    # reconnected).
    st = u.derp()[home]
    for fault in ("short_recv_packet", "unknown_frame", "garbage",
                  "oversized_frame"):
        d.inject_fault(fault)
        d.close_client(ku)
        wait_for(lambda: u.derp()[home]["logins"] > st["logins"], 15,
                 f"u back at the relay after {fault}")
        st = u.derp()[home]
    wait_for(lambda: u.derp()[home]["server_errors"] >= 1, 15,
             "the garbage counted")
    st = u.derp()[home]
    assert st["garbage_frames"] >= 2, st
    wait_for(lambda: u.ping(e1) and e1.ping(u), 30, "u and e1 again")
    netd = [p for p in u.status()["processes"] if p["name"] == "netd"][0]
    assert netd["restarts"] == 0


def test_idle_non_home_region_closed(lab):
    """Last: an on-demand connection closes once nothing was sent through
    it for 60 s (checked every 15 s); the home one stays."""
    h1 = lab.n["h1"]
    if OTHER not in h1.derp():      # run alone: open one first
        wait_for(lambda: h1.ping(lab.n["h2"]), 40, "h1 pings h2")
    assert OTHER in h1.derp()
    wait_for(lambda: OTHER not in h1.derp(), 100, "h1 closes 902")
    assert HOME in h1.derp() and h1.derp()[HOME]["connected"]
    assert "DERP: region 902: idle, closed" in h1.logs()
