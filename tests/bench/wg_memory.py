#!/usr/bin/python3
"""netd's memory per idle WireGuard peer.

Starts a privd suite in --wg-config mode in a fresh network namespace twice:
once with 1 configured peer and once with --peers (default 1000).  Peers
have no endpoint, so they stay idle (no handshake, no keypair); peer i owns
10.(i >> 8).(i & 255).0/24.  Once netd reports every peer, reads its VmRSS
and RssAnon from /proc/<pid>/status (pid from `privmesh status --json`) and
prints both and the bytes per idle peer:

    (RSS_N - RSS_1) / (N - 1)

The target is under 1 KiB (1024 bytes) per idle peer.  RSS is counted in
4 KiB pages, so with 1000 peers the figure is good to about 4 bytes.

Keys are X25519 key pairs made here (python3-nacl if installed, otherwise
a small RFC 7748 implementation; checked against `wg pubkey` once).

Needs root and a built tree (PRIVMESH_BUILD, default build/):

    sudo /usr/bin/python3 tests/bench/wg_memory.py [--peers 1000]

The namespace, privd and its state directory are removed on exit, also on
Ctrl-C or SIGTERM.
"""
import argparse
import base64
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
import pmtest  # noqa: E402

# ---- X25519 keys ---------------------------------------------------------

_P = 2**255 - 19
_A24 = 121665


def _x25519_base(k):
    """RFC 7748 X25519(k, 9) on a clamped scalar (Montgomery ladder)."""
    k = bytearray(k)
    k[0] &= 248
    k[31] &= 127
    k[31] |= 64
    n = int.from_bytes(k, "little")
    x1, x2, z2, x3, z3, swap = 9, 1, 0, 9, 1, 0
    for t in reversed(range(255)):
        kt = (n >> t) & 1
        swap ^= kt
        if swap:
            x2, x3, z2, z3 = x3, x2, z3, z2
        swap = kt
        a, b = (x2 + z2) % _P, (x2 - z2) % _P
        aa, bb = a * a % _P, b * b % _P
        e = (aa - bb) % _P
        c, d = (x3 + z3) % _P, (x3 - z3) % _P
        da, cb = d * a % _P, c * b % _P
        x3 = (da + cb) ** 2 % _P
        z3 = x1 * (da - cb) ** 2 % _P
        x2 = aa * bb % _P
        z2 = e * (aa + _A24 * e) % _P
    if swap:
        x2, z2 = x3, z3
    return (x2 * pow(z2, _P - 2, _P) % _P).to_bytes(32, "little")


def _pubkey_fn():
    try:
        from nacl.bindings import crypto_scalarmult_base
    except ImportError:
        return _x25519_base, "pure-Python X25519"

    def nacl_pub(priv):
        k = bytearray(priv)     # wg(8) clamps too; make it explicit
        k[0] &= 248
        k[31] &= 127
        k[31] |= 64
        return crypto_scalarmult_base(bytes(k))
    return nacl_pub, "python3-nacl"


def keypairs(n):
    pub_of, how = _pubkey_fn()
    out = []
    for _ in range(n):
        priv = os.urandom(32)
        out.append((base64.b64encode(priv).decode(),
                    base64.b64encode(pub_of(priv)).decode()))
    # Once against wg(8), so a broken implementation cannot go unnoticed.
    if shutil.which("wg"):
        want = subprocess.run(["wg", "pubkey"], input=out[0][0] + "\n",
                              capture_output=True, text=True,
                              check=True).stdout.strip()
        if want != out[0][1]:
            sys.exit(f"wg_memory.py: {how} disagrees with `wg pubkey`")
    return out, how


# ---- One measurement -----------------------------------------------------

def write_conf(path, our_priv, peers):
    lines = ["[Interface]", f"PrivateKey = {our_priv}", "ListenPort = 51820",
             "Address = 10.254.0.1/16", ""]
    for i, (_, pub) in enumerate(peers):
        lines += ["[Peer]", f"PublicKey = {pub}",
                  f"AllowedIPs = 10.{i >> 8}.{i & 255}.0/24", ""]
    with open(path, "w") as f:
        f.write("\n".join(lines))
    os.chmod(path, 0o600)


class BenchSuite(pmtest.Suite):
    """pmtest's suite without --debug: logging as in production."""

    def argv(self):
        return [a for a in super().argv() if a != "--debug"]


def smaps_rss(pid):
    """Resident bytes of the [heap] and of the other anonymous mappings
    (netd's .bss, malloc's mmaps, the stack)."""
    out = {"heap": 0, "other anon": 0}
    kind = None
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            head = line.split(None, 5)
            if "-" in head[0] and len(head) >= 5 and ":" in head[3]:
                name = head[5].strip() if len(head) > 5 else ""
                kind = ("heap" if name == "[heap]" else
                        "other anon" if "/" not in name and
                        name not in ("[vdso]", "[vvar]", "[vsyscall]")
                        else None)
            elif line.startswith("Rss:") and kind is not None:
                out[kind] += int(line.split()[1]) * 1024
    return out


def mem_of(pid):
    st = pmtest.proc_status(pid)

    def kb(k):
        return int(st[k].split()[0]) * 1024 if k in st else 0
    m = {"VmRSS": kb("VmRSS"), "RssAnon": kb("RssAnon")}
    m.update(smaps_rss(pid))
    return m


def measure(cleanup, our_priv, peers, settle):
    ns = pmtest.Netns()
    cleanup.append(ns.delete)
    d = tempfile.mkdtemp(prefix="pm-wgmem-")
    cleanup.append(lambda: shutil.rmtree(d, ignore_errors=True))
    os.chmod(d, 0o755)
    conf = os.path.join(d, "pmmem.conf")
    write_conf(conf, our_priv, peers)
    s = BenchSuite(ns, ["--wg-config", conf])
    cleanup.append(s.cleanup)
    s.start()

    def all_peers():
        wg = s.status().get("wireguard")
        return isinstance(wg, dict) and len(wg.get("peers", [])) == len(peers)
    pmtest.wait_for(all_peers, timeout=60, what=f"{len(peers)} peers in status")
    time.sleep(settle)          # let start-up work finish
    pid = s.pid("netd")
    m = mem_of(pid)
    m["pid"] = pid
    # Tear down now: the next measurement starts from a quiet machine.
    while cleanup:
        cleanup.pop()()
    return m


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--peers", type=int, default=1000,
                    help="peers in the large configuration (default 1000, "
                         "at most 1024)")
    ap.add_argument("--settle", type=float, default=2.0,
                    help="seconds to wait before reading RSS (default 2)")
    args = ap.parse_args()
    if args.peers < 2 or args.peers > 1024:
        sys.exit("wg_memory.py: --peers must be 2..1024 (WG_CONFIG_MAX_PEERS)")
    if os.geteuid() != 0:
        sys.exit("wg_memory.py: needs root (namespaces, TUN)")
    for b in (pmtest.PRIVD, pmtest.CLI):
        if not os.access(b, os.X_OK):
            sys.exit(f"wg_memory.py: missing {b}: build first")

    def on_term(signum, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, on_term)

    t0 = time.time()
    keys, how = keypairs(args.peers + 1)
    print(f"{args.peers + 1} key pairs ({how}) in {time.time() - t0:.1f} s")
    our_priv, peers = keys[0][0], keys[1:]

    cleanup = []
    try:
        small = measure(cleanup, our_priv, peers[:1], args.settle)
        large = measure(cleanup, our_priv, peers, args.settle)
    except KeyboardInterrupt:
        print("\ninterrupted: cleaning up", file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        while cleanup:
            try:
                cleanup.pop()()
            except Exception as e:
                print(f"cleanup: {e}", file=sys.stderr)

    n = args.peers
    print(f"{'':12s}{'1 peer':>14s}{f'{n} peers':>14s}{'per idle peer':>16s}")
    for k in ("VmRSS", "RssAnon", "heap", "other anon"):
        per = (large[k] - small[k]) / (n - 1)
        print(f"{k:12s}{small[k]:14d}{large[k]:14d}{per:16.0f}")
    print("(bytes; heap = malloc's arena; other anon = netd's .bss, "
          "malloc's mmaps and\n the stack, where static buffers that "
          "start-up and the status request touch\n grow with the peers "
          "up to their fixed size; RssAnon also counts libraries'\n "
          "copy-on-write pages)")
    per = (large["VmRSS"] - small["VmRSS"]) / (n - 1)
    verdict = "meets" if per < 1024 else "misses"
    print(f"netd: {per:.0f} bytes of VmRSS per idle peer "
          f"({verdict} the < 1 KiB target)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
