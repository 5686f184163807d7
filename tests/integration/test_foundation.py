"""The process suite, its sandboxes, its IPC and its supervision.

Topology: one network namespace per test, privd inside it as root, its TUN
pm0 and three sandboxed children.  Nothing leaves the namespace.

    +-------------------- netns pmt-XXXX --------------------+
    |  privd (root, CAP_NET_ADMIN+spawn caps)                |
    |    |-- netd  (_pm-net)   holds pm0's fd                |
    |    |-- ctrld (_pm-ctrl)  serves <dir>/run/privmesh.sock |
    |    `-- dnsd  (_pm-dns)                                 |
    +--------------------------------------------------------+
"""
import array
import os
import signal
import socket
import time

import pytest

from pmtest import (CHILDREN, PROCS, USERS, Suite, pid_alive, proc_status,
                    sh, wait_for)

CAP_NAMES = {"net_admin": 12, "setuid": 7, "setgid": 6, "sys_chroot": 18,
             "setpcap": 8, "kill": 5, "chown": 0, "fowner": 3}


def test_status_lists_sandboxed_children(suite):
    st = suite.status()
    ps = {p["name"]: p for p in st["processes"]}
    assert [p["name"] for p in st["processes"]] == list(PROCS)
    for name in CHILDREN:
        p = ps[name]
        for key in ("name", "pid", "uid", "cap_eff", "seccomp", "no_new_privs"):
            assert key in p, (name, key)
        # The JSON is the child's own report; /proc must agree with it.
        s = proc_status(p["pid"])
        uids = [int(x) for x in s["Uid"].split()]
        assert all(u != 0 for u in uids), (name, uids)
        assert uids[0] == p["uid"]
        assert p["user"] == USERS[name]
        assert s["CapEff"] == "0000000000000000" and p["cap_eff"] == 0
        assert s["CapPrm"] == "0000000000000000"
        assert s["CapBnd"] == "0000000000000000"
        assert s["NoNewPrivs"] == "1" and p["no_new_privs"] == 1
        assert s["Seccomp"] == "2" and p["seccomp"] == 2
        assert s["Groups"] == "", (name, s["Groups"])
        assert p["state"] == "running" and p["restarts"] == 0


def test_privd_keeps_only_listed_caps(suite):
    s = proc_status(suite.pid("privd"))
    eff = int(s["CapEff"], 16)
    want = sum(1 << b for b in CAP_NAMES.values())
    assert eff == want, hex(eff)
    assert int(s["CapBnd"], 16) == want
    assert s["NoNewPrivs"] == "1"
    assert suite.procs()["privd"]["cap_eff"] == want


def test_children_inherit_nothing_else(suite):
    """Only channels, the TUN (netd), the API socket (ctrld), their own
    /proc status file, /dev/null and the shared log remain open."""
    for name in CHILDREN:
        pid = suite.pid(name)
        for fd in os.listdir(f"/proc/{pid}/fd"):
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
            # ctrld's libuv keeps its root open read-only as the spare
            # fd for EMFILE (it tries /dev/null first): its own state dir.
            ok = (target.startswith(("socket:", "anon_inode:", "pipe:"))
                  or target in ("/dev/null", "/dev/net/tun",
                                f"/proc/{pid}/status", suite.logpath,
                                os.path.join(suite.state, name)))
            assert ok, (name, fd, target)
        # Channels sit at their documented numbers.
        for peer, fd in (("privd", 3), ("ctrld", 4), ("netd", 5), ("dnsd", 6)):
            path = f"/proc/{pid}/fd/{fd}"
            if peer == name:
                continue
            assert os.readlink(path).startswith("socket:"), (name, fd)


def test_children_are_chrooted(suite):
    """ctrld and netd live in their own 0700 state dirs, dnsd in the
    empty root."""
    for name in CHILDREN:
        root = os.readlink(f"/proc/{suite.pid(name)}/root")
        want = "empty" if name == "dnsd" else name
        assert root == os.path.join(suite.state, want), (name, root)
        st = os.stat(root)
        if name != "dnsd":
            assert st.st_mode & 0o777 == 0o700
            assert st.st_uid == suite.procs()[name]["uid"]
    assert os.listdir(os.path.join(suite.state, "empty")) == []


def test_anyone_may_read_status(suite):
    out = suite.cli("status", user=65534)
    assert "netd" in out.stdout and "filter" in out.stdout


FORBIDDEN = {
    # receiver: (sender, envelope bytes of TestForbiddenSyscall = field 15)
    "netd": ("ctrld", b"\x7a\x00"),
    "dnsd": ("ctrld", b"\x7a\x00"),
    "ctrld": ("netd", b"\x7a\x00"),
}


def send_raw(suite, sender, receiver, data, fds=()):
    fd = suite.channel_fd(sender, receiver)
    s = socket.socket(fileno=fd)
    try:
        if fds:
            s.sendmsg([data], [(socket.SOL_SOCKET, socket.SCM_RIGHTS,
                                array.array("i", fds))])
        else:
            s.send(data)
    finally:
        s.close()


@pytest.mark.parametrize("victim", ["netd", "dnsd", "ctrld"])
def test_forbidden_syscall_kills_and_restarts(suite, victim):
    sender, msg = FORBIDDEN[victim]
    old = suite.pid(victim)
    send_raw(suite, sender, victim, msg)
    wait_for(lambda: not pid_alive(old), what=f"{victim} to die")
    ps = suite.wait_running(restarts={victim: 1})
    assert ps[victim]["last_exit"] == "killed by SIGSYS"
    assert ps[victim]["pid"] != old
    s = proc_status(ps[victim]["pid"])
    assert s["Seccomp"] == "2" and s["CapEff"] == "0000000000000000"
    # The others were not disturbed.
    for other in CHILDREN:
        if other != victim:
            assert ps[other]["restarts"] == 0
    assert "killed by SIGSYS" in suite.logs()


# Garbage of every kind; each datagram must be dropped and counted.
GARBAGE = [
    (b"\xff\xff\xff\xff\xff", "bad_unpack"),
    (b"\x0a\x05\x01", "bad_unpack"),              # truncated length
    (b"\xf8\x3f\x01", "unknown_fields"),           # field 1023, varint
    (b"\x08\x01", "unknown_fields"),                 # field 1 as a varint
    (b"\x00" * 70000, "oversized"),                # above every channel's max
]

CHANNELS = [(a, b) for a in PROCS for b in PROCS if a != b]


def drop_counts(suite, receiver, sender):
    p = suite.procs()[receiver]
    for ch in p["channels"]:
        if ch["peer"] == sender:
            return ch
    raise AssertionError(f"{receiver} has no channel to {sender}: {p}")


@pytest.mark.parametrize("sender,receiver", CHANNELS,
                         ids=[f"{a}-to-{b}" for a, b in CHANNELS])
def test_garbage_dropped_and_counted(suite, sender, receiver):
    before = drop_counts(suite, receiver, sender)
    for data, _ in GARBAGE:
        send_raw(suite, sender, receiver, data)
    # An fd attached to a kind that carries none (or to nothing at all).
    devnull = os.open("/dev/null", os.O_RDONLY)
    send_raw(suite, sender, receiver, b"", fds=[devnull])
    os.close(devnull)
    n = len(GARBAGE) + 1

    def counted():
        c = drop_counts(suite, receiver, sender)
        return c if c["dropped"] - before["dropped"] >= n else None

    after = wait_for(counted, what="drops to be counted")
    assert after["dropped"] - before["dropped"] == n
    for data, why in GARBAGE:
        assert after["drops"][why] > before["drops"][why], why
    assert after["drops"]["bad_fd"] + after["drops"]["not_allowed"] > \
        before["drops"]["bad_fd"] + before["drops"]["not_allowed"]
    # Below the cut-off threshold nobody is restarted, and all still works.
    ps = suite.wait_running(restarts={p: 0 for p in CHILDREN})
    assert all(ps[p]["state"] == "running" for p in PROCS)


@pytest.mark.parametrize("sender,receiver", [("ctrld", "netd"),
                                             ("netd", "privd"),
                                             ("dnsd", "ctrld")])
def test_garbage_flood_cuts_off_and_restarts_sender(suite, sender, receiver):
    old = suite.pid(sender)
    fd = suite.channel_fd(sender, receiver)
    s = socket.socket(fileno=fd)
    try:
        for _ in range(40):
            s.send(b"\xff\xff\xff")
    except (BrokenPipeError, ConnectionResetError):
        pass    # cut off (and killed) before the last ones went out
    s.close()
    wait_for(lambda: not pid_alive(old), what=f"{sender} to be cut off")
    ps = suite.wait_running(restarts={sender: 1})
    assert ps[sender]["pid"] != old
    assert "cutting off " + sender in suite.logs()
    # The new incarnation talks to everyone again.
    assert suite.status()["complete"] is True


def test_empty_datagram_is_a_hangup(suite):
    """On SOCK_SEQPACKET an empty datagram reads as EOF: a child that sends
    one to privd has left supervision and is replaced."""
    old = suite.pid("dnsd")
    send_raw(suite, "dnsd", "privd", b"")
    wait_for(lambda: not pid_alive(old), what="dnsd to be ended")
    suite.wait_running(restarts={"dnsd": 1})


def test_repeated_fast_crashes_give_up_then_sighup_retries(suite):
    for i in range(5):
        old = suite.pid("dnsd")
        send_raw(suite, "ctrld", "dnsd", b"\x7a\x00")
        wait_for(lambda: not pid_alive(old), what="dnsd to die")
        if i < 4:
            suite.wait_running(restarts={"dnsd": i + 1}, timeout=20)
    wait_for(lambda: suite.procs()["dnsd"]["state"] == "failed",
             what="privd to give up on dnsd")
    assert "giving up" in suite.logs()
    suite.proc.send_signal(signal.SIGHUP)
    suite.wait_running(restarts={"dnsd": 5})


def test_sigterm_leaves_nothing_behind(suite):
    pids = [suite.pid(n) for n in PROCS]
    assert suite.ns.run("ip", "link", "show", "pm0").returncode == 0
    assert suite.stop(signal.SIGTERM) == 0
    for pid in pids:
        assert not pid_alive(pid), pid
    assert not os.path.exists(suite.sock)
    assert suite.ns.run("ip", "link", "show", "pm0", check=False).returncode != 0
    out = sh("pgrep", "-a", "-f", suite.state, check=False).stdout
    assert out == "", out


def test_sigint_also_stops_cleanly(suite):
    pids = [suite.pid(n) for n in PROCS]
    assert suite.stop(signal.SIGINT) == 0
    assert not any(pid_alive(p) for p in pids)


def test_children_exit_when_privd_is_killed(suite):
    pids = [suite.pid(n) for n in CHILDREN]
    suite.proc.kill()
    suite.proc.wait()
    wait_for(lambda: not any(pid_alive(p) for p in pids),
             what="children to follow privd")


def test_missing_user_is_a_clear_error(netns):
    s = Suite(netns, ["--netd-user", "_pm-no-such-user"])
    try:
        s.start(wait=False)
        assert s.proc.wait(10) == 1
        log = s.logs()
        assert "_pm-no-such-user" in log
        assert "packaging/sysusers.d/privmesh.conf" in log
        assert netns.run("ip", "link", "show", "pm0", check=False).returncode != 0
    finally:
        s.cleanup()


def test_malformed_config_names_the_line(netns):
    s = Suite(netns)
    conf = os.path.join(s.dir, "privd.conf")
    with open(conf, "w") as f:
        f.write("# test\ntun pm7\nmtu 9\n")
    s.extra = ["--config", conf]
    try:
        s.start(wait=False)
        assert s.proc.wait(10) == 1
        assert "line 3: bad value for 'mtu': 9" in s.logs()
        assert netns.run("ip", "link", "show", "pm7", check=False).returncode != 0
    finally:
        s.cleanup()


def test_config_file_is_applied(netns):
    s = Suite(netns)
    conf = os.path.join(s.dir, "privd.conf")
    with open(conf, "w") as f:
        f.write("mtu 1400\n")
    s.extra = ["--config", conf]
    try:
        s.start()
        out = netns.run("ip", "link", "show", "pm0").stdout
        assert "mtu 1400" in out
    finally:
        s.cleanup()
