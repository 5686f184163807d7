"""privd's routing, exit node, subnet router and firewall, end to end with
two privmesh nodes in plain-WireGuard mode.

    netns C (client)          netns R (router, "internet")      netns H
    (IPv6 alongside: 2001:db8:1::/64 C-R, 2001:db8:2::/64 E-R,
     2001:db8:3::/64 H-R; HTTP on :8086 there)
    lan0 198.51.100.1/24 ---- 198.51.100.254  (HTTP :8080)
    tunnel pmc*: 100.64.0.1   192.0.2.254 ----------- netns E (exit node)
                              203.0.113.254 ---- 203.0.113.10  (HTTP :8080)
                                                  wan0 192.0.2.1/24
                                                  tunnel pme*: 100.64.0.2
                                                  sub0 10.77.0.1/24 ---- netns S
                                                                10.77.0.2 (HTTP :8080,
                                                                no route back)

Every HTTP endpoint answers with the address it saw the caller come from.
C's WireGuard peer is E (endpoint 192.0.2.1); E's peer is C.
"""
import os
import re
import signal
import subprocess
import tempfile
import time
import uuid

import pytest

from pmtest import Netns, Suite, pid_alive, sh, wait_for
from wgpeer import genkey

# IPv4 on :8080; IPv6 (v6-only) on :8086.
HTTPD = (
    "import http.server as h, socket, threading\n"
    "class H(h.BaseHTTPRequestHandler):\n"
    "  def do_GET(s):\n"
    "    b=s.client_address[0].encode(); s.send_response(200)\n"
    "    s.send_header('Content-Length',str(len(b))); s.end_headers(); s.wfile.write(b)\n"
    "  def log_message(s,*a): pass\n"
    "class S6(h.HTTPServer):\n"
    "  address_family=socket.AF_INET6\n"
    "  def server_bind(s):\n"
    "    s.socket.setsockopt(socket.IPPROTO_IPV6,socket.IPV6_V6ONLY,1)\n"
    "    super().server_bind()\n"
    "threading.Thread(target=S6(('::',8086),H).serve_forever,daemon=True).start()\n"
    "h.HTTPServer(('0.0.0.0',8080),H).serve_forever()\n")

FETCH = (
    "import sys,urllib.request\n"
    "print(urllib.request.urlopen('http://%s/', timeout=%d).read().decode())\n")

SYSCTLS = ("/proc/sys/net/ipv4/ip_forward",
           "/proc/sys/net/ipv6/conf/all/forwarding")


def veth(a, an, b, bn):
    sh("ip", "link", "add", an, "netns", a.name, "type", "veth", "peer",
       "name", bn, "netns", b.name)
    a.run("ip", "link", "set", an, "up")
    b.run("ip", "link", "set", bn, "up")


def same(a, b):
    """Snapshots equal; the assertion message is a diff."""
    import difflib
    diff = []
    for k in a:
        if a[k] != b[k]:
            diff += [f"--- {k}"] + list(difflib.unified_diff(
                a[k].splitlines(), b[k].splitlines(), lineterm=""))
    assert not diff, "\n".join(diff)
    return True


def snapshot(ns):
    """Everything privd may touch, as text."""
    out = {}
    for k, cmd in {"rule4": ("ip", "-4", "rule"), "rule6": ("ip", "-6", "rule"),
                   "route4": ("ip", "-4", "route", "show", "table", "all"),
                   "route6": ("ip", "-6", "route", "show", "table", "all"),
                   "nft": ("nft", "list", "ruleset")}.items():
        out[k] = ns.run(*cmd).stdout
    for p in SYSCTLS:
        out[p] = ns.run("cat", p).stdout
    return out


class Net:
    def __init__(self):
        self.servers, self.suites, self.nss = [], {}, []
        try:
            self._build()
        except BaseException:
            self.cleanup()
            raise

    def _build(self):
        self.tag = uuid.uuid4().hex[:6]
        self.dir = tempfile.mkdtemp(prefix="pm-privd-")
        os.chmod(self.dir, 0o755)
        for _ in range(5):
            self.nss.append(Netns())
        self.c, self.r, self.e, self.h, self.s = self.nss
        r = self.r
        veth(self.c, "lan0", r, "rc")
        veth(self.e, "wan0", r, "re")
        veth(self.h, "eth0", r, "rh")
        veth(self.e, "sub0", self.s, "eth0")
        self.c.run("ip", "addr", "add", "198.51.100.1/24", "dev", "lan0")
        r.run("ip", "addr", "add", "198.51.100.254/24", "dev", "rc")
        self.e.run("ip", "addr", "add", "192.0.2.1/24", "dev", "wan0")
        r.run("ip", "addr", "add", "192.0.2.254/24", "dev", "re")
        self.h.run("ip", "addr", "add", "203.0.113.10/24", "dev", "eth0")
        r.run("ip", "addr", "add", "203.0.113.254/24", "dev", "rh")
        self.e.run("ip", "addr", "add", "10.77.0.1/24", "dev", "sub0")
        self.s.run("ip", "addr", "add", "10.77.0.2/24", "dev", "eth0")
        for ns, dev, a in ((self.c, "lan0", "2001:db8:1::1"),
                           (r, "rc", "2001:db8:1::fe"),
                           (self.e, "wan0", "2001:db8:2::1"),
                           (r, "re", "2001:db8:2::fe"),
                           (self.h, "eth0", "2001:db8:3::10"),
                           (r, "rh", "2001:db8:3::fe")):
            ns.run("ip", "addr", "add", a + "/64", "dev", dev, "nodad")
        r.run("sysctl", "-qw", "net.ipv4.ip_forward=1")
        r.run("sysctl", "-qw", "net.ipv6.conf.all.forwarding=1")
        self.c.run("ip", "-6", "route", "add", "default", "via",
                   "2001:db8:1::fe")
        self.e.run("ip", "-6", "route", "add", "default", "via",
                   "2001:db8:2::fe")
        self.h.run("ip", "-6", "route", "add", "default", "via",
                   "2001:db8:3::fe")
        self.c.run("ip", "route", "add", "default", "via", "198.51.100.254")
        self.e.run("ip", "route", "add", "default", "via", "192.0.2.254")
        self.h.run("ip", "route", "add", "default", "via", "203.0.113.254")
        for ns in (self.h, self.r, self.s):
            self.servers.append(subprocess.Popen(
                ["ip", "netns", "exec", ns.name, "/usr/bin/python3", "-c",
                 HTTPD], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        for ns, addr in ((self.h, "203.0.113.10"), (self.r, "198.51.100.254"),
                         (self.s, "10.77.0.2")):
            wait_for(lambda: ":8080 " in ns.run("ss", "-ltnH").stdout and
                     ":8086 " in ns.run("ss", "-ltnH").stdout,
                     what=f"HTTP endpoint {addr}")
        # Link-local addresses finish DAD (and get their local routes)
        # before anything is measured against a snapshot.
        for ns in self.nss:
            wait_for(lambda: not ns.run("ip", "-6", "addr", "show",
                                        "tentative").stdout,
                     what="IPv6 DAD")
        self.c_priv, self.c_pub = genkey()
        self.e_priv, self.e_pub = genkey()

    def conf(self, name, priv, addr, peer_pub, allowed, endpoint=None):
        lines = ["[Interface]", f"PrivateKey = {priv}", "ListenPort = 51820",
                 f"Address = {addr}", "", "[Peer]", f"PublicKey = {peer_pub}",
                 f"AllowedIPs = {allowed}"]
        if endpoint:
            lines += [f"Endpoint = {endpoint}", "PersistentKeepalive = 1"]
        path = os.path.join(self.dir, name + ".conf")
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        os.chmod(path, 0o600)
        return path

    def start_exit(self, *args):
        conf = self.conf("pme" + self.tag, self.e_priv,
                         "100.64.0.2/32, fd7a:115c:a1e0::2/128", self.c_pub,
                         "100.64.0.1/32, fd7a:115c:a1e0::1/128")
        s = Suite(self.e, ["--wg-config", conf, *args])
        self.suites["e"] = s
        return self.applied(s.start())

    def start_client(self, *args, allowed="0.0.0.0/0, ::/0"):
        conf = self.conf("pmc" + self.tag, self.c_priv,
                         "100.64.0.1/32, fd7a:115c:a1e0::1/128", self.e_pub,
                         allowed, endpoint="192.0.2.1:51820")
        s = Suite(self.c, ["--wg-config", conf, *args])
        self.suites["c"] = s
        return self.applied(s.start())

    @staticmethod
    def applied(s):
        """Until privd has installed the interface netd sent it."""
        wait_for(lambda: ": listening on UDP " in s.logs(),
                 what="the interface to be applied")
        return s

    def fetch(self, ns, addr, timeout=5, check=True):
        where = f"[{addr}]:8086" if ":" in addr else f"{addr}:8080"
        r = ns.run("/usr/bin/python3", "-c", FETCH % (where, timeout),
                   check=check)
        return r.stdout.strip() if r.returncode == 0 else None

    def fetch_eventually(self, ns, addr, timeout=15):
        deadline = time.time() + timeout
        while time.time() < deadline:
            got = self.fetch(ns, addr, timeout=2, check=False)
            if got:
                return got
        raise AssertionError(f"no answer from {addr}")

    def cleanup(self):
        try:
            for s in self.suites.values():
                s.cleanup()
        finally:
            for p in self.servers:
                p.kill()
                p.wait()
            for ns in self.nss:
                ns.delete()
            sh("rm", "-rf", self.dir)


@pytest.fixture
def net(request):
    n = Net()
    yield n
    if getattr(request.node, "rep_call", None) and request.node.rep_call.failed:
        import sys
        for k, s in n.suites.items():
            sys.stderr.write(f"---- privd log ({k}) ----\n{s.logs()}")
    n.cleanup()


def test_exit_node_carries_internet_traffic(net):
    net.start_exit("--exit-node")
    net.start_client()
    assert net.fetch_eventually(net.c, "203.0.113.10") == "192.0.2.1"
    # The client's layout, tailscaled-style.
    rules = net.c.run("ip", "rule").stdout
    for want in ("5210:\tfrom all fwmark 0x80000/0xff0000 lookup main",
                 "5230:\tfrom all fwmark 0x80000/0xff0000 lookup default",
                 "5250:\tfrom all fwmark 0x80000/0xff0000 unreachable",
                 "5270:\tfrom all lookup 52"):
        assert want in rules
    assert "5270:\tfrom all lookup 52" in net.c.run("ip", "-6", "rule").stdout
    assert net.c.run("ip", "route", "show", "table", "52").stdout.startswith(
        "default dev pmc")
    # The exit node forwards and masquerades with its own table.
    assert net.e.run("cat", SYSCTLS[0]).stdout.strip() == "1"
    assert net.e.run("cat", SYSCTLS[1]).stdout.strip() == "1"
    nft = net.e.run("nft", "list", "table", "inet", "privmesh").stdout
    assert "masquerade" in nft and "100.64.0.0/10" in nft
    assert "fd7a:115c:a1e0::/48" in nft


def test_exit_node_carries_ipv6_too(net):
    net.start_exit("--exit-node")
    net.start_client()
    assert net.fetch_eventually(net.c, "2001:db8:3::10") == "2001:db8:2::1"
    assert net.c.run("ip", "-6", "route", "show", "table",
                     "52").stdout.startswith("default dev pmc")


def test_without_exit_node_the_host_sees_the_client(net):
    net.start_exit("--exit-node")
    net.start_client(allowed="100.64.0.2/32, fd7a:115c:a1e0::2/128")
    assert net.fetch(net.c, "203.0.113.10") == "198.51.100.1"
    assert "default" not in net.c.run("ip", "route", "show", "table",
                                      "52").stdout


def test_excluded_cidr_goes_direct(net):
    net.start_exit("--exit-node")
    net.start_client("--exclude", "203.0.113.10/32")
    assert "5260:\tfrom all to 203.0.113.10 lookup main" in net.c.run(
        "ip", "rule").stdout
    assert net.fetch_eventually(net.c, "203.0.113.10") == "198.51.100.1"
    # Everything else still goes through the exit node.
    assert net.fetch_eventually(net.c, "198.51.100.254") == "192.0.2.1"


def test_allow_lan_keeps_lan_hosts_direct(net):
    net.start_exit("--exit-node")
    net.start_client("--allow-lan")
    # The LAN neighbour sees the client itself; the internet the exit node.
    assert net.fetch_eventually(net.c, "203.0.113.10") == "192.0.2.1"
    assert net.fetch(net.c, "198.51.100.254") == "198.51.100.1"


def test_without_allow_lan_lan_traffic_uses_the_exit_node(net):
    net.start_exit("--exit-node")
    net.start_client()
    assert net.fetch_eventually(net.c, "198.51.100.254") == "192.0.2.1"


def test_subnet_router_reaches_lan_host(net):
    net.start_exit("--advertise-routes", "10.77.0.0/24")
    net.start_client(allowed="100.64.0.2/32, 10.77.0.0/24")
    # S has no route back to the tailnet: it answers the router, which
    # masquerades.
    assert net.fetch_eventually(net.c, "10.77.0.2") == "10.77.0.1"
    assert "10.77.0.0/24 dev pmc" in net.c.run(
        "ip", "route", "show", "table", "52").stdout


def test_tailnet_source_from_outside_is_dropped(net):
    net.start_exit("--exit-node")
    net.r.run("ip", "addr", "add", "100.64.0.9/32", "dev", "lo")
    r = net.r.run("ping", "-c", "2", "-W", "1", "-I", "100.64.0.9",
                  "192.0.2.1", check=False)
    assert r.returncode != 0
    nft = net.e.run("nft", "list", "chain", "inet", "privmesh",
                    "prerouting").stdout
    m = re.search(r"ip saddr 100\.64\.0\.0/10 counter packets (\d+)", nft)
    assert m and int(m.group(1)) >= 2, nft
    # The same host from its own address is answered.
    net.r.run("ping", "-c", "1", "-W", "2", "192.0.2.1")
    net.r.run("ip", "addr", "add", "fd7a:115c:a1e0::9/128", "dev", "lo",
              "nodad")
    r = net.r.run("ping", "-6", "-c", "2", "-W", "1", "-I",
                  "fd7a:115c:a1e0::9", "2001:db8:2::1", check=False)
    assert r.returncode != 0
    nft = net.e.run("nft", "list", "chain", "inet", "privmesh",
                    "prerouting").stdout
    m = re.search(r"ip6 saddr fd7a:115c:a1e0::/48 counter packets (\d+)", nft)
    assert m and int(m.group(1)) >= 2, nft
    net.r.run("ping", "-6", "-c", "1", "-W", "2", "2001:db8:2::1")


LEAK_TABLE = """table inet pmleak {
 chain post {
  type filter hook postrouting priority 0; policy accept;
  oifname "lan0" ip daddr 203.0.113.10 counter
 }
}
"""


def leaked(ns):
    out = ns.run("nft", "list", "table", "inet", "pmleak").stdout
    return int(re.search(r"counter packets (\d+)", out).group(1))


def probe(ns):
    """UDP and TCP towards the internet host, without waiting."""
    ns.run("/usr/bin/python3", "-c",
           "import socket\n"
           "u=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n"
           "for i in range(5): u.sendto(b'x',('203.0.113.10',9))\n"
           "t=socket.socket(); t.setblocking(False)\n"
           "t.connect_ex(('203.0.113.10',8080))\n", check=False)


def test_fail_closed_while_netd_restarts(net):
    net.start_exit("--exit-node")
    c = net.start_client()
    assert net.fetch_eventually(net.c, "203.0.113.10") == "192.0.2.1"
    with tempfile.NamedTemporaryFile("w", suffix=".nft") as f:
        f.write(LEAK_TABLE)
        f.flush()
        net.c.run("nft", "-f", f.name)
    table52 = net.c.run("ip", "route", "show", "table", "52").stdout
    rules = net.c.run("ip", "rule").stdout
    old = c.pid("netd")
    os.kill(old, signal.SIGKILL)
    wait_for(lambda: not pid_alive(old), what="netd to die")
    # netd is down: the tunnel's routes and rules stay, nothing leaks.
    down_probes = 0
    while c.procs()["netd"]["pid"] in (0, old) or \
            c.procs()["netd"]["state"] != "running":
        assert net.c.run("ip", "route", "show", "table", "52").stdout == table52
        assert net.c.run("ip", "rule").stdout == rules
        probe(net.c)
        down_probes += 1
    assert down_probes > 0
    assert leaked(net.c) == 0
    c.wait_running(restarts={"netd": 1})
    assert net.fetch_eventually(net.c, "203.0.113.10") == "192.0.2.1"
    assert leaked(net.c) == 0
    # The counter does see what leaves by lan0: a socket marked like
    # privmesh's own transport bypasses the tunnel.
    net.c.run("/usr/bin/python3", "-c",
              "import socket\n"
              "u=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n"
              "u.setsockopt(socket.SOL_SOCKET,socket.SO_MARK,0x80000)\n"
              "u.sendto(b'x',('203.0.113.10',9))\n")
    assert leaked(net.c) == 1
    # The restarted netd's interface changed nothing.
    assert re.findall(r"table 52, \d+ rule\(s\).*: (\d+) change", c.logs())[-1] \
        == "0"


def test_snapshots_identical_after_stop(net):
    before_c, before_e = snapshot(net.c), snapshot(net.e)
    net.start_exit("--exit-node", "--advertise-routes", "10.77.0.0/24")
    net.start_client("--allow-lan", "--exclude", "203.0.113.0/24")
    assert net.fetch_eventually(net.c, "198.51.100.254") == "198.51.100.1"
    assert snapshot(net.e) != before_e and snapshot(net.c) != before_c
    assert net.suites["c"].stop() == 0
    assert net.suites["e"].stop() == 0
    assert same(before_c, snapshot(net.c))
    assert same(before_e, snapshot(net.e))


def test_snapshots_identical_after_privd_sigkill_restart_stop(net):
    before = snapshot(net.e)
    e = net.start_exit("--exit-node")
    wait_for(lambda: "privmesh" in net.e.run("nft", "list", "tables").stdout,
             what="the exit node's nft table")
    kids = [e.pid(n) for n in ("netd", "ctrld", "dnsd")]
    e.proc.send_signal(signal.SIGKILL)
    e.proc.wait()
    wait_for(lambda: not any(pid_alive(p) for p in kids),
             what="children to exit")
    # A crash leaves rules, the nft table and the sysctls behind...
    left = snapshot(net.e)
    assert left["nft"] != before["nft"] and left[SYSCTLS[0]] == "1\n"
    assert "5270:" in left["rule4"]
    # ... which the next run puts back before it starts over.
    e.start()
    wait_for(lambda: "5270:" in net.e.run("ip", "rule").stdout,
             what="rules again")
    assert "an earlier run" in e.logs()
    assert e.stop() == 0
    assert same(before, snapshot(net.e))
