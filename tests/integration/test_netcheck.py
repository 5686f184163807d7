"""netcheck: STUN from the WireGuard UDP socket through a NAT router.

Topology (documentation addresses for the "internet", all in namespaces):

    netns pub: lo 203.0.113.10, 203.0.113.20 (testderp: DERP over TLS +
               STUN on both), 198.51.100.10 (coturn, STUN only), the
               testcontrol server on 203.0.113.10:8080; p0 192.0.2.254/24
        |
    netns nat: out0 192.0.2.1/24 (the NAT's public address), in0
               10.201.0.1/24; nftables masquerade on out0: plain
               ("easy": the mapping stays per source) or "random"
               ("hard": a new port per destination), or UDP dropped
        |
    netns node: eth0 10.201.0.2/24, privmesh

The DERP map has three regions: 900 "ta" (testderp at 203.0.113.10),
901 "ct" (coturn, a STUNOnly node), 902 "tb" (testderp at 203.0.113.20).
testderp's STUN answers from 203.0.113.10 wait 80 ms (this kernel has no
netem qdisc to delay them on the wire), and HomeParams.RegionScore gives
coturn's region a factor of 1000, so 902 is the best home: netd moves its
home there from ctrld's first choice (the lowest ID, 900).
"""
import json
import os
import re
import sys
import tempfile
import shutil
import subprocess
import time

import pytest

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))
from pmtest import Netns, Suite, sh, wait_for  # noqa: E402
from tests.testcontrol.harness import TestControl  # noqa: E402
from tests.testderp import TestDerp, certs  # noqa: E402

NAT_OUT = "192.0.2.1"
DERP_A, DERP_B, COTURN = "203.0.113.10", "203.0.113.20", "198.51.100.10"
# IPv6 (documentation prefix) is routed, not translated.
DERP_A6, DERP_B6, COTURN6 = "2001:db8:100::10", "2001:db8:100::20", \
    "2001:db8:100::30"
NODE6 = "2001:db8:201::2"
V6 = {DERP_A: DERP_A6, DERP_B: DERP_B6, COTURN: COTURN6}
PORT = 41641


def derp_node(name, region, ip, port, pin, stun_only=False):
    n = {"Name": name, "RegionID": region, "HostName": "derp.test",
         "IPv4": ip, "IPv6": V6[ip], "STUNPort": 3478, "CertName": pin}
    if stun_only:
        n["STUNOnly"] = True
    else:
        n["DERPPort"] = port
    return n


def derp_map(d, pin):
    return {"HomeParams": {"RegionScore": {"901": 1000}}, "Regions": {
        "900": {"RegionID": 900, "RegionCode": "ta", "RegionName": "Test A",
                "Nodes": [derp_node("900a", 900, DERP_A, d.tls_port, pin)]},
        "901": {"RegionID": 901, "RegionCode": "ct", "RegionName": "Coturn",
                "Nodes": [derp_node("901s", 901, COTURN, 0, "",
                                    stun_only=True)]},
        "902": {"RegionID": 902, "RegionCode": "tb", "RegionName": "Test B",
                "Nodes": [derp_node("902a", 902, DERP_B, d.tls_port, pin)]},
    }}


def veth(a, an, b, bn):
    sh("ip", "link", "add", an, "netns", a.name, "type", "veth", "peer",
       "name", bn, "netns", b.name)


class Lab:
    def __init__(self):
        self.pub, self.nat, self.node = Netns(), Netns(), Netns()
        self.tmp = tempfile.mkdtemp(prefix="pm-netcheck-")
        self.turn = self.derp = self.tc = self.suite = None

    def build(self, nat):
        pub, natns, node = self.pub, self.nat, self.node
        veth(pub, "p0", natns, "out0")
        veth(natns, "in0", node, "eth0")
        for ip in (DERP_A, DERP_B, COTURN):
            pub.run("ip", "addr", "add", ip + "/32", "dev", "lo")
            pub.run("ip", "addr", "add", V6[ip] + "/128", "dev", "lo")
        pub.run("ip", "addr", "add", "192.0.2.254/24", "dev", "p0")
        pub.run("ip", "addr", "add", "2001:db8:2::fe/64", "dev", "p0",
                "nodad")
        natns.run("ip", "addr", "add", "2001:db8:2::1/64", "dev", "out0",
                  "nodad")
        natns.run("ip", "addr", "add", "2001:db8:201::1/64", "dev", "in0",
                  "nodad")
        node.run("ip", "addr", "add", NODE6 + "/64", "dev", "eth0", "nodad")
        pub.run("ip", "link", "set", "p0", "up")
        natns.run("ip", "addr", "add", NAT_OUT + "/24", "dev", "out0")
        natns.run("ip", "addr", "add", "10.201.0.1/24", "dev", "in0")
        natns.run("ip", "link", "set", "out0", "up")
        natns.run("ip", "link", "set", "in0", "up")
        natns.run("ip", "route", "add", "default", "via", "192.0.2.254")
        natns.run("sysctl", "-qw", "net.ipv4.ip_forward=1")
        natns.run("sysctl", "-qw", "net.ipv6.conf.all.forwarding=1")
        natns.run("ip", "-6", "route", "add", "default", "via",
                  "2001:db8:2::fe")
        pub.run("ip", "-6", "route", "add", "2001:db8:201::/64", "via",
                "2001:db8:2::1")
        node.run("ip", "addr", "add", "10.201.0.2/24", "dev", "eth0")
        node.run("ip", "link", "set", "eth0", "up")
        node.run("ip", "route", "add", "default", "via", "10.201.0.1")
        node.run("ip", "-6", "route", "add", "default", "via",
                 "2001:db8:201::1")
        # Link-local addresses finish DAD before IPv6 is forwarded.
        wait_for(lambda: node.run("ping", "-6", "-c1", "-W1", DERP_B6,
                                  check=False).returncode == 0, 10,
                 "IPv6 through the router")
        self.set_nat(nat)

    def set_nat(self, kind):
        rules = {
            "easy": "masquerade",
            "hard": "masquerade random",
            "blocked": "masquerade",
        }[kind]
        drop = ("table inet pmfilt {\n chain filt { type filter hook "
                "forward priority 0; meta l4proto udp drop; }\n}\n"
                if kind == "blocked" else "")
        conf = ("table ip pmnat {\n chain post { type nat hook postrouting "
                f"priority 100; oifname \"out0\" {rules}; }}\n}}\n{drop}")
        p = subprocess.run(["ip", "netns", "exec", self.nat.name, "nft",
                            "-f", "-"], input=conf.encode(),
                           capture_output=True)
        assert p.returncode == 0, p.stderr.decode()

    def start_servers(self):
        self.turn = subprocess.Popen(
            ["ip", "netns", "exec", self.pub.name, "turnserver", "-n",
             "--stun-only", "--no-auth", "--no-tls", "--no-dtls",
             "--no-tcp", "--no-cli", "--listening-ip", COTURN,
             "--listening-ip", COTURN6,
             "--listening-port", "3478", "--log-file", "stdout",
             "--simple-log", "--pidfile", os.path.join(self.tmp, "turn.pid"),
             "--userdb", os.path.join(self.tmp, "turndb")],
            stdout=open(os.path.join(self.tmp, "turn.log"), "w"),
            stderr=subprocess.STDOUT)
        self.derp = TestDerp(ns=self.pub.name,
                             addr=[DERP_A, DERP_B, DERP_A6, DERP_B6],
                             http_port=None, tls_port=0,
                             stun_port=3478).start()
        # Region 900's server is "far away".
        self.derp.stun_protocols[0].delay = 0.08
        self.derp.stun_protocols[2].delay = 0.08
        # ... and over HTTPS (the latency check when UDP is blocked).
        self.derp._in_loop(lambda: self.derp.server.probe_delay.update(
            {DERP_A: 0.08}))
        pin = "sha256-raw:" + certs.leaf_sha256(self.derp.cert_pem)
        self.tc = TestControl(addr=DERP_A + ":8080", ns=self.pub.name,
                              keepalive=2.0,
                              derpmap=derp_map(self.derp, pin))
        self.tc.start()
        wait_for(lambda: "turn server id=0 created" in self.turn_log(), 10,
                 "coturn up")

    def turn_log(self):
        try:
            with open(os.path.join(self.tmp, "turn.log")) as f:
                return f.read()
        except OSError:
            return ""

    def up(self):
        self.suite = Suite(self.node, extra_args=["--port", str(PORT)])
        self.suite.start()
        self.suite.cli("up", "--login-server", self.tc.url, "--auth-key",
                       self.tc.preauth_key(user="alice"), "--hostname",
                       "nc", "--timeout", "20")
        return self.suite

    def netcheck(self):
        out = self.suite.cli("netcheck", "--format=json").stdout
        return json.loads(out)

    def netcheck_text(self):
        return self.suite.cli("netcheck").stdout

    def close(self, failed):
        bad = []
        if self.suite is not None:
            if failed:
                sys.stderr.write("---- privd log ----\n" + self.suite.logs())
            self.suite.stop()
            bad = [ln for ln in self.suite.logs().splitlines()
                   if "runtime error:" in ln or
                   "ERROR: AddressSanitizer" in ln]
            self.suite.cleanup()
        if self.tc is not None:
            self.tc.cleanup()
        if self.derp is not None:
            self.derp.stop()
        if self.turn is not None:
            self.turn.terminate()
            try:
                self.turn.wait(5)
            except subprocess.TimeoutExpired:
                self.turn.kill()
                self.turn.wait()
        for ns in (self.node, self.nat, self.pub):
            ns.delete()
        shutil.rmtree(self.tmp, ignore_errors=True)
        assert not bad, "\n".join(bad)


def lab_fixture(kind):
    @pytest.fixture
    def fx(request):
        lab = Lab()
        try:
            lab.build(kind)
            lab.start_servers()
            lab.up()
            yield lab
        finally:
            rep = getattr(request.node, "rep_call", None)
            lab.close(rep is not None and rep.failed)
    return fx


easy_lab = lab_fixture("easy")
hard_lab = lab_fixture("hard")
blocked_lab = lab_fixture("blocked")


def endpoints_at_control(lab):
    n = lab.tc.node("nc")
    return list(zip(n["endpoints"], n.get("endpoint_types") or []))


def test_easy_nat(easy_lab):
    lab = easy_lab
    r = lab.netcheck()
    assert r["UDP"] is True and r["IPv4"] is True
    assert r["GlobalV4"] == f"{NAT_OUT}:{PORT}"
    assert r["MappingVariesByDestIP"] is False
    lat = {int(k): v for k, v in r["RegionLatency"].items()}
    # Each region answered, coturn's (a real STUN server) too; the
    # delay shows in the latencies.
    assert set(lat) == {900, 901, 902}, lat
    assert lat[900] >= 80e6 and lat[902] < 40e6 and lat[901] < 40e6, lat
    # The lowest latency x RegionScore: 902, not coturn's 901 (x1000).
    assert r["PreferredDERP"] == 902
    # IPv6 is routed: STUN sees the node's own address and port.
    assert r["IPv6"] is True and r["GlobalV6"] == f"[{NODE6}]:{PORT}"
    assert set(r["RegionV6Latency"]) == {"900", "901", "902"}, r

    text = lab.netcheck_text()
    assert "\t* UDP: true\n" in text
    assert f"\t* IPv4: yes, {NAT_OUT}:{PORT}\n" in text
    assert f"\t* IPv6: yes, [{NODE6}]:{PORT}\n" in text
    assert "\t* MappingVariesByDestIP: false\n" in text
    assert "\t* Nearest DERP: Test B\n" in text
    lines = re.findall(r"\t\t- +(\w+): (\S+) +\((.*)\)", text)
    assert [x[0] for x in lines][2] == "ta", text
    assert sorted(x[0] for x in lines) == ["ct", "ta", "tb"], text

    # The home DERP connection moved to the nearest region.
    wait_for(lambda: 'DERP: home region 902 "tb"' in lab.suite.logs(), 10,
             "home region 902")
    # Control got the STUN endpoint (type 2) before the local one
    # (type 1), and NetInfo.
    want = (f"{NAT_OUT}:{PORT}", 2)
    wait_for(lambda: want in endpoints_at_control(lab), 10,
             "STUN endpoint at control")
    eps = endpoints_at_control(lab)
    assert eps[0] == want and (f"10.201.0.2:{PORT}", 1) in eps, eps
    assert eps[1] == (f"[{NODE6}]:{PORT}", 2), eps
    assert not any(t == 4 for _, t in eps), eps
    ni = lab.tc.node("nc")["hostinfo"]["NetInfo"]
    assert ni["PreferredDERP"] == 902
    assert ni["WorkingUDP"] is True and ni["WorkingIPv6"] is True
    assert ni["OSHasIPv6"] is True and ni["WorkingICMPv4"] is False
    assert ni["MappingVariesByDestIP"] is False
    assert set(ni["DERPLatency"]) == {"900-v4", "901-v4", "902-v4",
                                      "900-v6", "901-v6", "902-v6"}
    assert ni["DERPLatency"]["900-v4"] >= 0.08


def test_hard_nat(hard_lab):
    lab = hard_lab
    r = lab.netcheck()
    assert r["UDP"] is True
    assert r["GlobalV4"].startswith(NAT_OUT + ":")
    assert r["MappingVariesByDestIP"] is True
    assert "\t* MappingVariesByDestIP: true\n" in lab.netcheck_text()
    # Hard NAT: STUN's address with the local port as a guess (type 4).
    want = (f"{NAT_OUT}:{PORT}", 4)
    wait_for(lambda: want in endpoints_at_control(lab), 10,
             "STUN4LocalPort endpoint at control")
    assert lab.tc.node("nc")["hostinfo"]["NetInfo"][
        "MappingVariesByDestIP"] is True


def test_udp_blocked(blocked_lab):
    """No STUN answer: each region with a DERP server is measured over
    HTTPS (GET /derp/latency-check on a TLS connection, as tailscale's
    netcheck), so the node still gets latencies and a home by them."""
    lab = blocked_lab
    probes = lab.derp.counter("probe_requests")
    r = lab.netcheck()
    assert r["UDP"] is False and r["GlobalV4"] == "" and r["GlobalV6"] == ""
    assert r["MappingVariesByDestIP"] is None
    # coturn's region (STUN only) has no DERP server to ask.
    lat = {int(k): v for k, v in r["RegionLatency"].items()}
    assert set(lat) == {900, 902}, r
    # 900's server answers 80 ms late: the request is timed, not the
    # TCP/TLS set-up.
    assert lat[900] >= 80e6 and lat[902] < 40e6, lat
    assert r["RegionV4Latency"] == {} and r["RegionV6Latency"] == {}, r
    assert r["IPv4"] is True and r["IPv6"] is False   # as tailscale sets it
    assert r["PreferredDERP"] == 902
    # One request per region per full run.
    assert lab.derp.counter("probe_requests") - probes == 2
    text = lab.netcheck_text()
    assert "\t* UDP: false\n" in text
    assert "\t* IPv4: (no addr found)\n" in text
    assert "\t* IPv6: no, but OS has support\n" in text
    assert "\t* Nearest DERP: Test B\n" in text
    lines = re.findall(r"\t\t- +(\w+): (\S*) *\((.*)\)", text)
    assert [x[0] for x in lines] == ["tb", "ta", "ct"], text
    assert lines[2][1] == "", text      # no latency for coturn's region
    nc = lab.suite.status()["wireguard"]["netcheck"]
    assert nc["https_rx"] >= 4 and nc["rx"] == 0, nc
    assert "HTTPS latency checks" in lab.suite.cli("status").stdout
    # The home follows the measurement and DERP (over TCP) connects.
    key = bytes.fromhex(lab.tc.node("nc")["node_key"].split(":", 1)[1])
    wait_for(lambda: lab.derp.connected(key), 15, "DERP over TCP")
    wait_for(lambda: 'DERP: home region 902 "tb"' in lab.suite.logs(), 10,
             "home region 902")
    eps = endpoints_at_control(lab)
    assert eps and all(t == 1 for _, t in eps), eps
    wait_for(lambda: lab.tc.node("nc")["hostinfo"]["NetInfo"].get(
        "WorkingUDP") is False, 10, "WorkingUDP false at control")
    wait_for(lambda: lab.tc.node("nc")["hostinfo"]["NetInfo"].get(
        "PreferredDERP") == 902, 10, "PreferredDERP at control")


def test_udp_blocked_https_check_is_bounded(blocked_lab):
    """A region whose HTTPS check does not answer gets no latency; the
    check ends with the run, 5 s after it started (ReportTimeout), and
    is counted as failed."""
    lab = blocked_lab
    lab.netcheck()
    before = lab.suite.status()["wireguard"]["netcheck"]
    lab.derp._in_loop(lambda: lab.derp.server.probe_delay.update(
        {DERP_B: 30}))
    t0 = time.monotonic()
    r = lab.netcheck()
    took = time.monotonic() - t0
    assert r["UDP"] is False
    assert set(r["RegionLatency"]) == {"900"}, r
    assert 4.5 < took < 7.5, took
    after = lab.suite.status()["wireguard"]["netcheck"]
    assert after["https_tx"] - before["https_tx"] == 2, (before, after)
    assert after["https_rx"] - before["https_rx"] == 1, (before, after)
    assert after["https_errors"] - before["https_errors"] == 1
    assert ("netcheck: HTTPS latency of region 902: no answer in time"
            in lab.suite.logs())
    # A refusal (a middlebox, most likely) is no latency either.
    lab.derp._in_loop(lambda: (lab.derp.server.probe_delay.clear(),
                               lab.derp.server.probe_status.update(
                                   {DERP_A: 403})))
    r = lab.netcheck()
    assert set(r["RegionLatency"]) == {"902"}, r
    assert "netcheck: HTTPS latency of region 900: HTTP status 403" in \
        lab.suite.logs()
    netd = lab.suite.procs()["netd"]
    assert netd["state"] == "running" and netd["restarts"] == 0


def test_garbage_stun_answers_are_counted(easy_lab):
    lab = easy_lab
    lab.netcheck()
    c0 = lab.suite.status()["wireguard"]["netcheck"]
    assert c0["runs_full"] >= 1 and c0["tx"] > 0 and c0["rx"] > 0, c0
    # Every kind of bad answer from the relay's STUN server: netd counts
    # and ignores them; coturn's answers still make the report.
    # Random bytes and a Binding Error Response are not Binding
    # messages, so the demultiplexer counts them with WireGuard's junk.
    rises = {}
    for fault, kind in (("wrong_txid", "rx_ignored"), ("garbage", "wg"),
                        ("bad_attr_len", "rx_bad"), ("truncated", "rx_bad"),
                        ("bad_family", "rx_bad"), ("error_response", "wg")):
        wg = lab.suite.status()["wireguard"]
        before = dict(wg["netcheck"], wg=wg["counters"]["rx_bad"])
        # More than a full run's 3 tries to each of the two regions.
        lab.derp.inject_stun_fault(fault, count=20)
        r = lab.netcheck()
        lab.derp._in_loop(lab.derp.stun_faults.clear)
        assert r["UDP"] is True
        assert set(r["RegionLatency"]) == {"901"}, (fault, r)
        wg = lab.suite.status()["wireguard"]
        after = dict(wg["netcheck"], wg=wg["counters"]["rx_bad"])
        rises[fault] = after[kind] - before[kind]
        assert after["rx"] > before["rx"], (fault, before, after)
    assert all(n > 0 for n in rises.values()), rises
    logs = lab.suite.logs()
    m = re.findall(r"netcheck: .*ignored (\d+), bad (\d+)", logs)
    ignored, bad = (int(x) for x in m[-1])
    assert ignored > 0 and bad > 0, m[-1]
    st = lab.suite.status()["wireguard"]["netcheck"]
    text = lab.suite.cli("status").stdout
    assert (f"netcheck: {st['runs_full'] + st['runs_incremental']} runs "
            f"({st['runs_full']} full); STUN {st['tx']} sent "
            f"({st['tx_errors']} failed), {st['rx']} answers, "
            f"{st['rx_ignored']} ignored, {st['rx_bad']} unparsable\n"
            ) in text, text
    netd = [p for p in lab.suite.status()["processes"]
            if p["name"] == "netd"][0]
    assert netd["state"] == "running" and netd["restarts"] == 0


def test_periodic_restun_is_incremental_and_quiet(easy_lab):
    """With a peer (magicsock re-STUNs only then), every 20-26 s an
    incremental run (the home region and the fastest ones, not every try
    of every region); an unchanged result sends control nothing."""
    lab = easy_lab
    lab.tc.fake_nodes(1, user="alice")
    wait_for(lambda: re.search(r"tailnet: generation \d+ applied: 1 peers",
                               lab.suite.logs()), 10, "a peer in netd")
    lab.netcheck()
    wait_for(lambda: lab.tc.node("nc")["hostinfo"].get("NetInfo", {}).get(
        "PreferredDERP") == 902, 10, "NetInfo at control")
    updates = lab.tc.counters().get("map_updates", 0)
    runs = re.compile(r"netcheck: (full|incremental) .*\(sent (\d+),")
    before = runs.findall(lab.suite.logs())
    wait_for(lambda: len(runs.findall(lab.suite.logs())) > len(before),
             30, "a periodic run")
    kind, sent = runs.findall(lab.suite.logs())[len(before)]
    assert kind == "incremental"
    # Incremental on this dual-stack node: 2 tries per family to home
    # 902 and the next fastest (the second try goes out at 1.2 x the last
    # latency, so it may leave before the answer), one family once to
    # the third; a full run could send 3 tries x 2 families x 3 regions.
    assert 5 <= int(sent) - int(before[-1][1]) <= 9, (before[-1], sent)
    assert lab.tc.counters().get("map_updates", 0) == updates


def test_netcheck_before_login():
    """Without a DERP map there is nothing to probe: a clear error, and
    netd keeps running."""
    ns = Netns()
    s = None
    try:
        s = Suite(ns).start()
        r = s.cli("netcheck", check=False)
        assert r.returncode == 1
        assert r.stderr.strip() in ("privmesh: no DERP map yet",
                                    "privmesh: no UDP socket yet"), r.stderr
        netd = [p for p in s.status()["processes"] if p["name"] == "netd"][0]
        assert netd["state"] == "running" and netd["restarts"] == 0
    finally:
        if s is not None:
            s.stop()
            s.cleanup()
        ns.delete()
