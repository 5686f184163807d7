"""`privmesh status` lists every configured peer with its endpoint and
allowed IPs when the list takes netd several replies: 60 peers with 64
prefixes each, most of them IPv6 host prefixes of the longest text form
(so that 64 peers' worth would not fit one 64 KiB reply), plus one with
70, of which status shows the first 64, IPv4 first and each family in
address order."""
import ipaddress
import os
import shutil
import tempfile

from pmtest import Netns, Suite, wait_for
from wgpeer import genkey

NPEERS = 60


def peer_prefixes(i):
    v4 = [f"10.{i}.{k}.0/24" for k in range(8)]
    v6 = [f"fd00:{0x1000 + i:x}:1111:2222:3333:4444:{0x5000 + k:x}:ffff/128"
          for k in range(56)]
    return v4 + v6


def big_prefixes():
    v4 = [f"10.200.{k}.0/24" for k in range(40)]
    v6 = [f"fd00:c8:{k:x}::/64" for k in range(30)]
    return v4 + v6


def address_order(prefixes):
    nets = [ipaddress.ip_network(p) for p in prefixes]
    nets.sort(key=lambda n: (n.version, n.network_address, n.prefixlen))
    return [str(n) for n in nets]


def test_status_lists_every_peer_and_prefix():
    ns = Netns()
    d = tempfile.mkdtemp(prefix="pm-wgstatus-")
    suite = None
    try:
        os.chmod(d, 0o755)
        conf = os.path.join(d, "pmst.conf")
        want = {}
        lines = ["[Interface]", f"PrivateKey = {genkey()[0]}",
                 "ListenPort = 51820", "Address = 10.254.0.1/16", ""]
        for i in range(NPEERS + 1):
            pub = genkey()[1]
            aips = peer_prefixes(i) if i < NPEERS else big_prefixes()
            lines += ["[Peer]", f"PublicKey = {pub}",
                      f"AllowedIPs = {', '.join(reversed(aips))}"]
            endpoint = ""
            if i % 20 == 1:
                endpoint = f"192.0.2.{i}:{51000 + i}"
            elif i % 20 == 2:
                endpoint = f"[2001:db8::{i:x}]:{51000 + i}"
            if endpoint:
                lines.append(f"Endpoint = {endpoint}")
            lines.append("")
            want[pub] = (endpoint, address_order(aips)[:64])
        with open(conf, "w") as f:
            f.write("\n".join(lines))
        os.chmod(conf, 0o600)
        suite = Suite(ns, ["--wg-config", conf])
        suite.start()

        def peers():
            wg = suite.status().get("wireguard") or {}
            got = wg.get("peers", [])
            return got if len(got) == len(want) else None
        got = wait_for(peers, timeout=30, what=f"{len(want)} peers in status")
        assert suite.status()["complete"]
        assert sorted(p["public_key"] for p in got) == sorted(want)
        for p in got:
            endpoint, aips = want[p["public_key"]]
            assert p["endpoint"] == endpoint
            assert p["allowed_ips"] == aips
    finally:
        if suite is not None:
            suite.cleanup()
        ns.delete()
        shutil.rmtree(d, ignore_errors=True)
