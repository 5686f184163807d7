"""A local demo tailnet: the test control server, a DERP relay with STUN
and three privmesh nodes, each in its own network namespace, joined with a
pre-auth key; prints `privmesh netcheck`, `privmesh ping` (disco: the first
pong may come through the relay, then the direct path), `privmesh status`
and pings across the tailnet.

Run by ./demo.sh (after it installed and built everything) and by the test
suite.  Everything lives in namespaces this script creates and deletes:

    netns ctl:  br0 192.0.2.1/24, tests/testcontrol on 192.0.2.1:8080,
                tests/testderp (DERP over TLS, STUN on 3478) on 192.0.2.1
        |-- veth -- node-a  192.0.2.11
        |-- veth -- node-b  192.0.2.12
        `-- veth -- node-c  192.0.2.13

  /usr/bin/python3 tests/demo_tailnet.py [--keep]

--keep leaves the tailnet up until Ctrl-C and says how to talk to each node.
Exit status 0 only if every node saw the other two, every ping answered
and the disco ping ended on a direct path.
"""
import ipaddress
import os
import signal
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "integration"))
sys.path.insert(0, os.path.dirname(HERE))
from bridgelab import BridgeLab  # noqa: E402
from pmtest import CLI  # noqa: E402

NAMES = ("a", "b", "c")


def wait(pred, timeout, what):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if pred():
                return
        except Exception:       # a node still starting: ask again
            pass
        time.sleep(0.2)
    raise SystemExit(f"demo: timed out waiting for {what}")


def backend(suite):
    return suite.status()["backend"]


def tailnet_ips(suite):
    return [ipaddress.ip_interface(a).ip
            for a in backend(suite)["self"]["addresses"]]


def show(title, text):
    print(f"\n--- {title} ---\n{text.rstrip()}", flush=True)


def main():
    keep = "--keep" in sys.argv[1:]
    lab = BridgeLab(NAMES, "pmdemo", stun=True, code="demo",
                    name="Demo relay")
    ok = True
    try:
        lab.start()
        tc = lab.tc
        key = tc.preauth_key(user="demo", reusable=True)
        print(f"control server {tc.url} (netns {lab.ctl.name}), pre-auth "
              f"key {key}", flush=True)
        nodes = [(n.hostname, n.ns, n.suite) for n in lab.nodes]
        for host, ns, s in nodes:
            r = s.cli("up", "--login-server", tc.url, "--auth-key", key,
                      "--hostname", host, "--timeout", "30", check=False)
            print(f"{host}: privmesh up: "
                  f"{'ok' if r.returncode == 0 else 'FAILED'} "
                  f"{(r.stdout + r.stderr).strip()}", flush=True)
            ok = ok and r.returncode == 0
        for host, ns, s in nodes:
            wait(lambda s=s: len(backend(s)["peers"]) == len(nodes) - 1 and
                 len(s.status()["wireguard"]["peers"]) == len(nodes) - 1,
                 30, f"{host} to see its peers")
        host, ns, s = nodes[0]
        show(f"{host}: privmesh ip", s.cli("ip").stdout)
        print(flush=True)
        for src_host, src_ns, _ in nodes:
            for dst_host, _, dst in nodes:
                if dst_host == src_host:
                    continue
                for ip in tailnet_ips(dst):
                    r = src_ns.run("ping", "-c", "3", "-i", "0.2", "-W", "2",
                                   str(ip), check=False)
                    line = [ln for ln in r.stdout.splitlines()
                            if "packets transmitted" in ln or "rtt" in ln]
                    print(f"{src_host} -> {dst_host} {ip}: "
                          f"{'ok' if r.returncode == 0 else 'FAILED'}  "
                          f"{' | '.join(line)}", flush=True)
                    ok = ok and r.returncode == 0
        show(f"{host}: privmesh netcheck", s.cli("netcheck").stdout)
        r = s.cli("ping", "-c", "10", "node-b", check=False)
        show(f"{host}: privmesh ping node-b", r.stdout + r.stderr)
        ok = ok and r.returncode == 0 and " via 192.0.2.12:" in r.stdout
        show(f"{host}: privmesh status", s.cli("status").stdout)
        r = ns.run("dig", "+short", "+time=2", "+tries=1", "@100.100.100.100",
                   "node-b.tailnet.test", "A", "node-b.tailnet.test", "AAAA",
                   check=False)
        show(f"{host}: dig @100.100.100.100 node-b.tailnet.test (MagicDNS)",
             r.stdout)
        ok = ok and r.returncode == 0 and len(r.stdout.split()) == 2
        if keep:
            print("\nThe tailnet keeps running until Ctrl-C. Talk to a node:")
            for host, ns, s in nodes:
                print(f"  {CLI} --socket {s.sock} status   "
                      f"(ip netns exec {ns.name} ping ...)")
            signal.signal(signal.SIGTERM, signal.default_int_handler)
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                pass
    finally:
        bad = lab.close(False)
        for ln in bad:
            print("sanitizer: " + ln)
        ok = ok and not bad
    print("\ndemo: " + ("every node reached every other over the tailnet"
                        if ok else "some pings FAILED or stayed relayed"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
