#!/usr/bin/python3
"""DNS throughput and latency: privmesh's dnsd against dnsmasq, same run,
same machine, with dnsperf.

    netns "node" ------------------------------------------------------------+
    | dnsperf -> 100.100.100.100:53 -> route -> pm0 (TUN) -> netd -> dnsd   |
    | dnsperf -> 127.0.0.1:5353  dnsmasq, the same names from --addn-hosts  |
    | dnsperf -> 127.0.0.1:5354  dnsmasq --server=127.0.0.1#5300            |
    |            dnsd route fwd.test. -> 127.0.0.1:5300                      |
    | unbound on 127.0.0.1:5300: fwd.test. redirect zone (any name answers) |
    +------------------------------------------------------------------------+

Two comparisons, taking turns for --rounds rounds:
  local    dnsd answering tailnet names (1000 hosts)  vs  dnsmasq answering
           the same 1000 names from its cache
  forward  dnsd forwarding to unbound  vs  dnsmasq forwarding to the same
           unbound; 200000 distinct names, so both mostly miss their caches
Each run: dnsperf -l --seconds, -c 8 -T 2 -q 500 (queries per second over the
whole run), with the CPU seconds per second each server process used
(netd and dnsd for privmesh, dnsmasq for dnsmasq, plus unbound when
forwarding) and dnsperf's own (the load generator shares the cores).
p99 latency comes from a second, shorter dnsperf -v run per
server at the same load.  Prints every run, the medians, the ratios and
dnsd's (and netd's) RSS.  Everything shares the machine's 2 cores: dnsperf,
the kernel's TUN path, netd, dnsd / dnsmasq, unbound.

    sudo /usr/bin/python3 tests/bench/dns_bench.py [--rounds 2] [--seconds 10]
"""
import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
import pmtest  # noqa: E402

NHOSTS = 1000
NFWD = 200000


def write(path, text):
    with open(path, "w") as f:
        f.write(text)


def latency(line):
    """Seconds from a dnsperf -v line ("> NOERROR name A 0.000139"); a
    query that timed out ("> T name A") counts as the 2 s timeout."""
    try:
        return float(line.split()[-1])
    except ValueError:
        return 2.0


class Bench:
    def __init__(self, args):
        self.args = args
        self.ns = pmtest.Netns()
        self.dir = tempfile.mkdtemp(prefix="pm-dnsbench-")
        os.chmod(self.dir, 0o755)
        self.procs = []
        self.suite = None

    def files(self):
        d = self.dir
        hosts = {f"h{i}.tail.example.": [f"100.64.{i // 250}.{i % 250 + 1}"]
                 for i in range(NHOSTS)}
        write(f"{d}/dns.json", json.dumps({
            "Domains": ["tail.example"], "Proxied": True,
            "Routes": {"tail.example.": [],
                       "fwd.test.": [{"Addr": "127.0.0.1:5300"}]},
            "Hosts": hosts}))
        write(f"{d}/hosts", "".join(f"{a[0]} {n.rstrip('.')}\n"
                                    for n, a in hosts.items()))
        write(f"{d}/q-local", "".join(f"h{i}.tail.example A\n"
                                      for i in range(NHOSTS)))
        write(f"{d}/q-fwd", "".join(f"q{i}.fwd.test A\n" for i in range(NFWD)))
        write(f"{d}/unbound.conf", f"""server:
  interface: 127.0.0.1@5300
  do-daemonize: no
  chroot: ""
  username: ""
  pidfile: ""
  directory: "{d}"
  use-syslog: no
  num-threads: 1
  access-control: 127.0.0.0/8 allow
  local-zone: "fwd.test." redirect
  local-data: "fwd.test. 300 IN A 192.0.2.1"
remote-control:
  control-enable: no
""")
        write(f"{d}/resolv.conf", "nameserver 127.0.0.1\n")

    def spawn(self, *argv):
        p = subprocess.Popen(["ip", "netns", "exec", self.ns.name, *argv],
                             stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        self.procs.append(p)
        return p

    def start(self):
        d = self.dir
        self.files()
        self.unbound = self.spawn("unbound", "-d", "-c", f"{d}/unbound.conf")
        common = ["dnsmasq", "-k", "--conf-file=/dev/null", "--no-resolv",
                  "--no-hosts", "--pid-file", "--user=root",
                  "--listen-address=127.0.0.1", "--bind-interfaces"]
        self.dnsmasq = {
            "local": self.spawn(*common, "--port=5353",
                                f"--addn-hosts={d}/hosts", "--local-ttl=600"),
            "forward": self.spawn(*common, "--port=5354",
                                  "--server=127.0.0.1#5300"),
        }
        self.suite = pmtest.Suite(self.ns, extra_args=[
            "--dns-config", f"{d}/dns.json", "--resolv-conf",
            f"{d}/resolv.conf"])
        self.suite.start()
        self.ns.run("ip", "addr", "add", "100.64.255.1/32", "dev", "pm0")
        pmtest.wait_for(lambda: self.ns.run(
            "dig", "+short", "+time=1", "+tries=1", "@100.100.100.100",
            "h1.tail.example", check=False).stdout.strip() == "100.64.0.2",
            what="dnsd")
        pmtest.wait_for(lambda: self.ns.run(
            "dig", "+short", "+time=1", "+tries=1", "@127.0.0.1", "-p", "5353",
            "h1.tail.example", check=False).stdout.strip() == "100.64.0.2",
            what="dnsmasq with the hosts file")
        pmtest.wait_for(lambda: self.ns.run(
            "dig", "+short", "+time=1", "+tries=1", "@127.0.0.1", "-p", "5354",
            "x.fwd.test", check=False).stdout.strip() == "192.0.2.1",
            what="dnsmasq -> unbound")

    def dnsperf(self, server, port, qfile, seconds, verbose=False):
        cmd = ["dnsperf", "-s", server, "-p", str(port), "-d",
               f"{self.dir}/{qfile}", "-l", str(seconds), "-c", "8", "-T", "2",
               "-q", "500", "-t", "2"]
        if verbose:
            cmd.append("-v")
        out = self.ns.run(*cmd, check=False).stdout
        if verbose:
            lat = sorted(latency(l) for l in out.splitlines()
                         if l.startswith("> "))
            return lat[int(len(lat) * 0.99)] * 1000 if lat else float("nan")
        qps = float(re.search(r"Queries per second:\s+([\d.]+)", out).group(1))
        lost = re.search(r"Queries lost:\s+(\d+)", out).group(1)
        return qps, int(lost)

    def children_cpu(self):
        """CPU seconds of waited-for children: dnsperf (`ip netns exec`
        execs in place, so the child is dnsperf itself)."""
        r = resource.getrusage(resource.RUSAGE_CHILDREN)
        return r.ru_utime + r.ru_stime

    def cpu(self, pid):
        """utime + stime of a process, in seconds."""
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def pids(self, kind, name):
        """The processes serving this run (`ip netns exec` execs in place,
        so a Popen's pid is the server's)."""
        if name == "dnsd":
            p = {n: self.suite.pid(n) for n in ("netd", "dnsd")}
        else:
            p = {"dnsmasq": self.dnsmasq[kind].pid}
        if kind == "forward":
            p["unbound"] = self.unbound.pid
        return p

    def rss(self, name):
        st = pmtest.proc_status(self.suite.pid(name))
        return st["VmRSS"]

    def run(self):
        targets = {
            "local": [("dnsd", "100.100.100.100", 53, "q-local"),
                      ("dnsmasq", "127.0.0.1", 5353, "q-local")],
            "forward": [("dnsd", "100.100.100.100", 53, "q-fwd"),
                        ("dnsmasq", "127.0.0.1", 5354, "q-fwd")],
        }
        res = {}
        for r in range(self.args.rounds):
            for kind, pair in targets.items():
                for name, server, port, qf in pair:
                    pids = self.pids(kind, name)
                    before = {n: self.cpu(p) for n, p in pids.items()}
                    gen = self.children_cpu()
                    qps, lost = self.dnsperf(server, port, qf,
                                             self.args.seconds)
                    gen = (self.children_cpu() - gen) / self.args.seconds
                    cpu = " ".join(
                        f"{n} {(self.cpu(p) - before[n]) / self.args.seconds:.2f}"
                        for n, p in pids.items()) + f" dnsperf {gen:.2f}"
                    res.setdefault((kind, name), []).append(qps)
                    print(f"round {r + 1} {kind:7s} {name:8s} {qps:10.0f} qps"
                          f"  lost {lost:5d}  cpu/s: {cpu}", flush=True)
        p99 = {}
        for kind, pair in targets.items():
            for name, server, port, qf in pair:
                p99[(kind, name)] = self.dnsperf(server, port, qf, 3, True)
        print()
        for kind in targets:
            d = statistics.median(res[(kind, "dnsd")])
            m = statistics.median(res[(kind, "dnsmasq")])
            print(f"{kind:7s}  dnsd {d:9.0f} qps (p99 {p99[(kind, 'dnsd')]:.2f} ms)"
                  f"   dnsmasq {m:9.0f} qps (p99 {p99[(kind, 'dnsmasq')]:.2f} ms)"
                  f"   ratio {d / m:.2f}")
        print(f"dnsd RSS {self.rss('dnsd')}, netd RSS {self.rss('netd')}")

    def cleanup(self):
        for p in self.procs:
            p.kill()
            p.wait()
        if self.suite:
            self.suite.cleanup()
        self.ns.delete()
        subprocess.run(["rm", "-rf", self.dir])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--seconds", type=int, default=10)
    b = Bench(ap.parse_args())
    try:
        b.start()
        b.run()
    finally:
        b.cleanup()


if __name__ == "__main__":
    main()
