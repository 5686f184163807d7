"""Helpers for privmesh integration tests: namespaces, a privd suite, and
black-box access to its IPC channels.

Every test runs privd in a fresh network namespace of its own, with its state
and socket under a fresh directory, and tears all of it down afterwards.
"""
import ctypes
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import sys
import time
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.path.abspath(os.environ.get("PRIVMESH_BUILD", os.path.join(ROOT, "build")))
PRIVD = os.path.join(BUILD, "privd", "privd")
CLI = os.path.join(BUILD, "cli", "privmesh")

CHILDREN = ("netd", "ctrld", "dnsd")
PROCS = ("privd",) + CHILDREN
# ipc/fds.h: a child's channel to process P sits at this descriptor.
FD_OF = {"privd": 3, "ctrld": 4, "netd": 5, "dnsd": 6}
USERS = {"netd": "_pm-net", "ctrld": "_pm-ctrl", "dnsd": "_pm-dns"}

_libc = ctypes.CDLL(None, use_errno=True)
SYS_pidfd_getfd = 438


def sh(*args, check=True, **kw):
    return subprocess.run(args, check=check, capture_output=True, text=True, **kw)


class Netns:
    def __init__(self):
        self.name = "pmt-" + uuid.uuid4().hex[:8]
        sh("ip", "netns", "add", self.name)
        sh("ip", "-n", self.name, "link", "set", "lo", "up")

    def run(self, *args, check=True):
        return sh("ip", "netns", "exec", self.name, *args, check=check)

    def delete(self):
        sh("ip", "netns", "del", self.name, check=False)


def proc_status(pid):
    """Fields of /proc/<pid>/status as a dict of strings."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            out[k] = v.strip()
    return out


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        return proc_status(pid).get("State", "").split()[0] != "Z"
    except OSError:     # gone between kill(0) and the read
        return False


def getfd(pid, fd):
    """Duplicates descriptor `fd` of process `pid` into this process."""
    pidfd = os.pidfd_open(pid)
    try:
        r = _libc.syscall(SYS_pidfd_getfd, pidfd, fd, 0)
        if r < 0:
            e = ctypes.get_errno()
            raise OSError(e, f"pidfd_getfd({pid}, {fd}): {os.strerror(e)}")
        return r
    finally:
        os.close(pidfd)


def socket_inode(pid, fd):
    m = re.match(r"socket:\[(\d+)\]", os.readlink(f"/proc/{pid}/fd/{fd}"))
    return int(m.group(1)) if m else None


class Suite:
    """One privd with its three children in `ns`."""

    def __init__(self, ns, extra_args=(), env=None):
        self.ns = ns
        self.dir = tempfile.mkdtemp(prefix="pm-test-")
        os.chmod(self.dir, 0o755)
        self.state = os.path.join(self.dir, "state")
        self.sock = os.path.join(self.dir, "run", "privmesh.sock")
        self.logpath = os.path.join(self.dir, "privd.log")
        self.log = open(self.logpath, "w")
        self.extra = list(extra_args)
        self.env = env
        self.proc = None

    def argv(self):
        return ["ip", "netns", "exec", self.ns.name, PRIVD, "--state-dir",
                self.state, "--socket", self.sock, "--tun", "pm0",
                "--debug"] + self.extra

    def start(self, wait=True):
        self.proc = subprocess.Popen(self.argv(), stdout=self.log,
                                     stderr=subprocess.STDOUT, env=self.env)
        if wait:
            self.wait_running()
        return self

    def logs(self):
        with open(self.logpath) as f:
            return f.read()

    def cli(self, *args, check=True, user=None):
        cmd = [CLI, "--socket", self.sock, *args]
        if user is not None:
            cmd = ["setpriv", f"--reuid={user}", f"--regid={user}",
                   "--clear-groups", *cmd]
        return sh(*cmd, check=check)

    def status(self):
        return json.loads(self.cli("status", "--json").stdout)

    def procs(self):
        return {p["name"]: p for p in self.status()["processes"]}

    def wait_running(self, timeout=15, restarts=None):
        """Until every process runs (and, if given, restarts match)."""
        deadline = time.time() + timeout
        last = None
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"privd exited {self.proc.returncode}:\n"
                                     + self.logs())
            try:
                st = self.status()
                last = st
                ps = {p["name"]: p for p in st["processes"]}
                ok = st.get("complete") and all(
                    ps.get(n, {}).get("state") == "running" for n in PROCS)
                if ok and restarts is not None:
                    ok = all(ps[n]["restarts"] == r for n, r in restarts.items())
                if ok:
                    return ps
            except (subprocess.CalledProcessError, json.JSONDecodeError):
                pass
            time.sleep(0.1)
        raise AssertionError(f"suite not running: {last}\n" + self.logs())

    def pid(self, name):
        if name == "privd":
            # `ip netns exec` execs privd in place: same pid.
            return self.proc.pid
        return self.procs()[name]["pid"]

    def channel_fd(self, sender, receiver):
        """A duplicate of `sender`'s end of its channel to `receiver`.

        A child's channels sit at their fixed descriptors (ipc/fds.h) only
        from start: one replaced after a sibling's restart keeps whatever
        descriptor SCM_RIGHTS gave it, and privd's ends were never fixed.
        So the end is found by its peer, the receiver's fixed descriptor for
        `sender` (a test's receiver still has its start-time channels),
        matched through sock_diag (ss).  Right after a restart privd reports
        the sibling running before `sender` has the new channel: wait.
        """
        deadline = time.time() + 5
        while True:
            fd = self._channel_fd(sender, receiver)
            if fd is not None or time.time() > deadline:
                break
            time.sleep(0.05)
        if fd is None:
            raise AssertionError(f"no {sender} channel to {receiver}")
        return getfd(self.pid(sender), fd)

    def _channel_fd(self, sender, receiver):
        if receiver == "privd":
            return FD_OF["privd"]   # privd never restarts: never replaced
        want = socket_inode(self.pid(receiver), FD_OF[sender])
        spid = self.pid(sender)
        out = self.ns.run("ss", "-xpnH").stdout
        for line in out.splitlines():
            f = line.split()
            if len(f) >= 8 and f[7] == str(want) and f"pid={spid}," in line:
                m = re.search(rf"pid={spid},fd=(\d+)", line)
                if m:
                    return int(m.group(1))
        return None

    def stop(self, sig=signal.SIGTERM, timeout=10):
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise

    def cleanup(self):
        try:
            self.stop()
        finally:
            self.log.close()
            shutil.rmtree(self.dir, ignore_errors=True)


def wait_for(pred, timeout=10, what="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def call_failed(request):
    """Whether the test a fixture serves failed (conftest records it)."""
    rep = getattr(request.node, "rep_call", None)
    return rep is not None and rep.failed


def sanitizer_reports(text):
    """ASan/UBSan report lines in a log: any fails the test."""
    return [ln for ln in text.splitlines()
            if "runtime error:" in ln or "ERROR: AddressSanitizer" in ln]


def stop_suites(suites, failed):
    """Stops and removes each suite, its log on stderr if the test failed;
    returns the sanitizer reports found in the logs."""
    bad = []
    for s in suites:
        if failed:
            sys.stderr.write("---- privd log ----\n" + s.logs())
        try:
            s.stop()
        finally:
            bad += sanitizer_reports(s.logs())
            s.cleanup()
    return bad
