"""Desired-state requests on privd's channels, injected as the sending child
(pidfd_getfd on its end of the channel): ctrld's NetState is applied as a
diff, answered, and refused (answered, counted, logged, nothing changed)
when it steps outside privd's invariants; netd's WgInterface is refused
outside plain-WireGuard mode.

Messages are encoded here by hand from ipc/netstate.proto, independently of
the C code."""
import socket
import time

import pytest

from pmtest import Netns, Suite, wait_for
from test_privd_routing import SYSCTLS, snapshot


def varint(n):
    out = b""
    while True:
        b = n & 0x7f
        n >>= 7
        if n:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


def fv(num, v):
    return varint(num << 3) + varint(v) if v else b""


def fb(num, b):
    if isinstance(b, str):
        b = b.encode()
    return varint(num << 3 | 2) + varint(len(b)) + b


def net_state(id, interface="", table=0, rule_priority=0, nft_table="",
              addresses=(), mtu=0, routes=(), exclude=(), allow_lan=False,
              exit_node=False, advertise=()):
    m = fv(1, id)
    m += fb(2, interface) if interface else b""
    m += fv(3, table) + fv(4, rule_priority)
    m += fb(5, nft_table) if nft_table else b""
    m += b"".join(fb(6, a) for a in addresses) + fv(7, mtu)
    for r in routes:
        p, t = (r, 0) if isinstance(r, str) else r
        m += fb(8, fb(1, p) + fv(2, t))
    m += b"".join(fb(9, e) for e in exclude)
    m += fv(10, int(allow_lan)) + fv(11, int(exit_node))
    m += b"".join(fb(12, a) for a in advertise)
    return fb(4, m)         # CtrldToPrivd.net_state


def wg_interface(addresses=(), routes=(), mtu=0):
    m = b"".join(fb(1, a) for a in addresses) + fv(2, mtu)
    m += b"".join(fb(4, r) for r in routes)
    return fb(3, m)         # NetdToPrivd.wg_interface


def inject(suite, sender, data):
    s = socket.socket(fileno=suite.channel_fd(sender, "privd"))
    try:
        s.send(data)
    finally:
        s.close()


def invalid(suite, sender):
    for ch in suite.procs()["privd"]["channels"]:
        if ch["peer"] == sender:
            return ch["drops"]["invalid"]
    raise AssertionError("no channel")


def answered(suite, id, ok=True):
    needle = (f"privd applied net state {id}\n" if ok else
              f"privd refused net state {id}: ")
    return wait_for(lambda: needle in suite.logs(), what=f"answer to {id}")


def table(ns, fam="-4"):
    return ns.run("ip", fam, "route", "show", "table", "52").stdout


GOOD = dict(addresses=["100.64.0.5/32", "fd7a:115c:a1e0::5/128"],
            routes=["100.64.0.0/10", ("fd7a:115c:a1e0::/48", 52),
                    "10.1.0.0/16"],
            exclude=["10.1.2.0/24"])


@pytest.fixture
def ns():
    n = Netns()
    yield n
    n.delete()


@pytest.fixture
def before(ns):
    return snapshot(ns)


@pytest.fixture
def suite(ns, before, request):
    s = Suite(ns).start()
    yield s
    if getattr(request.node, "rep_call", None) and request.node.rep_call.failed:
        import sys
        sys.stderr.write("---- privd log ----\n" + s.logs())
    s.cleanup()


def test_net_state_is_applied_as_a_diff(suite, ns, before):
    inject(suite, "ctrld", net_state(1, interface="pm0", table=52,
                                     rule_priority=5200, nft_table="privmesh",
                                     **GOOD))
    answered(suite, 1)
    assert "100.64.0.0/10 dev pm0" in table(ns)
    assert "10.1.0.0/16 dev pm0" in table(ns)
    assert "fd7a:115c:a1e0::/48 dev pm0" in table(ns, "-6")
    assert "100.64.0.5/32" in ns.run("ip", "addr", "show", "pm0").stdout
    rules = ns.run("ip", "rule").stdout
    assert "5260:\tfrom all to 10.1.2.0/24 lookup main" in rules
    assert "5270:\tfrom all lookup 52" in rules
    # The same state again: nothing to do.
    inject(suite, "ctrld", net_state(2, **GOOD))
    answered(suite, 2)
    assert suite.logs().rstrip().count(": 0 change(s)") >= 1
    # One route fewer: exactly that route goes.
    inject(suite, "ctrld", net_state(3, addresses=GOOD["addresses"],
                                     routes=GOOD["routes"][:2]))
    answered(suite, 3)
    assert "10.1.0.0/16" not in table(ns)
    assert "100.64.0.0/10 dev pm0" in table(ns)
    assert "5260:" not in ns.run("ip", "rule").stdout
    assert suite.stop() == 0
    assert snapshot(ns) == before


def test_exit_node_role_follows_requests(suite, ns, before):
    inject(suite, "ctrld", net_state(1, exit_node=True, **GOOD))
    answered(suite, 1)
    assert ns.run("cat", SYSCTLS[0]).stdout == "1\n"
    assert "table inet privmesh" in ns.run("nft", "list", "ruleset").stdout
    inject(suite, "ctrld", net_state(2, **GOOD))
    answered(suite, 2)
    assert ns.run("cat", SYSCTLS[0]).stdout == before[SYSCTLS[0]]
    assert ns.run("cat", SYSCTLS[1]).stdout == before[SYSCTLS[1]]
    assert "privmesh" not in ns.run("nft", "list", "ruleset").stdout
    suite.stop()
    assert snapshot(ns) == before


BAD = {
    "foreign interface": net_state(10, interface="eth0", **GOOD),
    "foreign table": net_state(11, table=254, **GOOD),
    "route 0: foreign table": net_state(12, routes=[("0.0.0.0/0", 254)]),
    "foreign rule priority": net_state(13, rule_priority=32766, **GOOD),
    "foreign nftables table": net_state(14, nft_table="filter", **GOOD),
    "route 0: malformed": net_state(15, routes=["100.64.0.0/33"]),
    "route 1: malformed": net_state(16, routes=["10.9.0.0/24",
                                                "10.0.0.1/8"]),
    "addresses 0: malformed": net_state(17, addresses=["no-such-thing"]),
    "addresses 0: not a /32": net_state(18, addresses=["100.64.0.0/24"]),
    "too many addresses": net_state(
        19, addresses=[f"100.64.1.{i}/32" for i in range(65)]),
    "too many exclude": net_state(
        20, exclude=[f"10.{i // 256}.{i % 256}.0/24" for i in range(257)]),
    "exclude 0: malformed": net_state(21, exclude=["fd7a::/200"]),
    "MTU 100 out of range": net_state(22, mtu=100),
}


def test_bad_requests_are_refused_counted_and_change_nothing(suite, ns):
    inject(suite, "ctrld", net_state(1, **GOOD))
    answered(suite, 1)
    state = snapshot(ns)
    n0 = invalid(suite, "ctrld")
    for why, msg in BAD.items():
        inject(suite, "ctrld", msg)
    for i, why in enumerate(BAD):
        answered(suite, 10 + i, ok=False)
        assert why in suite.logs(), why
    assert invalid(suite, "ctrld") - n0 == len(BAD)
    assert suite.logs().count("refused (") == len(BAD)
    assert snapshot(ns) == state
    # Still serving: a good request after all that is applied.
    inject(suite, "ctrld", net_state(99, addresses=GOOD["addresses"],
                                     routes=["100.64.0.0/10"]))
    answered(suite, 99)
    assert "10.1.0.0/16" not in table(ns)
    assert all(p["state"] == "running" for p in suite.procs().values())


def test_wg_interface_outside_wg_mode_is_refused(suite, ns):
    state = snapshot(ns)
    n0 = invalid(suite, "netd")
    inject(suite, "netd", wg_interface(addresses=["100.64.0.7/32"],
                                       routes=["0.0.0.0/0"]))
    wait_for(lambda: invalid(suite, "netd") == n0 + 1, what="the refusal")
    assert "WgInterface refused" in suite.logs()
    assert snapshot(ns) == state
    assert suite.procs()["netd"]["restarts"] == 0


def test_net_state_refused_in_wg_mode(ns, tmp_path):
    import os
    from wgpeer import genkey
    priv, _ = genkey()
    _, pub = genkey()
    conf = tmp_path / "pmq0.conf"
    conf.write_text(f"[Interface]\nPrivateKey = {priv}\nAddress = 10.9.0.1/32\n"
                    f"\n[Peer]\nPublicKey = {pub}\nAllowedIPs = 10.9.0.2/32\n")
    os.chmod(conf, 0o600)
    os.chmod(tmp_path, 0o755)
    s = Suite(ns, ["--wg-config", str(conf)]).start()
    try:
        wait_for(lambda: "10.9.0.2 dev pmq0" in table(ns), what="wg routes")
        inject(s, "ctrld", net_state(5, addresses=["100.64.0.5/32"],
                                     routes=["0.0.0.0/0"]))
        answered(s, 5, ok=False)
        assert "plain-WireGuard mode" in s.logs()
        assert "default" not in table(ns)
    finally:
        s.cleanup()


def test_config_file_options_shape_the_state(ns, tmp_path):
    os_ = __import__("os")
    cfg = tmp_path / "privd.conf"
    cfg.write_text("table 100\nallow-lan yes\n"
                   "exclude 198.51.100.0/24, 2001:db8::/32\n"
                   "exclude 192.0.2.0/24\n")
    os_.chmod(tmp_path, 0o755)
    before = snapshot(ns)
    s = Suite(ns, ["--config", str(cfg)]).start()
    try:
        inject(s, "ctrld", net_state(1, table=100, routes=["0.0.0.0/0",
                                                           "::/0"]))
        answered(s, 1)
        rules = ns.run("ip", "rule").stdout
        for want in ("5260:\tfrom all to 198.51.100.0/24 lookup main",
                     "5260:\tfrom all to 192.0.2.0/24 lookup main",
                     "5264:\tfrom all lookup 100 suppress_prefixlength 0",
                     "5266:\tfrom all lookup main suppress_prefixlength 0",
                     "5270:\tfrom all lookup 100"):
            assert want in rules, rules
        assert "5260:\tfrom all to 2001:db8::/32 lookup main" in ns.run(
            "ip", "-6", "rule").stdout
        assert "default dev pm0" in ns.run("ip", "route", "show", "table",
                                           "100").stdout
        # Table 52 is not privd's in this run.
        inject(s, "ctrld", net_state(2, table=52, routes=["0.0.0.0/0"]))
        answered(s, 2, ok=False)
        assert "foreign table 52" in s.logs()
        assert s.stop() == 0
        assert snapshot(ns) == before
    finally:
        s.cleanup()


@pytest.mark.parametrize("line", ["exclude 10.0.0.1/8", "table 254",
                                  "allow-lan maybe", "tun pm\"0"])
def test_bad_config_values_are_fatal_and_named(ns, tmp_path, line):
    cfg = tmp_path / "privd.conf"
    cfg.write_text("# privd\n" + line + "\n")
    s = Suite(ns, ["--config", str(cfg)])
    s.start(wait=False)
    try:
        assert s.proc.wait(10) != 0
        assert "line 2" in s.logs()
    finally:
        s.cleanup()


class ReadOnlySysctlSuite(Suite):
    """privd with /proc/sys read-only, as in a container that forbids it.
    unshare, sh and ip exec in turn: self.proc is privd itself."""

    def argv(self):
        inner = " ".join("'%s'" % a for a in super().argv())
        return ["unshare", "-m", "sh", "-c",
                "mount --bind /proc/sys /proc/sys && "
                "mount -o remount,bind,ro /proc/sys && exec " + inner]


def test_forwarding_not_permitted_is_a_clear_error(ns):
    pristine = snapshot(ns)
    s = ReadOnlySysctlSuite(ns).start()
    try:
        before = snapshot(ns)   # with what privd installs at start (quad-100)
        inject(s, "ctrld", net_state(1, exit_node=True, **GOOD))
        answered(s, 1, ok=False)
        assert ("cannot enable forwarding (exit node / subnet router) in "
                "/proc/sys/net/ipv4/ip_forward: Read-only file system"
                in s.logs())
        # Nothing half-done, and privd carries on: the same routes without
        # the role are applied.
        assert snapshot(ns) == before
        inject(s, "ctrld", net_state(2, **GOOD))
        answered(s, 2)
        assert "100.64.0.0/10 dev pm0" in table(ns)
        assert s.stop() == 0
        assert snapshot(ns) == pristine
    finally:
        s.cleanup()
