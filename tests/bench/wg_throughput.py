#!/usr/bin/python3
"""TCP throughput through a WireGuard tunnel: privmesh <-> privmesh against
wireguard-go <-> wireguard-go, on one machine, with iperf3.

    netns A                                   netns B
    veth: 198.51.100.1/24  <-------------->   veth: 198.51.100.2/24
    tunnel: 10.77.0.1/24                      tunnel: 10.77.0.2/24
    iperf3 -c 10.77.0.2                       iperf3 -s

The two implementations take turns (A, B, A, B, ... for --rounds rounds),
each on a fresh pair of endpoints: (a) two privd suites in --wg-config mode,
one per namespace, each with its own state directory and socket; (b) two
Debian wireguard-go processes configured with wg(8).  Each turn runs a
single-stream TCP test and a --parallel-stream one (iperf3 -t --time,
receiver side counted).  Plain veth throughput (no tunnel) is measured once
at the start as the ceiling.  Prints every run, the medians, and the ratio
privmesh / wireguard-go.

Both tunnels use MTU 1420 (privmesh's and wireguard-go's default).  All
processes share the machine's cores: the numbers compare the two
implementations under the same conditions, not absolute link capacity.

Needs root, iperf3, wireguard-go and wireguard-tools (Debian packages
iperf3, wireguard-go, wireguard-tools), and a built tree (PRIVMESH_BUILD,
default build/).  Run with /usr/bin/python3:

    sudo /usr/bin/python3 tests/bench/wg_throughput.py [--rounds 2]

--syscalls counts both netds' system calls during each privmesh
single-stream test (perf stat on the syscall tracepoints): getrandom
should stay near zero while read/write/sendmmsg/recvmmsg run to hundreds
of thousands.  --perf DIR records a profile of the first one.

Everything it creates (namespaces, processes, temporary directories) is
removed on exit, also on Ctrl-C or SIGTERM.
"""
import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
import pmtest  # noqa: E402
sh = pmtest.sh

A_VETH_IP, B_VETH_IP = "198.51.100.1", "198.51.100.2"
A_TUN_IP, B_TUN_IP = "10.77.0.1", "10.77.0.2"
PORT = 51820
IPERF_PORT = 5201


class Cleanup:
    """A stack of undo actions, run last-in first-out, each exactly once."""

    def __init__(self):
        self.actions = []

    def push(self, fn, *args):
        self.actions.append((fn, args))
        return len(self.actions) - 1

    def discard(self, idx):
        """The action at idx was done by hand: never run it."""
        if idx < len(self.actions):
            self.actions[idx] = (lambda: None, ())

    def run(self):
        # A second Ctrl-C must not cut the clean-up short.
        old = {s: signal.signal(s, signal.SIG_IGN)
               for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            self._run()
        finally:
            for s, h in old.items():
                signal.signal(s, h)

    def _run(self):
        while self.actions:
            fn, args = self.actions.pop()
            try:
                fn(*args)
            except Exception as e:      # keep cleaning up
                print(f"cleanup: {fn.__name__}: {e}", file=sys.stderr)


def genkey():
    priv = sh("wg", "genkey").stdout.strip()
    pub = subprocess.run(["wg", "pubkey"], input=priv, capture_output=True,
                         text=True, check=True).stdout.strip()
    return priv, pub


def stop_proc(p, timeout=5):
    if p.poll() is None:
        p.terminate()
        try:
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


class Topology:
    """Two namespaces joined by a veth pair; deleting a namespace removes
    its end of the veth and every interface in it."""

    def __init__(self, cleanup):
        self.a = pmtest.Netns()
        cleanup.push(self.a.delete)
        self.b = pmtest.Netns()
        cleanup.push(self.b.delete)
        tag = uuid.uuid4().hex[:6]
        va, vb = "vta" + tag, "vtb" + tag
        sh("ip", "link", "add", va, "netns", self.a.name, "type", "veth",
           "peer", "name", vb, "netns", self.b.name)
        self.a.run("ip", "addr", "add", A_VETH_IP + "/24", "dev", va)
        self.b.run("ip", "addr", "add", B_VETH_IP + "/24", "dev", vb)
        self.a.run("ip", "link", "set", va, "up")
        self.b.run("ip", "link", "set", vb, "up")


def wait_ping(ns, dst, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if ns.run("ping", "-c", "1", "-W", "1", dst,
                  check=False).returncode == 0:
            return
        time.sleep(0.2)
    raise RuntimeError(f"no ping reply from {dst} within {timeout} s")


# ---- The two implementations -------------------------------------------

class BenchSuite(pmtest.Suite):
    """pmtest's suite without --debug: logging as in production."""

    def argv(self):
        return [a for a in super().argv() if a != "--debug"]


class PrivmeshPair:
    """privd --wg-config on each side (interface named after the file)."""
    name = "privmesh"

    def __init__(self, topo, workdir):
        self.topo = topo
        self.dir = tempfile.mkdtemp(prefix="pm-bench-", dir=workdir)
        os.chmod(self.dir, 0o755)
        self.suites = []

    def _conf(self, side, priv, addr, peer_pub, peer_ip, peer_endpoint):
        d = os.path.join(self.dir, side)
        os.mkdir(d)
        path = os.path.join(d, "pmbench.conf")
        with open(path, "w") as f:
            f.write("[Interface]\n"
                    f"PrivateKey = {priv}\n"
                    f"ListenPort = {PORT}\n"
                    f"Address = {addr}/24\n\n"
                    "[Peer]\n"
                    f"PublicKey = {peer_pub}\n"
                    f"AllowedIPs = {peer_ip}/32\n"
                    f"Endpoint = {peer_endpoint}:{PORT}\n")
        os.chmod(path, 0o600)
        return path

    def start(self):
        a_priv, a_pub = genkey()
        b_priv, b_pub = genkey()
        ca = self._conf("a", a_priv, A_TUN_IP, b_pub, B_TUN_IP, B_VETH_IP)
        cb = self._conf("b", b_priv, B_TUN_IP, a_pub, A_TUN_IP, A_VETH_IP)
        for ns, conf in ((self.topo.a, ca), (self.topo.b, cb)):
            s = BenchSuite(ns, ["--wg-config", conf])
            self.suites.append(s)
            s.start()
        for ns in (self.topo.a, self.topo.b):
            pmtest.wait_for(lambda ns=ns: ns.run(
                "ip", "link", "show", "pmbench", check=False).returncode == 0,
                timeout=15, what="privmesh's interface")

    def netd_pids(self):
        return [s.pid("netd") for s in self.suites]

    def stop(self):
        try:
            for s in self.suites:
                try:
                    s.cleanup()
                except Exception as e:
                    print(f"privd: {e}", file=sys.stderr)
        finally:
            self.suites = []
            shutil.rmtree(self.dir, ignore_errors=True)


class WireguardGoPair:
    """Debian's wireguard-go on each side, configured with wg(8).  The UAPI
    sockets live in /var/run/wireguard/ whatever the namespace, so the two
    interfaces need different names."""
    name = "wireguard-go"

    def __init__(self, topo, workdir):
        self.topo = topo
        self.dir = tempfile.mkdtemp(prefix="pm-bench-wgo-", dir=workdir)
        tag = uuid.uuid4().hex[:6]
        self.ifs = {"a": "wgba" + tag, "b": "wgbb" + tag}
        self.procs = []

    def _start_one(self, ns, ifname, priv, addr, peer_pub, peer_ip,
                   peer_endpoint):
        env = dict(os.environ, WG_PROCESS_FOREGROUND="1", LOG_LEVEL="error")
        p = subprocess.Popen(["ip", "netns", "exec", ns.name, "wireguard-go",
                              "-f", ifname], env=env,
                             stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        self.procs.append((p, ifname))
        sock = f"/var/run/wireguard/{ifname}.sock"
        pmtest.wait_for(lambda: os.path.exists(sock), timeout=10,
                        what="wireguard-go's UAPI socket")
        keyfile = os.path.join(self.dir, ifname + ".key")
        with open(keyfile, "w") as f:
            f.write(priv + "\n")
        os.chmod(keyfile, 0o600)
        ns.run("wg", "set", ifname, "private-key", keyfile, "listen-port",
               str(PORT), "peer", peer_pub, "allowed-ips", peer_ip + "/32",
               "endpoint", f"{peer_endpoint}:{PORT}")
        ns.run("ip", "addr", "add", addr + "/24", "dev", ifname)
        ns.run("ip", "link", "set", ifname, "mtu", "1420", "up")

    def start(self):
        a_priv, a_pub = genkey()
        b_priv, b_pub = genkey()
        self._start_one(self.topo.a, self.ifs["a"], a_priv, A_TUN_IP, b_pub,
                        B_TUN_IP, B_VETH_IP)
        self._start_one(self.topo.b, self.ifs["b"], b_priv, B_TUN_IP, a_pub,
                        A_TUN_IP, A_VETH_IP)

    def pids(self):
        return [p.pid for p, _ in self.procs]

    def stop(self):
        try:
            for p, ifname in self.procs:
                stop_proc(p)
                try:
                    os.unlink(f"/var/run/wireguard/{ifname}.sock")
                except FileNotFoundError:
                    pass
        finally:
            self.procs = []
            shutil.rmtree(self.dir, ignore_errors=True)


# ---- iperf3 -------------------------------------------------------------

def iperf(topo, cleanup, dst, streams, secs):
    """Mbit/s received by a one-off iperf3 server in B from a client in A."""
    srv = subprocess.Popen(["ip", "netns", "exec", topo.b.name, "iperf3",
                            "-s", "-1", "-p", str(IPERF_PORT)],
                           stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
    idx = cleanup.push(stop_proc, srv)
    try:
        pmtest.wait_for(lambda: f":{IPERF_PORT} " in topo.b.run(
            "ss", "-ltnH").stdout, timeout=5, what="iperf3 server")
        cmd = ["ip", "netns", "exec", topo.a.name, "iperf3", "-c", dst,
               "-p", str(IPERF_PORT), "-t", str(secs), "-J"]
        if streams > 1:
            cmd += ["-P", str(streams)]
        r = subprocess.run(cmd, capture_output=True, text=True,
                           timeout=secs + 30)
        res = json.loads(r.stdout)
        if "error" in res:
            raise RuntimeError(f"iperf3: {res['error']}")
        return res["end"]["sum_received"]["bits_per_second"] / 1e6
    finally:
        stop_proc(srv)
        cleanup.discard(idx)


def profile(pids, secs, outdir):
    """perf record -g on pids while a test runs; returns the report path."""
    data = os.path.join(outdir, "perf.data")
    rec = subprocess.Popen(["perf", "record", "-g", "-o", data, "-p",
                            ",".join(map(str, pids)), "--", "sleep",
                            str(secs)], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
    return rec, data


# System calls counted by --syscalls: the packet path's, and getrandom,
# which must not be on it.
SYSCALLS = ("getrandom", "read", "write", "recvmmsg", "sendmmsg", "sendto")


def count_syscalls(pids, secs):
    """perf stat on the syscall tracepoints of pids (low overhead, unlike
    strace); returns the running perf and where it writes."""
    out = tempfile.NamedTemporaryFile(prefix="pm-bench-sc-", suffix=".csv",
                                      delete=False)
    out.close()
    cmd = ["perf", "stat", "-x", ",", "-o", out.name, "-p",
           ",".join(map(str, pids))]
    for sc in SYSCALLS:
        cmd += ["-e", f"syscalls:sys_enter_{sc}"]
    rec = subprocess.Popen(cmd + ["--", "sleep", str(secs)],
                           stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
    return rec, out.name


def syscall_report(path):
    counts = {}
    with open(path) as f:
        for line in f:
            parts = line.strip().split(",")
            if len(parts) >= 3 and parts[2].startswith("syscalls:"):
                name = parts[2].split("sys_enter_")[-1]
                counts[name] = (int(parts[0]) if parts[0].isdigit()
                                else parts[0])
    os.unlink(path)
    return "  netd system calls: " + ", ".join(
        f"{k} {counts.get(k, '?')}" for k in SYSCALLS)


# ---- Main ---------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=2,
                    help="A,B turns per implementation (default 2)")
    ap.add_argument("--time", type=int, default=10,
                    help="iperf3 -t seconds (default 10)")
    ap.add_argument("--parallel", type=int, default=4,
                    help="streams in the multi-stream test (default 4)")
    ap.add_argument("--perf", metavar="DIR",
                    help="also perf record -g both netds during the first "
                         "privmesh single-stream test, into DIR/perf.data")
    ap.add_argument("--syscalls", action="store_true",
                    help="also count both netds' getrandom and packet "
                         "system calls (perf stat on the syscall "
                         "tracepoints) during each privmesh single-stream "
                         "test")
    args = ap.parse_args()

    if os.geteuid() != 0:
        sys.exit("wg_throughput.py: needs root (namespaces, TUN)")
    for tool in ("iperf3", "wireguard-go", "wg", "ip"):
        if shutil.which(tool) is None:
            sys.exit(f"wg_throughput.py: {tool} not found (Debian packages: "
                     "iperf3 wireguard-go wireguard-tools iproute2)")
    for b in (pmtest.PRIVD, pmtest.CLI):
        if not os.access(b, os.X_OK):
            sys.exit(f"wg_throughput.py: missing {b}: build first")

    # SIGTERM unwinds like Ctrl-C, through the finally below.
    def on_term(signum, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, on_term)

    cleanup = Cleanup()
    results = {"privmesh": {1: [], args.parallel: []},
               "wireguard-go": {1: [], args.parallel: []}}
    ceiling = {}
    profiled = False
    try:
        workdir = tempfile.mkdtemp(prefix="pm-wgbench-")
        cleanup.push(shutil.rmtree, workdir, True)
        topo = Topology(cleanup)
        wait_ping(topo.a, B_VETH_IP)
        for n in (1, args.parallel):
            ceiling[n] = iperf(topo, cleanup, B_VETH_IP, n, args.time)
            print(f"veth (no tunnel)  {n} stream(s): {ceiling[n]:9.1f} "
                  "Mbit/s", flush=True)
        for rnd in range(1, args.rounds + 1):
            for impl in (PrivmeshPair, WireguardGoPair):
                pair = impl(topo, workdir)
                idx = cleanup.push(pair.stop)
                try:
                    pair.start()
                    wait_ping(topo.a, B_TUN_IP)
                    for n in (1, args.parallel):
                        rec = sc = None
                        if (args.perf and not profiled and n == 1 and
                                impl is PrivmeshPair):
                            os.makedirs(args.perf, exist_ok=True)
                            rec, data = profile(pair.netd_pids(),
                                                max(args.time - 2, 1),
                                                args.perf)
                            profiled = True
                        if (args.syscalls and n == 1 and
                                impl is PrivmeshPair):
                            sc, scpath = count_syscalls(
                                pair.netd_pids(), max(args.time - 2, 1))
                        mbps = iperf(topo, cleanup, B_TUN_IP, n, args.time)
                        if rec is not None:
                            rec.wait()
                            print(f"  perf data: {data} (netd pids "
                                  f"{pair.netd_pids()})")
                        if sc is not None:
                            sc.wait()
                            print(syscall_report(scpath))
                        results[impl.name][n].append(mbps)
                        print(f"round {rnd}  {impl.name:12s} {n} stream(s): "
                              f"{mbps:9.1f} Mbit/s", flush=True)
                finally:
                    pair.stop()
                    cleanup.discard(idx)
    except KeyboardInterrupt:
        print("\ninterrupted: cleaning up", file=sys.stderr)
        cleanup.run()
        return 130
    finally:
        cleanup.run()

    print()
    print(f"{'':22s}{'1 stream':>14s}{f'{args.parallel} streams':>14s}")
    print(f"{'veth (ceiling)':22s}{ceiling[1]:14.1f}"
          f"{ceiling[args.parallel]:14.1f}")
    med = {}
    for name in ("privmesh", "wireguard-go"):
        med[name] = {n: statistics.median(v) for n, v in results[name].items()}
        runs = {n: " ".join(f"{x:.0f}" for x in v)
                for n, v in results[name].items()}
        print(f"{name + ' (median)':22s}{med[name][1]:14.1f}"
              f"{med[name][args.parallel]:14.1f}   runs: "
              f"[{runs[1]}] [{runs[args.parallel]}]")
    ratio = {n: med["privmesh"][n] / med["wireguard-go"][n]
             if med["wireguard-go"][n] else float("nan")
             for n in (1, args.parallel)}
    print(f"{'privmesh/wireguard-go':22s}{ratio[1]:14.2f}"
          f"{ratio[args.parallel]:14.2f}")
    print("(Mbit/s received, iperf3 TCP, -t %d)" % args.time)
    return 0


if __name__ == "__main__":
    sys.exit(main())
