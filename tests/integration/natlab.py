"""A NAT lab for pytest: nodes behind simulated NATs, built only from
network namespaces, veth pairs, nftables and tc netem.

    lab = Lab().start()                     # the "internet", control, DERP
    a = lab.add_node("a", nat="easy", home=901)   # privd behind an easy NAT
    b = lab.add_node("b", nat="hard")
    lab.login()                             # every node joins the tailnet
    ...
    lab.cut(a, b); lab.restore(a, b)        # the direct path between NATs
    lab.set_latency(a, 40)                  # tc netem, where the kernel has it
    t = transfer(a, b, 4 << 20, rate=1 << 20); t.wait()   # SHA-256 checked
    lab.close()                             # always, even on failure

Topology (documentation addresses only; private LANs inside namespaces):

    <p>-inet   the internet: a router between every public link, hosting
               control 203.0.113.1:8080 and two DERP regions (TLS + STUN):
               901 "r1" on 203.0.113.2 and 902 "r2" on 198.51.100.2
       |-- w1 ---- wan <p>-r-a  NAT router, public 203.0.113.11 (odd n) or
       |                |         198.51.100.1n (even n)
       |               lan 10.n.0.1/24 ---- eth0 <p>-n-a  10.n.0.2, privd
       |-- w2 ---- ... (one link per node)
       `-- wN ---- eth0 <p>-n-x   a node with no NAT: the public address
                                  on its own interface

NAT kinds (nftables on the router's `wan`):
  "easy"         endpoint-independent mapping: `masquerade`, which keeps
                 the source port when it is free (41641 stays 41641)
  "hard"         endpoint-dependent mapping: `masquerade fully-random`, a
                 random public port per conntrack entry, so per destination
  "udp-blocked"  as easy, and a firewall dropping every UDP datagram
                 forwarded from or to the LAN (the node needs no DNS)
  "none"         no router: the node holds its public address
Every router drops unsolicited inbound (`ct state new` on wan): as home
routers do, and so that a peer's early probe cannot leave a conntrack
entry that would make the NAT pick another port for the node's own flow.

Namespaces are named <p>-..., <p> = "pmt-nl" + 6 hex digits: the pmt-
prefix of pmtest.Netns, so leftovers are easy to find
(`ip netns list | grep pmt-nl`); Lab.close() deletes all of them.
"""
import ipaddress
import json
import os
import subprocess
import sys
import time
import uuid

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))
from pmtest import Suite, sh, wait_for  # noqa: E402
from tests.testcontrol.harness import TestControl  # noqa: E402
from tests.testderp import TestDerp  # noqa: E402

PREFIX = "pmt-nl"
NATS = ("easy", "hard", "udp-blocked", "none")
CONTROL_IP = "203.0.113.1"
CONTROL_PORT = 8080
# (region id, code, address): two regions, so that a peer's home region
# can differ from ours.
REGIONS = ((901, "r1", "203.0.113.2"), (902, "r2", "198.51.100.2"))
GATEWAYS = {"203.0.113": "203.0.113.254", "198.51.100": "198.51.100.254"}


class NS:
    """A named network namespace (pmtest.Netns-compatible for Suite)."""

    def __init__(self, name):
        self.name = name
        sh("ip", "netns", "add", name)
        self.run("ip", "link", "set", "lo", "up")

    def run(self, *args, check=True, **kw):
        return sh("ip", "netns", "exec", self.name, *args, check=check, **kw)

    def nft(self, script):
        r = self.run("nft", "-f", "-", input=script, check=False)
        if r.returncode != 0:
            raise RuntimeError(f"nft in {self.name}: {r.stderr}\n{script}")
        return r

    def delete(self):
        sh("ip", "netns", "del", self.name, check=False)


class LabNode:
    def __init__(self, lab, name, n, nat, ns, router, public):
        self.lab, self.name, self.n, self.nat = lab, name, n, nat
        self.ns, self.router, self.public = ns, router, public
        self.suite = None

    @property
    def hostname(self):
        return "nl-" + self.name

    # -- status --------------------------------------------------------
    def status(self):
        return self.suite.status()

    def backend(self):
        return self.status()["backend"]

    def addr(self, version=4):
        return [ipaddress.ip_interface(x).ip
                for x in self.backend()["self"]["addresses"]
                if ipaddress.ip_interface(x).version == version][0]

    def peer(self, other):
        for p in self.backend().get("peers", []):
            if p["hostname"] == other.hostname:
                return p
        return None

    def path_to(self, other):
        """"direct IP:port", 'relay "code"', "idle", "-" or None."""
        p = self.peer(other)
        return p.get("path") if p else None

    def derp(self):
        """netd's DERP connections' counters by region id (status
        wireguard.derp.regions)."""
        w = self.status().get("wireguard") or {}
        return {r["region"]: r
                for r in (w.get("derp") or {}).get("regions", [])}

    def node_key(self):
        n = self.lab.control.node(self.hostname)
        return bytes.fromhex(n["node_key"].split(":", 1)[1])

    # -- traffic -------------------------------------------------------
    def ping(self, other, count=1, wait=1):
        """ICMP over the tunnel to `other`'s tailnet IPv4."""
        return self.ns.run("ping", "-c", str(count), "-W", str(wait),
                           str(other.addr(4)), check=False).returncode == 0

    def pm_ping(self, other):
        """`privmesh ping -c 1` to other's name: its stdout ("pong from
        ... via DERP(r1) in ..." or "... via 203.0.113.12:41641 in ...").
        Needs a pong."""
        r = self.suite.cli("ping", "-c", "1", other.hostname, check=False)
        usage = r.stderr + r.stdout
        # Like `tailscale ping`, it fails ("direct connection not
        # established") when the pongs came only through DERP.
        assert "pong from " in r.stdout, f"privmesh ping: {usage}"
        return r.stdout

    def logs(self):
        return self.suite.logs() if self.suite else ""


class Lab:
    def __init__(self, keepalive=2.0):
        self.id = uuid.uuid4().hex[:6]
        self.p = PREFIX + self.id
        self.keepalive = keepalive
        self.namespaces = []
        self.nodes = []
        self.derps = []
        self.control = None
        self.inet = None
        self.cuts = set()
        self.key = None

    def _ns(self, role):
        ns = NS(f"{self.p}-{role}")
        self.namespaces.append(ns)
        return ns

    # -- the internet ----------------------------------------------------
    def start(self):
        try:
            self._start()
        except BaseException:
            self.close()
            raise
        return self

    def _start(self):
        self.inet = inet = self._ns("inet")
        inet.run("sysctl", "-qw", "net.ipv4.ip_forward=1")
        for ip in [CONTROL_IP] + [r[2] for r in REGIONS]:
            inet.run("ip", "addr", "add", ip + "/32", "dev", "lo")
        inet.nft("table ip natlab_cut {\n"
                 " chain cut { type filter hook forward priority 0; }\n}\n")
        dmap = {"Regions": {}}
        for rid, code, ip in REGIONS:
            d = TestDerp(ns=inet.name, addr=ip, http_port=None,
                         tls_port=443, stun_port=3478, region_id=rid,
                         region_code=code).start()
            self.derps.append(d)
            dmap["Regions"].update(d.derp_map()["Regions"])
        self.derpmap = dmap
        self.control = TestControl(addr=f"{CONTROL_IP}:{CONTROL_PORT}",
                                   ns=inet.name, keepalive=self.keepalive,
                                   derpmap=dmap)
        self.control.start()

    def derp(self, region):
        """The TestDerp of region id `region`."""
        return [d for d in self.derps if d.region_id == region][0]

    # -- nodes -------------------------------------------------------------
    def add_node(self, name, nat="easy", start=True, home=None):
        """A node behind a NAT of kind `nat`, its privd started unless
        start=False.  home: a region ID made its home DERP region whoever
        chooses (control's HomeDERP, set at login; STUN to the other
        regions dropped from the start, for netcheck)."""
        if nat not in NATS:
            raise ValueError(f"nat must be one of {NATS}")
        n = len(self.nodes) + 1
        public = (f"203.0.113.{10 + n}" if n % 2 else
                  f"198.51.100.{10 + n}")
        gw = GATEWAYS[public.rsplit(".", 1)[0]]
        node_ns = self._ns(f"n-{name}")
        outer = node_ns
        router = None
        if nat != "none":
            router = outer = self._ns(f"r-{name}")
        link = f"w{n}"
        sh("ip", "-n", self.inet.name, "link", "add", link, "type", "veth",
           "peer", "name", "wan", "netns", outer.name)
        self.inet.run("ip", "addr", "add", gw + "/32", "dev", link)
        self.inet.run("ip", "link", "set", link, "up")
        self.inet.run("ip", "route", "add", public + "/32", "dev", link)
        outer.run("ip", "addr", "add", public + "/32", "dev", "wan")
        outer.run("ip", "link", "set", "wan", "up")
        outer.run("ip", "route", "add", gw + "/32", "dev", "wan")
        outer.run("ip", "route", "add", "default", "via", gw, "dev", "wan")
        if router is not None:
            self._router(router, node_ns, n, nat)
        node = LabNode(self, name, n, nat, node_ns, router, public)
        node.home = home
        if home is not None:
            self._pin_stun(node, home)
        self.nodes.append(node)
        if start:
            node.suite = Suite(node_ns)
            node.suite.start()
        return node

    def _router(self, r, node_ns, n, nat):
        lan_ip, node_ip = f"10.{n}.0.1", f"10.{n}.0.2"
        r.run("sysctl", "-qw", "net.ipv4.ip_forward=1")
        sh("ip", "-n", r.name, "link", "add", "lan", "type", "veth",
           "peer", "name", "eth0", "netns", node_ns.name)
        r.run("ip", "addr", "add", lan_ip + "/24", "dev", "lan")
        r.run("ip", "link", "set", "lan", "up")
        node_ns.run("ip", "addr", "add", node_ip + "/24", "dev", "eth0")
        node_ns.run("ip", "link", "set", "eth0", "up")
        node_ns.run("ip", "route", "add", "default", "via", lan_ip)
        masq = "masquerade fully-random" if nat == "hard" else "masquerade"
        block = ("  meta l4proto udp counter drop\n"
                 if nat == "udp-blocked" else "")
        r.nft("table ip natlab {\n"
              " chain nat_out { type nat hook postrouting priority 100;\n"
              f"  oifname \"wan\" {masq}\n }}\n"
              " chain guard_in { type filter hook input priority 0;\n"
              "  iifname \"wan\" ct state new counter drop\n }\n"
              " chain guard_fwd { type filter hook forward priority 0;\n"
              f"{block}"
              "  iifname \"wan\" ct state new counter drop\n }\n"
              "}\n")

    def login(self, nodes=None, timeout=20):
        """Every node (or those given) joins the tailnet with one key."""
        if self.key is None:
            self.key = self.control.preauth_key(user="alice", reusable=True)
        for node in nodes or self.nodes:
            node.suite.cli("up", "--login-server", self.control.url,
                           "--auth-key", self.key, "--hostname",
                           node.hostname, "--timeout", str(timeout))
            if node.home is not None:
                self.control.set_home_derp(node.hostname, node.home)

    def _pin_stun(self, node, region):
        """STUN from privmesh's port 41641 to every region but `region`
        dropped, so that a latency-based home choice (netcheck) can only
        find that one.  Before the node's first netcheck: a home once
        chosen sticks while its DERP connection lives, as tailscale's
        does."""
        others = ", ".join(ip for rid, _, ip in REGIONS if rid != region)
        hook, where = (("forward", node.router) if node.router else
                       ("output", node.ns))
        where.nft("table ip natlab_pin {\n"
                  f" chain pin {{ type filter hook {hook} priority 0;\n"
                  f"  udp sport 41641 ip daddr {{ {others} }} "
                  "udp dport 3478 counter drop\n }\n}\n")

    def home(self, node):
        """node's home region as its netd reports it, or None."""
        for rid, r in node.derp().items():
            if r["home"]:
                return rid
        return None

    # -- impairments -------------------------------------------------------
    def cut(self, a, b):
        """Drops UDP between a's and b's public addresses, both ways (in the
        internet, so DERP over TCP still works)."""
        self.cuts.add(frozenset((a.public, b.public)))
        self._apply_cuts()

    def restore(self, a, b):
        self.cuts.discard(frozenset((a.public, b.public)))
        self._apply_cuts()

    def _apply_cuts(self):
        self.dropped = self.cut_drops()     # the counters go with the flush
        rules = "".join(
            f"add rule ip natlab_cut cut ip saddr {x} ip daddr {y} "
            f"meta l4proto udp counter drop\n"
            for pair in sorted(self.cuts, key=sorted)
            for x, y in (sorted(pair), sorted(pair)[::-1]))
        self.inet.nft("flush chain ip natlab_cut cut\n" + rules)

    def cut_drops(self):
        """UDP datagrams the cuts dropped so far (all cuts, ever)."""
        out = self.inet.run("nft", "-j", "list", "chain", "ip",
                            "natlab_cut", "cut").stdout
        return getattr(self, "dropped", 0) + sum(
            e["counter"]["packets"]
            for x in json.loads(out)["nftables"] if "rule" in x
            for e in x["rule"]["expr"] if "counter" in e)

    def netem_available(self):
        """Whether the kernel has sch_netem (some CI kernels do not)."""
        ns = self.inet
        ns.run("ip", "link", "add", "nt0", "type", "veth", "peer", "name",
               "nt1")
        try:
            return ns.run("tc", "qdisc", "add", "dev", "nt0", "root",
                          "netem", "delay", "1ms",
                          check=False).returncode == 0
        finally:
            ns.run("ip", "link", "del", "nt0", check=False)

    def set_latency(self, node, ms, to=None):
        """One-way delay of `ms` on node's public link, both directions;
        with `to` (an IP), only for traffic to and from that address.
        Raises RuntimeError where the kernel has no netem."""
        if not self.netem_available():
            raise RuntimeError("this kernel has no sch_netem: no latency")
        outer = node.router or node.ns
        for ns, dev, key in ((outer, "wan", "dst"),
                             (self.inet, f"w{node.n}", "src")):
            ns.run("tc", "qdisc", "del", "dev", dev, "root", check=False)
            if to is None:
                ns.run("tc", "qdisc", "add", "dev", dev, "root", "netem",
                       "delay", f"{ms}ms")
                continue
            tc = ("tc", "-n", ns.name)
            sh(*tc, "qdisc", "add", "dev", dev, "root", "handle", "1:",
               "htb", "default", "10")
            for cls in ("1:10", "1:30"):
                sh(*tc, "class", "add", "dev", dev, "parent", "1:",
                   "classid", cls, "htb", "rate", "10gbit")
            sh(*tc, "qdisc", "add", "dev", dev, "parent", "1:30",
               "handle", "30:", "netem", "delay", f"{ms}ms")
            sh(*tc, "filter", "add", "dev", dev, "parent", "1:",
               "protocol", "ip", "prio", "1", "u32", "match", "ip", key,
               f"{to}/32", "flowid", "1:30")

    # -- teardown ------------------------------------------------------------
    def sanitizer_errors(self):
        bad = []
        for node in self.nodes:
            bad += [ln for ln in node.logs().splitlines()
                    if "runtime error:" in ln or
                    "ERROR: AddressSanitizer" in ln]
        return bad

    def dump_logs(self, out=sys.stderr):
        for node in self.nodes:
            out.write(f"---- {node.hostname} ({node.nat}) privd log ----\n"
                      + node.logs())
        if self.control is not None:
            out.write("---- testcontrol log ----\n" + self.control.logs())

    def close(self):
        """Stops everything and deletes every namespace; safe to call
        twice and after a failed start."""
        for node in self.nodes:
            if node.suite is not None:
                try:
                    node.suite.stop()
                except Exception:       # noqa: BLE001 (teardown goes on)
                    pass
        self.errors = self.sanitizer_errors()
        for node in self.nodes:
            if node.suite is not None:
                node.suite.cleanup()
                node.suite = None
        if self.control is not None:
            self.control.cleanup()
            self.control = None
        for d in self.derps:
            d.stop()
        self.derps = []
        for ns in reversed(self.namespaces):
            ns.delete()
        self.namespaces = []


# -- a checksummed TCP transfer over the tunnel -------------------------------

_RECEIVER = r"""
import hashlib, socket, sys
s = socket.socket(socket.AF_INET6 if ':' in sys.argv[1] else socket.AF_INET)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2]))); s.listen(1)
s.settimeout(float(sys.argv[3]))
print('listening', flush=True)
c, _ = s.accept(); c.settimeout(float(sys.argv[3]))
h = hashlib.sha256(); n = 0
while True:
    b = c.recv(65536)
    if not b:
        break
    h.update(b); n += len(b)
print(n, h.hexdigest(), flush=True)
"""

# Random data of argv[3] bytes at argv[4] bytes/s (0: as fast as it goes),
# hashed as it is sent.
_SENDER = r"""
import hashlib, os, socket, sys, time
size, rate = int(sys.argv[3]), float(sys.argv[4])
c = socket.create_connection((sys.argv[1], int(sys.argv[2])),
                             timeout=float(sys.argv[5]))
h = hashlib.sha256(); n = 0; t0 = time.monotonic()
while n < size:
    b = os.urandom(min(16384, size - n))
    c.sendall(b); h.update(b); n += len(b)
    if rate > 0:
        ahead = n / rate - (time.monotonic() - t0)
        if ahead > 0:
            time.sleep(ahead)
c.shutdown(socket.SHUT_WR)
c.recv(1)
c.close()
print(n, h.hexdigest(), flush=True)
"""


class Transfer:
    """A TCP stream of random bytes from src to dst's tailnet IPv4; the
    sender and receiver run in the nodes' namespaces and both hash what
    they saw.  wait() returns ((sent, sha256), (received, sha256))."""

    def __init__(self, src, dst, size, rate=0, port=5201, timeout=120):
        self.size, self.timeout = size, timeout
        ip = str(dst.addr(4))
        self.rx = subprocess.Popen(
            ["ip", "netns", "exec", dst.ns.name, "/usr/bin/python3", "-c",
             _RECEIVER, ip, str(port), str(timeout)],
            stdout=subprocess.PIPE, text=True)
        line = self.rx.stdout.readline().strip()
        if line != "listening":
            self.rx.kill()
            raise AssertionError(f"receiver did not start: {line!r}")
        self.t0 = time.monotonic()
        self.tx = subprocess.Popen(
            ["ip", "netns", "exec", src.ns.name, "/usr/bin/python3", "-c",
             _SENDER, ip, str(port), str(size), str(rate), str(timeout)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.seconds = None

    def done(self):
        return self.tx.poll() is not None

    def wait(self):
        try:
            out, err = self.tx.communicate(timeout=self.timeout)
            assert self.tx.returncode == 0, f"sender failed: {err}"
            got, _ = self.rx.communicate(timeout=self.timeout)
        finally:
            for p in (self.tx, self.rx):
                if p.poll() is None:
                    p.kill()
                    p.wait()
        self.seconds = time.monotonic() - self.t0
        n, digest = out.split()
        rn, rdigest = got.split()
        return (int(n), digest), (int(rn), rdigest)


def transfer(src, dst, size=4 << 20, rate=0, port=5201, timeout=120):
    """Starts a Transfer (see there); call .wait() for the result."""
    return Transfer(src, dst, size, rate, port, timeout)


# -- raw UDP through the NATs (checks the lab itself, without privmesh) ----

# argv: local port, then IP:port:txidhex targets; sends each a Tailscale
# STUN binding request (SOFTWARE tailnode + FINGERPRINT) from that port.
_STUN = r"""
import socket, struct, sys, time, zlib
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", int(sys.argv[1])))
for t in sys.argv[2:]:
    ip, port, txid = t.split(":")
    sw = struct.pack(">HH", 0x8022, 8) + b"tailnode"
    hdr = b"\x00\x01" + struct.pack(">H", len(sw) + 8) + \
        b"\x21\x12\xa4\x42" + bytes.fromhex(txid)
    fp = (zlib.crc32(hdr + sw) & 0xFFFFFFFF) ^ 0x5354554E
    s.sendto(hdr + sw + struct.pack(">HHI", 0x8028, 4, fp), (ip, int(port)))
time.sleep(0.5)
"""

# argv: local port, peer IP, peer port: sends to the peer every 100 ms for
# 2 s while listening; prints how many datagrams came from it.
_PUNCH = r"""
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", int(sys.argv[1]))); s.settimeout(0.1)
peer = (sys.argv[2], int(sys.argv[3])); got = 0; end = time.time() + 2
while time.time() < end:
    s.sendto(b"punch", peer)
    try:
        d, a = s.recvfrom(64)
        got += a[0] == peer[0]
    except socket.timeout:
        pass
print(got, flush=True)
"""


def stun_mappings(lab, node, port):
    """node sends a STUN request from UDP `port` to each region's STUN
    server; returns {region: (ip, port) the server saw, or None}."""
    txids = {rid: os.urandom(12) for rid, _, _ in REGIONS}
    r = node.ns.run("/usr/bin/python3", "-c", _STUN, str(port), *(
        f"{ip}:{lab.derp(rid).stun_port}:{txids[rid].hex()}"
        for rid, _, ip in REGIONS), check=False)
    assert r.returncode == 0, f"STUN from {node.name}: {r.stderr}"
    out = {}
    for rid, _, _ in REGIONS:
        seen = [r for r in lab.derp(rid).stun_requests()
                if r[2] == txids[rid]]
        out[rid] = (str(seen[0][0]), seen[0][1]) if seen else None
    return out


def punch(a, b, port):
    """a and b send UDP to each other's public address and `port` at the
    same time; returns (datagrams a got from b, datagrams b got from a)."""
    procs = [subprocess.Popen(
        ["ip", "netns", "exec", x.ns.name, "/usr/bin/python3", "-c", _PUNCH,
         str(port), y.public, str(port)], stdout=subprocess.PIPE, text=True)
        for x, y in ((a, b), (b, a))]
    return tuple(int(p.communicate(timeout=20)[0]) for p in procs)


def wait_path(a, b, pred, timeout, what=None):
    """Until pred(a.path_to(b)) holds; returns that path."""
    last = []

    def check():
        p = a.path_to(b)
        last[:] = [p]
        return p if p is not None and pred(p) else None
    try:
        return wait_for(check, timeout, what or f"path {a.name}->{b.name}")
    except AssertionError as e:
        raise AssertionError(f"{e}: last path {last}") from None
