"""privd --accept-dns with a real systemd-resolved: per-link DNS over D-Bus.

    netns + private mount ns (resolvedenv.py) ---------------------------+
    |  dbus-daemon (system bus, /run/dbus/system_bus_socket)              |
    |  systemd-resolved (unpacked by packaging/test-resolved.sh)         |
    |     stub 127.0.0.53  --link pm0: DNS 100.100.100.100 ... -->       |
    |  privd --accept-dns --resolv-conf DIR/etc/resolv.conf              |
    |     (a symlink to resolved's stub-resolv.conf, as Debian has it)   |
    |     SetLinkDNS/SetLinkDomains/... on pm0 over D-Bus                |
    |  dig @127.0.0.53 alpha.tail.example -> resolved -> pm0 (TUN)       |
    |     -> netd intercepts quad-100 -> dnsd answers                    |
    +--------------------------------------------------------------------+

resolv.conf is never rewritten in this mode; at stop privd calls
RevertLink; after SIGKILL the TUN is gone and resolved forgets the link.
"""
import json
import os
import signal

import pytest

from pmtest import pid_alive, wait_for
from resolvedenv import (ResolvedEnv, ResolvedSuite, missing_reason,
                         stub_resolv_conf)

pytestmark = pytest.mark.skipif(missing_reason() is not None,
                                reason=missing_reason() or "")

CONFIG = {
    "Domains": ["tail.example"],
    "Proxied": True,
    "Routes": {"tail.example.": []},
    "Hosts": {
        "alpha.tail.example.": ["100.64.0.2", "fd7a:115c:a1e0::2"],
    },
}
STUB_TARGET = "/run/systemd/resolve/stub-resolv.conf"


class Node:
    def __init__(self, ns, config):
        self.ns = ns
        self.suite = None
        self.config = config
        self.renv = None
        self.dir = None

    def setup(self):
        self.suite = ResolvedSuite(self.ns, None)
        self.dir = self.suite.dir
        self.renv = ResolvedEnv(self.ns, self.dir)
        self.suite.renv = self.renv
        self.conf = os.path.join(self.dir, "dns.json")
        with open(self.conf, "w") as f:
            json.dump(self.config, f)
        self.resolv = stub_resolv_conf(os.path.join(self.dir, "etc",
                                                    "resolv.conf"))
        self.suite.extra = ["--dns-config", self.conf, "--resolv-conf",
                            self.resolv, "--accept-dns"]
        return self

    def start(self):
        before = self.suite.logs().count("resolved: link") if \
            self.suite.proc else 0
        self.suite.start()
        self.ns.run("ip", "addr", "add", "100.64.0.1/32", "dev", "pm0")
        self.ns.run("ip", "addr", "add", "fd7a:115c:a1e0::1/128", "dev",
                    "pm0", "nodad")
        wait_for(lambda: self.suite.logs().count("resolved: link") > before,
                 what="privd setting the link")
        return self

    def ifindex(self):
        r = self.ns.run("cat", "/sys/class/net/pm0/ifindex", check=False)
        return int(r.stdout) if r.returncode == 0 else None

    def link(self):
        """resolvectl's view of pm0, or None without a pm0."""
        if self.ifindex() is None:
            return None
        return self.renv.resolvectl("status", "pm0").stdout

    def resolved_knows(self, ifindex):
        """resolved still has the link (GetLink, not NoSuchLink)."""
        r = self.renv.run("busctl", "call", "org.freedesktop.resolve1",
                          "/org/freedesktop/resolve1",
                          "org.freedesktop.resolve1.Manager", "GetLink", "i",
                          str(ifindex), check=False)
        assert r.returncode == 0 or "not known" in r.stderr, r.stderr
        return r.returncode == 0

    def dig(self, *args):
        return self.renv.run("dig", "+time=3", "+tries=2", "+short",
                             "@127.0.0.53", *args).stdout.split()

    def dns_queries(self):
        return json.loads(self.suite.cli("status", "--json").stdout)[
            "dns"]["queries"]

    def cleanup(self):
        try:
            self.suite.stop()
        finally:
            if self.renv is not None:
                self.renv.cleanup()
            self.suite.cleanup()


@pytest.fixture
def node(netns, request):
    n = Node(netns, getattr(request, "param", CONFIG)).setup()
    yield n
    if getattr(request.node, "rep_call", None) is not None and \
            request.node.rep_call.failed:
        print("---- privd ----\n" + n.suite.logs())
        print("---- resolved (tail) ----\n" + n.renv.log()[-6000:])
    n.cleanup()


def untouched(n):
    assert os.readlink(n.resolv) == STUB_TARGET
    assert os.listdir(os.path.dirname(n.resolv)) == ["resolv.conf"]


def test_link_configured_and_tailnet_name_answered(node):
    node.start()
    logs = node.suite.logs()
    assert "systemd-resolved owns" in logs
    st = node.link()
    assert st is not None
    assert "DNS Servers: 100.100.100.100 fd7a:115c:a1e0::53" in st
    domains = st.split("DNS Domain:")[1].split()
    assert domains[0] == "tail.example"
    assert "~64.100.in-addr.arpa" in domains
    assert "~127.100.in-addr.arpa" in domains
    assert "~0.e.1.a.c.5.1.1.a.7.d.f.ip6.arpa" in domains
    assert "~." not in domains
    # split DNS, not the default route; tailscale's modes
    assert "-DefaultRoute" in st and "-LLMNR" in st and "-mDNS" in st
    assert "-DNSOverTLS" in st and "DNSSEC=no" in st
    q0 = node.dns_queries()
    # through resolved's stub: routed to pm0 by the domain, answered by
    # dnsd (its counter moves)
    assert node.dig("alpha.tail.example") == ["100.64.0.2"]
    assert node.dig("alpha.tail.example", "AAAA") == ["fd7a:115c:a1e0::2"]
    assert node.dig("-x", "100.64.0.2") == ["alpha.tail.example."]
    # the short name, through resolved's own API and the link's search
    # domain (the stub does not expand single labels)
    out = node.renv.resolvectl("query", "-4", "alpha").stdout
    assert "alpha: 100.64.0.2" in out and "(alpha.tail.example)" in out
    assert node.dns_queries() > q0
    untouched(node)
    idx = node.ifindex()
    assert node.resolved_knows(idx)
    assert node.suite.stop() == 0
    assert "resolved: link" in node.suite.logs()
    assert "reverted" in node.suite.logs()
    # resolved's side: it got RevertLink from privd and the link is gone
    assert "member=RevertLink" in node.renv.log()
    wait_for(lambda: not node.resolved_knows(idx), what="link gone")
    untouched(node)


DEFAULT = dict(CONFIG, Resolvers=[{"Addr": "192.0.2.53"}])


@pytest.mark.parametrize("node", [DEFAULT], indirect=True)
def test_default_resolvers_take_every_name(node):
    node.start()
    st = node.link()
    domains = st.split("DNS Domain:")[1].split()
    # tailscale: with default resolvers quad-100 takes everything
    assert domains == ["tail.example", "~."]
    assert "+DefaultRoute" in st
    assert node.dig("alpha.tail.example") == ["100.64.0.2"]
    untouched(node)


def test_sigkill_and_restart(node):
    node.start()
    assert "100.100.100.100" in node.link()
    idx = node.ifindex()
    kids = [node.suite.pid(n) for n in ("netd", "ctrld", "dnsd")]
    node.suite.proc.send_signal(signal.SIGKILL)
    node.suite.proc.wait()
    wait_for(lambda: not any(pid_alive(p) for p in kids), what="children")
    # the TUN went with privd: resolved forgot the link, nothing to undo
    wait_for(lambda: not node.resolved_knows(idx),
             what="resolved dropping pm0")
    assert "member=RevertLink" not in node.renv.log()
    untouched(node)
    node.start()
    assert "100.100.100.100" in node.link()
    assert node.dig("alpha.tail.example") == ["100.64.0.2"]
    untouched(node)


def test_resolved_restart_and_bus_loss(node):
    node.start()
    # resolved goes away: privd logs it and keeps running
    node.renv.kill("resolved")
    wait_for(lambda: "left the bus" in node.suite.logs(), what="log line")
    assert node.suite.proc.poll() is None
    # ... and comes back: privd sets the link again (NameOwnerChanged)
    n = node.suite.logs().count("resolved: link")
    node.renv.start_resolved()
    wait_for(lambda: node.suite.logs().count("resolved: link") > n,
             what="privd setting the link again")
    assert "100.100.100.100" in node.link()
    assert node.dig("alpha.tail.example") == ["100.64.0.2"]
    # the whole bus goes: privd reconnects (from inside its sandbox)
    node.renv.kill("resolved")
    node.renv.kill("bus")
    wait_for(lambda: "lost the system bus" in node.suite.logs(),
             what="log line")
    n = node.suite.logs().count("resolved: link")
    node.renv.start_bus()
    node.renv.start_resolved()
    wait_for(lambda: node.suite.logs().count("resolved: link") > n,
             timeout=40, what="privd back on the bus")
    assert node.suite.proc.poll() is None
    assert node.dig("alpha.tail.example") == ["100.64.0.2"]
    # (a -Dseccomp_log build reports instead of killing)
    assert "forbidden syscall" not in node.suite.logs()
    untouched(node)


def test_resolved_not_answering(node):
    """A call that times out (resolved stopped): a log line naming the
    call, privd and its children keep running; the next change applies."""
    node.start()
    n = node.suite.logs().count("resolved: link")
    node.renv.resolved.send_signal(signal.SIGSTOP)
    try:
        # a dnsd restart sends its settings again
        os.kill(node.suite.pid("dnsd"), signal.SIGKILL)
        wait_for(lambda: "resolved: SetLinkDNS on link" in node.suite.logs(),
                 what="the timeout logged")
        assert "MagicDNS names do not resolve" in node.suite.logs()
        node.suite.wait_running(restarts={"dnsd": 1})
    finally:
        node.renv.resolved.send_signal(signal.SIGCONT)
    os.kill(node.suite.pid("dnsd"), signal.SIGKILL)
    node.suite.wait_running(restarts={"dnsd": 2})
    wait_for(lambda: node.suite.logs().count("resolved: link") > n,
             what="the link set again")
    assert node.dig("alpha.tail.example") == ["100.64.0.2"]
    assert node.suite.proc.poll() is None
