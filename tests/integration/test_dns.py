"""MagicDNS and split DNS through the TUN, with real tools.

    netns "node" ---------------------------------------------------------+
    |  dig/kdig --> 100.100.100.100:53 / [fd7a:115c:a1e0::53]:53          |
    |     route (privd) -> pm0 (TUN) -> netd intercepts -> dnsd (IPC)       |
    |                                    dnsd forwards (marked sockets):   |
    |  dnsmasq on 0.0.0.0:53 (stands in for AdGuard Home)  <-- home.arpa,  |
    |                                                          default     |
    |  127.0.0.1:5399 nothing listening (a dead upstream)                  |
    |  dnsupstream.py spoof on :5300, tc on :5301                          |
    |  pm0: 100.64.0.1/32, fd7a:115c:a1e0::1/128 (as ctrld will set them)  |
    +----------------------------------------------------------------------+

No port 53 is bound by privmesh: dnsmasq owns 0.0.0.0:53 in the same
namespace and keeps answering there.
"""
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import time

import pytest

from pmtest import Suite, pid_alive, sh, wait_for

HERE = os.path.dirname(os.path.abspath(__file__))
Q4 = "100.100.100.100"
Q6 = "fd7a:115c:a1e0::53"

CONFIG = {
    "Domains": ["tail.example"],
    "Proxied": True,
    "Routes": {
        "tail.example.": [],
        "home.arpa.": [{"Addr": "127.0.0.1"}],
        "fail.test.": [{"Addr": "127.0.0.1:5399"}, {"Addr": "127.0.0.1:53"}],
        "spoof.test.": [{"Addr": "127.0.0.1:5300"}],
        "tc.test.": [{"Addr": "127.0.0.1:5301"}],
        "big.test.": [{"Addr": "127.0.0.1:5302"}],
    },
    "Hosts": {
        "alpha.tail.example.": ["100.64.0.2", "fd7a:115c:a1e0::2"],
        "beta.tail.example.": ["100.64.0.3"],
    },
    "ExtraRecords": [
        {"Name": "db.svc.tail.example.", "Type": "A", "Value": "100.64.0.9"},
        {"Name": "printer.lan.", "Value": "fd7a:115c:a1e0::99"},
    ],
}


class Node:
    """privd with a DNS config, plus dnsmasq on 0.0.0.0:53, in one netns."""

    def __init__(self, ns, config=CONFIG, extra=(), resolv=None):
        self.ns = ns
        self.procs = []
        self.suite = Suite(ns)
        self.conf = os.path.join(self.suite.dir, "dns.json")
        with open(self.conf, "w") as f:
            json.dump(config, f)
        self.resolv = resolv or os.path.join(self.suite.dir, "resolv.conf")
        if resolv is None:
            with open(self.resolv, "w") as f:
                f.write("# host\nnameserver 127.0.0.1\n")
        self.suite.extra = ["--dns-config", self.conf, "--resolv-conf",
                            self.resolv, *extra]

    def start(self):
        self.dnsmasq()
        self.suite.start()
        # The tailnet addresses ctrld will put on the TUN.
        self.ns.run("ip", "addr", "add", "100.64.0.1/32", "dev", "pm0")
        self.ns.run("ip", "addr", "add", "fd7a:115c:a1e0::1/128", "dev", "pm0",
                    "nodad")
        wait_for(lambda: "dns-config" in self.suite.logs(), what="dnsd config")
        return self

    def dnsmasq(self):
        p = subprocess.Popen(
            ["ip", "netns", "exec", self.ns.name, "dnsmasq", "-k",
             "--conf-file=/dev/null", "--no-resolv", "--no-hosts",
             "--pid-file", "--port=53", "--user=root", "--local-ttl=300",
             "--address=/home.arpa/192.0.2.80",
             "--address=/fail.test/192.0.2.81",
             "--address=/example.org/192.0.2.82"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.procs.append(p)
        wait_for(lambda: self.dig("@127.0.0.1", "x.home.arpa", check=False)
                 .returncode == 0, what="dnsmasq")

    def upstream(self, port, mode, addr):
        p = subprocess.Popen(
            ["ip", "netns", "exec", self.ns.name, sys.executable,
             os.path.join(HERE, "dnsupstream.py"), str(port), mode, addr],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert p.stdout.readline().strip() == "ready"
        self.procs.append(p)
        return p

    def dig(self, *args, check=True):
        return self.ns.run("dig", "+time=3", "+tries=1", *args, check=check)

    def q(self, name, qtype="A", server=Q4, *opts):
        """(status, [answer rdata], [authority types], flags)"""
        out = self.dig(f"@{server}", name, qtype, "+noall", "+comments",
                       "+answer", "+authority", *opts).stdout
        status = flags = None
        ans, auth, section = [], [], None
        for line in out.splitlines():
            if "status:" in line:
                status = line.split("status:")[1].split(",")[0].strip()
            if line.startswith(";; flags:"):
                flags = line.split(";")[2].split(":")[1].strip().split()
            if line.startswith(";; ANSWER"):
                section = ans
            elif line.startswith(";; AUTHORITY"):
                section = auth
            elif line and not line.startswith(";") and section is not None:
                f = line.split()
                section.append(" ".join(f[4:]) if section is ans else f[3])
        return status, ans, auth, flags

    def cleanup(self):
        for p in self.procs:
            p.kill()
            p.wait()
        self.suite.cleanup()


@pytest.fixture
def node(netns, request):
    n = Node(netns, **getattr(request, "param", {}))
    n.start()
    yield n
    if getattr(request.node, "rep_call", None) and request.node.rep_call.failed:
        sys.stderr.write("---- privd log ----\n" + n.suite.logs())
    n.cleanup()


def test_tailnet_names(node):
    assert node.q("alpha.tail.example") == ("NOERROR", ["100.64.0.2"], [],
                                            ["qr", "aa", "rd", "ra"])
    assert node.q("alpha.tail.example", "AAAA")[1] == ["fd7a:115c:a1e0::2"]
    # case-insensitive, the question echoed as asked
    out = node.dig(f"@{Q4}", "AlPhA.TAIL.example", "+noall", "+answer").stdout
    assert out.split()[0] == "AlPhA.TAIL.example." and "100.64.0.2" in out
    # short name through the search domain
    assert node.q("alpha")[1] == ["100.64.0.2"]
    assert node.q("beta", "A")[1] == ["100.64.0.3"]
    # ExtraRecords, with and without a Type
    assert node.q("db.svc.tail.example")[1] == ["100.64.0.9"]
    assert node.q("printer.lan", "AAAA")[1] == ["fd7a:115c:a1e0::99"]
    # both families of the resolver address
    assert node.q("alpha.tail.example", "A", Q6)[1] == ["100.64.0.2"]


def test_ptr(node):
    assert node.q("2.0.64.100.in-addr.arpa", "PTR")[1] == ["alpha.tail.example."]
    st, ans, _, _ = node.q(
        "2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.e.1.a.c.5.1.1.a.7.d.f."
        "ip6.arpa", "PTR")
    assert (st, ans) == ("NOERROR", ["alpha.tail.example."])
    out = node.dig(f"@{Q4}", "-x", "100.64.0.3", "+short").stdout.split()
    assert out == ["beta.tail.example."]
    # an unknown tailnet address: NXDOMAIN with the reverse zone's SOA
    assert node.q("77.0.64.100.in-addr.arpa", "PTR")[:3] == (
        "NXDOMAIN", [], ["SOA"])


def test_negative_answers(node):
    # NXDOMAIN vs NODATA (RFC 2308), each with the zone's SOA
    assert node.q("nope.tail.example")[:3] == ("NXDOMAIN", [], ["SOA"])
    assert node.q("beta.tail.example", "AAAA")[:3] == ("NOERROR", [], ["SOA"])
    assert node.q("alpha.tail.example", "MX")[:3] == ("NOERROR", [], ["SOA"])
    # an empty non-terminal exists
    assert node.q("svc.tail.example")[:3] == ("NOERROR", [], ["SOA"])
    st, ans, _, _ = node.q("tail.example", "SOA")
    assert st == "NOERROR" and ans[0].startswith("tail.example. hostmaster")
    # zone transfers are refused
    assert node.q("tail.example", "AXFR", Q4, "+notcp")[0] == "REFUSED"


def test_edns(node):
    out = node.dig(f"@{Q4}", "alpha.tail.example").stdout
    assert "EDNS: version: 0" in out and "udp: 1232" in out
    out = node.dig(f"@{Q4}", "alpha.tail.example", "+noedns").stdout
    assert "OPT PSEUDOSECTION" not in out and "100.64.0.2" in out
    out = node.dig(f"@{Q4}", "alpha.tail.example", "+edns=1", "+noednsneg").stdout
    assert "status: BADVERS" in out


def test_tcp(node):
    for server in (Q4, Q6):
        out = node.dig(f"@{server}", "+tcp", "alpha.tail.example", "+short").stdout
        assert out.split() == ["100.64.0.2"], server
    # kdig: several queries over one connection (RFC 7766 pipelining)
    out = node.ns.run("kdig", "+tcp", "+keepopen", "+short", f"@{Q4}",
                      "alpha.tail.example", "beta.tail.example").stdout.split()
    assert out == ["100.64.0.2", "100.64.0.3"]
    # forwarded over TCP too
    out = node.dig(f"@{Q4}", "+tcp", "www.home.arpa", "+short").stdout.split()
    assert out == ["192.0.2.80"]


def test_split_dns_beside_dnsmasq_on_port_53(node):
    """home.arpa goes to the dnsmasq on 0.0.0.0:53; dnsmasq keeps answering
    on its own port at the same time, because privmesh binds no port 53."""
    assert node.q("www.home.arpa")[:2] == ("NOERROR", ["192.0.2.80"])
    assert node.dig("@127.0.0.1", "www.home.arpa", "+short").stdout.split() == \
        ["192.0.2.80"]
    port53 = [l for l in node.ns.run("ss", "-lnutpH").stdout.splitlines()
              if l.split()[4].endswith(":53")]
    assert port53 and all("dnsmasq" in l for l in port53), port53
    # everything else: the host's resolver (resolv.conf) as default upstream
    assert node.q("www.example.org")[1] == ["192.0.2.82"]
    # served from the cache the second time (dnsmasq killed in between)
    node.procs[0].kill()
    node.procs[0].wait()
    assert node.q("www.example.org")[1] == ["192.0.2.82"]


def test_failover_to_second_upstream(node):
    t = time.time()
    assert node.q("a.fail.test")[:2] == ("NOERROR", ["192.0.2.81"])
    # the first resolver timed out before the second answered
    assert time.time() - t >= 1.0


def test_spoofed_answers_ignored(node):
    node.upstream(5300, "spoof", "192.0.2.90")
    assert node.q("x.spoof.test")[:2] == ("NOERROR", ["192.0.2.90"])
    logs = node.suite.logs()
    assert "wrong ID" in logs or "unknown ID" in logs
    assert "wrong question" in logs
    assert "wrong source" in logs


def test_truncated_answer_retried_over_tcp(node):
    up = node.upstream(5301, "tc", "192.0.2.91")
    assert node.q("x.tc.test")[:2] == ("NOERROR", ["192.0.2.91"])
    up.kill()
    assert "tcp answer" in up.stderr.read()


def raw(node, payload, family=socket.AF_INET):
    """Sends payload to quad-100 from inside the node; the reply or None."""
    code = (
        "import socket,sys\n"
        f"s=socket.socket({int(family)},socket.SOCK_DGRAM); s.settimeout(1.5)\n"
        f"s.sendto(bytes.fromhex('{payload.hex()}'),"
        f"('{Q4 if family == socket.AF_INET else Q6}',53))\n"
        "try: print(s.recv(4096).hex())\n"
        "except socket.timeout: print('none')\n")
    out = node.ns.run(sys.executable, "-c", code).stdout.strip()
    return None if out == "none" else bytes.fromhex(out)


def test_malformed_queries_formerr_and_keeps_serving(node):
    pid = node.suite.pid("dnsd")
    q = struct.pack(">HHHHHH", 0x4242, 0x0100, 1, 0, 0, 0) + \
        b"\x05alpha\x04tail\x07example\x00" + struct.pack(">HH", 1, 1)
    assert raw(node, q)[:4] == bytes.fromhex("4242 8580".replace(" ", ""))
    bad = [
        q + b"\x00",                                  # trailing byte
        q[:-2],                                       # truncated question
        q[:4] + b"\x00\x02" + q[6:],                  # two questions
        q[:12] + b"\xc0\x0c" + struct.pack(">HH", 1, 1),  # pointer loop
        q[:12] + b"\x40abc\x00" + struct.pack(">HH", 1, 1),  # bad label type
        q[:10] + b"\x00\x01" + q[12:] + b"\x00\x00\x01",  # truncated OPT
    ]
    for b in bad:
        r = raw(node, b)
        assert r is not None and r[:2] == b"\x42\x42", b.hex()
        assert r[3] & 0x0f == 1, (b.hex(), r.hex())       # FORMERR
        assert r[2] & 0x80                                 # QR
    # a header too short to answer, and a response: no reply at all
    assert raw(node, b"\x01\x02\x03") is None
    assert raw(node, q[:2] + b"\x81\x80" + q[4:]) is None
    # opcode other than QUERY
    r = raw(node, q[:2] + b"\x10\x00" + q[4:])
    assert r[3] & 0x0f == 4                                # NOTIMP
    assert node.q("alpha.tail.example")[1] == ["100.64.0.2"]
    assert node.suite.pid("dnsd") == pid and pid_alive(pid)


def test_no_upstream_servfail(netns):
    cfg = {"Routes": {"tail.example.": []},
           "Hosts": {"a.tail.example.": ["100.64.0.2"]}}
    n = Node(netns, config=cfg)
    with open(n.resolv, "w") as f:
        f.write("nameserver 100.100.100.100\n")   # ourselves: not usable
    try:
        n.start()
        assert n.q("a.tail.example")[1] == ["100.64.0.2"]
        assert n.q("www.example.org")[0] == "SERVFAIL"
    finally:
        n.cleanup()


def test_config_error_is_reported(netns):
    s = Suite(netns)
    bad = os.path.join(s.dir, "dns.json")
    with open(bad, "w") as f:
        f.write('{"Routes": {"home.arpa.": [{"Addr": "not-an-ip"}]}}')
    s.extra = ["--dns-config", bad, "--resolv-conf", os.path.join(s.dir, "r")]
    try:
        s.start()
        wait_for(lambda: "dns-config" in s.logs(), what="the error")
        assert 'Routes["home.arpa."][0].Addr: "not-an-ip"' in s.logs()
        s.wait_running()
    finally:
        s.cleanup()


def pb_field(num, value):
    """One protobuf field: varint for ints/bools, length-delimited for
    bytes (hand-encoded, so the test shares nothing with protobuf-c)."""
    def varint(n):
        out = b""
        while True:
            b, n = n & 0x7f, n >> 7
            out += bytes([b | (0x80 if n else 0)])
            if not n:
                return out
    if isinstance(value, (bool, int)):
        return varint(num << 3) + varint(int(value))
    if isinstance(value, str):
        value = value.encode()
    return varint(num << 3 | 2) + varint(len(value)) + value


def dns_config(gen, more, hosts=(), routes=(), search=()):
    body = pb_field(1, gen) + (pb_field(2, True) if more else b"")
    for name, addrs in hosts:
        body += pb_field(3, pb_field(1, name) +
                         b"".join(pb_field(2, a) for a in addrs))
    for d in search:
        body += pb_field(4, d)
    for suffix in routes:
        body += pb_field(5, pb_field(1, suffix))
    body += pb_field(8, True)
    return pb_field(2, body)       # CtrldToDnsd.dns_config


def test_ctrld_dns_config_transaction(node):
    """ctrld's DnsConfig replaces the file's model, in parts of one
    generation committed by the last; an unfinished generation is never
    served."""
    fd = node.suite.channel_fd("ctrld", "dnsd")
    s = socket.socket(fileno=fd)
    try:
        s.send(dns_config(7, True, hosts=[("gamma.corp.example.",
                                           ["100.64.1.7"])]))
        time.sleep(0.3)
        # part one alone changes nothing
        assert node.q("alpha.tail.example")[1] == ["100.64.0.2"]
        s.send(dns_config(7, False, hosts=[("delta.corp.example.",
                                            ["fd7a:115c:a1e0::7"])],
                          routes=["corp.example."]))
        wait_for(lambda: node.q("gamma.corp.example")[1] == ["100.64.1.7"],
                 what="the new model")
        assert node.q("delta.corp.example", "AAAA")[1] == ["fd7a:115c:a1e0::7"]
        assert node.q("nope.corp.example")[0] == "NXDOMAIN"
        # the file's names went with the old model
        assert node.q("alpha.tail.example")[0] != "NOERROR" or \
            node.q("alpha.tail.example")[1] == []
    finally:
        s.close()


@pytest.mark.parametrize("victim", ["dnsd", "netd"])
def test_answers_again_after_restart(node, victim):
    """privd passes the config file and host resolvers to a restarted dnsd;
    a restarted netd gets the TUN back and the quad-100 routes stayed."""
    assert node.q("alpha.tail.example")[1] == ["100.64.0.2"]
    os.kill(node.suite.pid(victim), signal.SIGKILL)
    node.suite.wait_running(restarts={victim: 1})
    wait_for(lambda: node.dig(f"@{Q4}", "alpha.tail.example", "+short",
                              check=False).stdout.split() == ["100.64.0.2"],
             what="answers after the restart")
    assert node.q("www.home.arpa")[1] == ["192.0.2.80"]


def test_tcp_pipelined_burst(node):
    """150 queries written at once on one connection (more than netd's
    per-connection buffer): every one is answered, matched by ID."""
    code = (
        "import socket,struct\n"
        "qs=b''\n"
        "for i in range(150):\n"
        "  q=struct.pack('>HHHHHH',i,0x100,1,0,0,0)+b'\\x05alpha\\x04tail"
        "\\x07example\\x00'+struct.pack('>HH',1,1)\n"
        "  qs+=struct.pack('>H',len(q))+q\n"
        f"s=socket.create_connection(('{Q4}',53),timeout=5); s.sendall(qs)\n"
        "buf=b''; ids=set()\n"
        "while len(ids)<150:\n"
        "  d=s.recv(65536)\n"
        "  if not d: break\n"
        "  buf+=d\n"
        "  while len(buf)>=2 and len(buf)>=2+struct.unpack('>H',buf[:2])[0]:\n"
        "    n=struct.unpack('>H',buf[:2])[0]; m=buf[2:2+n]; buf=buf[2+n:]\n"
        "    assert m[-4:]==bytes([100,64,0,2]), m.hex()\n"
        "    ids.add(struct.unpack('>H',m[:2])[0])\n"
        "print(len(ids))\n")
    assert node.ns.run(sys.executable, "-c", code).stdout.strip() == "150"


def test_tcp_connections_bounded(node):
    """netd keeps at most 64 TCP connections to quad-100: the 65th is
    refused (RST), and once the others close a new one is served."""
    code = (
        "import socket,struct,time\n"
        f"A=('{Q4}',53)\n"
        "cs=[socket.create_connection(A,timeout=3) for _ in range(64)]\n"
        "try:\n"
        "  socket.create_connection(A,timeout=3); print('accepted')\n"
        "except ConnectionRefusedError: print('refused')\n"
        "for c in cs: c.close()\n"
        "time.sleep(0.5)\n"
        "q=struct.pack('>HHHHHH',7,0x100,1,0,0,0)+b'\\x04beta\\x04tail"
        "\\x07example\\x00'+struct.pack('>HH',1,1)\n"
        "s=socket.create_connection(A,timeout=3)\n"
        "s.sendall(struct.pack('>H',len(q))+q)\n"
        "d=s.recv(4096); print(list(d[-4:]))\n")
    out = node.ns.run(sys.executable, "-c", code).stdout.split("\n")
    assert out[0] == "refused"
    assert out[1] == "[100, 64, 0, 3]"


def test_tcp_idle_connection_reset(node):
    """An idle TCP connection to quad-100 is reset after 10 s."""
    code = (
        "import socket,time\n"
        f"s=socket.create_connection(('{Q4}',53),timeout=20)\n"
        "t=time.time()\n"
        "try:\n"
        "  d=s.recv(10); r='eof' if d==b'' else 'data'\n"
        "except ConnectionResetError: r='reset'\n"
        "print(r, round(time.time()-t))\n")
    r, secs = node.ns.run(sys.executable, "-c", code).stdout.split()
    assert r == "reset" and 9 <= int(secs) <= 13, (r, secs)


def test_large_answer_truncation_and_tcp(node):
    """A 1.6 KB answer: dnsd fetches it over TCP from the upstream; a UDP
    client gets TC (EDNS 1232 or plain 512), and over TCP (netd's responder
    sends it in several segments) the whole of it."""
    node.upstream(5302, "big", "198.51.100.1")
    for opts in ((), ("+noedns",)):
        out = node.dig(f"@{Q4}", "x.big.test", "+ignore", *opts).stdout
        assert "flags: qr tc" in out.replace(" aa", ""), out
    out = node.dig(f"@{Q4}", "x.big.test", "+tcp", "+short").stdout.split()
    assert sorted(out) == sorted(f"198.51.100.{i}" for i in range(1, 101))
    # the same through dig's own fallback: UDP, TC, then TCP
    out = node.dig(f"@{Q4}", "y.big.test", "+short").stdout.split()
    assert len(out) == 100


HOST_RESOLV = "# the host's\nsearch corp.example lan\nnameserver 127.0.0.1\n"


@pytest.fixture
def accept_node(netns, request):
    n = Node(netns, extra=["--accept-dns"])
    with open(n.resolv, "w") as f:
        f.write(HOST_RESOLV)
    n.start()
    yield n
    if getattr(request.node, "rep_call", None) and request.node.rep_call.failed:
        sys.stderr.write("---- privd log ----\n" + n.suite.logs())
    try:
        assert n.suite.stop() == 0
        with open(n.resolv) as f:
            assert f.read() == HOST_RESOLV
    finally:
        n.cleanup()


def resolv_lines(node):
    with open(node.resolv) as f:
        return [l for l in f.read().splitlines() if l and l[0] != "#"]


def getent(node, name):
    """getent in the node's netns with the test's resolv.conf bound over
    /etc/resolv.conf in a private mount namespace (the host's is never
    touched): glibc's own stub resolver, search list and all."""
    return node.ns.run("unshare", "-m", "--propagation", "private", "sh",
                       "-c", 'mount --bind "$1" /etc/resolv.conf && '
                       'exec getent ahosts "$2"', "sh", node.resolv, name,
                       check=False)


def test_accept_dns_search_domains_and_getent(accept_node):
    """resolv.conf carries the tailnet's search domains, then the host's
    own (tailscale's direct mode), and a short name resolves on the host
    through quad-100."""
    node = accept_node
    wait_for(lambda: "search tail.example corp.example lan"
             in resolv_lines(node), what="search line")
    assert resolv_lines(node) == ["nameserver 100.100.100.100",
                                  "nameserver fd7a:115c:a1e0::53",
                                  "search tail.example corp.example lan"]
    out = getent(node, "alpha")
    assert out.returncode == 0, out.stderr
    addrs = {l.split()[0] for l in out.stdout.splitlines()}
    # only dnsd knows these: the answer came through quad-100
    assert addrs == {"100.64.0.2", "fd7a:115c:a1e0::2"}
    assert "alpha.tail.example" in out.stdout
    assert getent(node, "beta").stdout.split()[0] == "100.64.0.3"
    assert getent(node, "nosuchpeer").returncode == 2


def test_accept_dns_search_domains_follow_ctrld(accept_node):
    """A new model from ctrld rewrites the search line (atomically: the
    file is replaced, never seen half-written)."""
    node = accept_node
    wait_for(lambda: "search tail.example corp.example lan"
             in resolv_lines(node), what="search line")
    s = socket.socket(fileno=node.suite.channel_fd("ctrld", "dnsd"))
    try:
        s.send(dns_config(3, False, hosts=[("gamma.ts.example.",
                                            ["100.64.1.7"])],
                          routes=["ts.example."],
                          search=["ts.example", "Lan."]))
        wait_for(lambda: "search ts.example lan corp.example"
                 in resolv_lines(node), what="the new search line")
    finally:
        s.close()
    out = getent(node, "gamma")
    assert out.returncode == 0, out.stderr
    assert out.stdout.split()[0] == "100.64.1.7"


def test_privd_refuses_bad_search_domains(accept_node):
    """privd writes the names into a root-owned file: anything but host
    names, or too many, is refused by the channel's check and the file
    stays as it was."""
    node = accept_node
    wait_for(lambda: "search tail.example corp.example lan"
             in resolv_lines(node), what="search line")
    before = open(node.resolv).read()
    s = socket.socket(fileno=node.suite.channel_fd("dnsd", "privd"))
    bad = [["evil\nnameserver 192.0.2.66"], ["a b"], ["-x.example"],
           ["x" * 64 + ".example"], ["ok.example"] * 17, ["a..b"], ["#c"]]
    try:
        for names in bad:
            s.send(pb_field(3, b"".join(pb_field(1, n) for n in names)))
        # a good one still passes after all that
        s.send(pb_field(3, pb_field(1, "good.example")))
        wait_for(lambda: "search good.example corp.example lan"
                 in resolv_lines(node), what="the good search line")
    finally:
        s.close()
    assert "192.0.2.66" not in open(node.resolv).read()
    assert before != open(node.resolv).read()
    privd = node.suite.procs()["privd"]
    ch = [c for c in privd["channels"] if c["peer"] == "dnsd"][0]
    assert ch["drops"]["invalid"] == len(bad)


def dns_counters(node):
    return node.suite.status()["dns"]


def test_status_counters_move(node):
    """`privmesh status` shows dnsd's counters, and each moves with the
    traffic that should move it (and only by what was sent)."""
    c0 = dns_counters(node)
    keys = {"queries", "local", "forwarded", "cache_hits", "nxdomain",
            "formerr", "spoofed", "upstream_timeouts", "servfail", "dropped"}
    assert set(c0) == keys
    assert node.q("alpha.tail.example")[1] == ["100.64.0.2"]
    assert node.q("nope.tail.example")[0] == "NXDOMAIN"
    assert node.q("www.home.arpa")[1] == ["192.0.2.80"]
    assert node.q("www.home.arpa")[1] == ["192.0.2.80"]       # cached
    q = struct.pack(">HHHHHH", 0x4242, 0x0100, 1, 0, 0, 0) + \
        b"\x05alpha\x04tail\x07example\x00" + struct.pack(">HH", 1, 1)
    assert raw(node, q + b"\x00")[3] & 0x0f == 1                # FORMERR
    assert raw(node, b"\x01\x02\x03") is None                   # dropped
    node.upstream(5300, "spoof", "192.0.2.90")
    assert node.q("x.spoof.test")[1] == ["192.0.2.90"]
    assert node.q("a.fail.test")[1] == ["192.0.2.81"]           # one timeout
    c = dns_counters(node)
    d = {k: c[k] - c0[k] for k in keys}
    assert d["queries"] == 8
    assert d["local"] == 2
    assert d["nxdomain"] == 1
    assert d["forwarded"] == 3          # home.arpa, spoof.test, fail.test
    assert d["cache_hits"] == 1
    assert d["formerr"] == 1
    assert d["dropped"] == 1
    assert d["spoofed"] >= 3            # wrong ID, question and source
    assert d["upstream_timeouts"] == 1
    assert d["servfail"] == 0
    out = node.suite.cli("status").stdout
    assert f"dns: {c['queries']} queries: {c['local']} answered locally" in out
    assert f"{c['spoofed']} spoofed answers dropped" in out


FULL_TUNNEL_UPSTREAM = "192.0.2.53"
BIG_TXT = ",".join(["x" * 250] * 6)      # over 1232 bytes: TC, then TCP


@pytest.fixture
def full_tunnel(request):
    """Plain WireGuard with AllowedIPs 0.0.0.0/0 (an exit node's default
    route in table 52) and the DNS upstream reachable only through the
    main table's default route, in the peer's namespace:

        ns a: privd --wg-config (full tunnel) --dns-config
              main: default via 198.51.100.2 (veth)
        ns b: wireguard-go peer; dnsmasq on 192.0.2.53:53; nft counts DNS
              arriving over the veth and drops DNS arriving over WireGuard
    """
    from wgpeer import Pair
    pair = Pair()
    procs = []
    try:
        pair.write_conf(allowed="0.0.0.0/0, ::/0")
        pair.b.run("ip", "addr", "add", FULL_TUNNEL_UPSTREAM + "/32", "dev",
                   "lo")
        pair.a.run("ip", "route", "add", "default", "via", "198.51.100.2")
        nft = os.path.join(pair.dir, "pmdns.nft")
        with open(nft, "w") as f:
            f.write(f"table inet pmdns {{\n chain in {{\n"
                    f"  type filter hook input priority 0;\n"
                    f"  iifname {pair.ifb} meta l4proto {{ tcp, udp }} "
                    f"th dport 53 counter drop\n"
                    f"  iifname {pair.veth_b} udp dport 53 counter\n"
                    f"  iifname {pair.veth_b} tcp dport 53 counter\n }}\n}}\n")
        pair.b.run("nft", "-f", nft)
        p = subprocess.Popen(
            ["ip", "netns", "exec", pair.b.name, "dnsmasq", "-k",
             "--conf-file=/dev/null", "--no-resolv", "--no-hosts",
             "--pid-file", "--port=53", "--user=root", "--bind-interfaces",
             f"--listen-address={FULL_TUNNEL_UPSTREAM}",
             "--address=/example.org/192.0.2.82",
             f"--txt-record=big.example.net,{BIG_TXT}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        procs.append(p)
        conf = os.path.join(pair.dir, "dns.json")
        with open(conf, "w") as f:
            json.dump({"Resolvers": [{"Addr": FULL_TUNNEL_UPSTREAM}],
                       "Domains": ["tail.example"],
                       "Hosts": {"alpha.tail.example.": ["100.64.0.2"]}}, f)
        resolv = os.path.join(pair.dir, "resolv.conf")
        with open(resolv, "w") as f:
            f.write("nameserver 127.0.0.1\n")
        from pmtest import Suite as S
        pair.suite = S(pair.a, ["--wg-config", pair.conf, "--dns-config",
                                conf, "--resolv-conf", resolv])
        pair.suite.start()
        wait_for(lambda: "dns-config" in pair.suite.logs(), what="dnsd config")
        yield pair
        if getattr(request.node, "rep_call", None) and \
                request.node.rep_call.failed:
            sys.stderr.write("---- privd log ----\n" + pair.suite.logs())
    finally:
        for p in procs:
            p.kill()
            p.wait()
        pair.cleanup()


def nft_counters(ns):
    out = ns.run("nft", "list", "table", "inet", "pmdns").stdout
    res = {}
    for line in out.splitlines():
        if "counter packets" not in line:
            continue
        n = int(line.split("counter packets")[1].split()[0])
        key = ("wg" if "drop" in line else
               "tcp" if "tcp dport" in line else "udp")
        res[key] = n
    return res


def test_upstream_bypasses_full_tunnel(full_tunnel):
    """An exit node's default route must not take dnsd's queries to a
    resolver outside the tailnet: privd's marked sockets (0x80000, rule
    5210) send them by the main table, over UDP and the TCP retry."""
    pair = full_tunnel
    # The setup discriminates: an unmarked query goes into the tunnel.
    out = pair.a.run("dig", "+time=1", "+tries=1", f"@{FULL_TUNNEL_UPSTREAM}",
                     "direct.example.org", check=False)
    assert "192.0.2.82" not in out.stdout
    wait_for(lambda: nft_counters(pair.b)["wg"] >= 1,
             what="the unmarked query in the tunnel")
    before = nft_counters(pair.b)
    dig = lambda *a: pair.a.run("dig", "+time=3", "+tries=1", f"@{Q4}", *a,
                                check=False).stdout
    wait_for(lambda: "192.0.2.82" in dig("www.example.org", "+short"),
             what="an answer by the main table")
    txt = dig("big.example.net", "TXT", "+short", "+tcp")
    assert txt.count("x" * 250) == 6
    after = nft_counters(pair.b)
    assert after["wg"] == before["wg"]        # nothing more into the tunnel
    assert after["udp"] > before["udp"]
    assert after["tcp"] > before["tcp"]        # the TCP retry, marked too
    # dnsd's upstream sockets carry the bypass mark
    ss = pair.a.run("ss", "-uanpe").stdout
    dnsd_socks = [l for l in ss.splitlines() if '"dnsd"' in l]
    assert any("fwmark:0x80000" in l for l in dnsd_socks), ss


def test_privd_bounds_upstream_socket_requests(node):
    """privd makes marked sockets only for well-formed requests (family,
    1-8 at a time) and at most 256 a second, however fast dnsd asks."""
    s = socket.socket(fileno=node.suite.channel_fd("dnsd", "privd"))

    def req(family, count, tcp=False):
        return pb_field(4, pb_field(1, family) + pb_field(2, tcp) +
                        pb_field(3, count))
    try:
        for bad in (req(2, 9), req(2, 0), req(1, 1), req(17, 1, True)):
            s.send(bad)
        for _ in range(40):               # 320 sockets
            s.send(req(10, 8))
    finally:
        s.close()
    wait_for(lambda: "faster than 256/s" in node.suite.logs(),
             what="the rate limit")
    privd = node.suite.procs()["privd"]
    ch = [c for c in privd["channels"] if c["peer"] == "dnsd"][0]
    assert ch["drops"]["invalid"] == 4
    # dnsd took what came (its stock is bounded) and still answers
    assert node.q("www.home.arpa")[1] == ["192.0.2.80"]
    assert node.q("alpha.tail.example")[1] == ["100.64.0.2"]


@pytest.mark.parametrize("family", [socket.AF_INET, socket.AF_INET6])
def test_udp_burst_one_socket_coalesced(node, family):
    """200 queries sent at once from one socket: every answer arrives, once,
    matched by ID, whole.  netd sends equal-size answers to one socket as
    UDP GSO super-packets; a packet socket on pm0 sees them before the
    kernel cuts them up, so at least one carries several answers."""
    v6 = family == socket.AF_INET6
    code = (
        "import socket,struct,time\n"
        "p=socket.socket(socket.AF_PACKET,socket.SOCK_DGRAM,"
        "socket.htons(3)); p.bind(('pm0',0)); p.setblocking(False)\n"
        f"s=socket.socket({int(family)},socket.SOCK_DGRAM)\n"
        "s.setsockopt(socket.SOL_SOCKET,socket.SO_RCVBUF,1<<20)\n"
        "s.settimeout(3)\n"
        "for i in range(200):\n"
        "  q=struct.pack('>HHHHHH',i,0x100,1,0,0,0)+b'\\x05alpha\\x04tail"
        f"\\x07example\\x00'+struct.pack('>HH',{28 if v6 else 1},1)\n"
        f"  s.sendto(q,('{Q6 if v6 else Q4}',53))\n"
        "ids=set(); lens=set()\n"
        "try:\n"
        "  while len(ids)<200:\n"
        "    m=s.recv(4096); lens.add(len(m))\n"
        f"    assert m[-{16 if v6 else 4}:]==bytes.fromhex("
        f"'{'fd7a115ca1e000000000000000000002' if v6 else '64400002'}'), m.hex()\n"
        "    i=struct.unpack('>H',m[:2])[0]; assert i not in ids; ids.add(i)\n"
        "except socket.timeout: pass\n"
        "time.sleep(0.2); big=0\n"
        "while True:\n"
        "  try: d=p.recv(65535)\n"
        "  except BlockingIOError: break\n"
        f"  if d[0]>>4=={6 if v6 else 4}: big=max(big,len(d))\n"
        "print(len(ids),len(lens),big//max(lens))\n")
    out = node.ns.run(sys.executable, "-c", code).stdout.split()
    assert out[0] == "200" and out[1] == "1", out
    assert int(out[2]) >= 2, f"no answers coalesced: {out}"
    assert "refuses UDP segmentation offload" not in node.suite.logs()
