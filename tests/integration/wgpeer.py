"""A reference WireGuard peer for interop tests: Debian's wireguard-go
configured with `wg`, in its own network namespace.

Topology built by `Pair`:

    netns A (privmesh)                      netns B (wireguard-go)
    veth a: 198.51.100.1/24  <-------->  veth b: 198.51.100.2/24
    tunnel: 10.9.0.1/24, fd00:9::1/64       tunnel: 10.9.0.2/24, fd00:9::2/64
"""
import os
import subprocess
import tempfile
import time
import uuid

from pmtest import Netns, Suite, sh, wait_for


def genkey():
    priv = sh("wg", "genkey").stdout.strip()
    pub = subprocess.run(["wg", "pubkey"], input=priv, capture_output=True,
                         text=True, check=True).stdout.strip()
    return priv, pub


class WireguardGo:
    """wireguard-go in `ns`, interface `name`, configured through `wg`."""

    def __init__(self, ns, name):
        self.ns, self.name = ns, name
        env = dict(os.environ, WG_PROCESS_FOREGROUND="1", LOG_LEVEL="error")
        self.proc = subprocess.Popen(["ip", "netns", "exec", ns.name,
                                      "wireguard-go", "-f", name], env=env,
                                     stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        wait_for(lambda: ns.run("ip", "link", "show", name,
                                check=False).returncode == 0,
                 what="wireguard-go's interface")
        wait_for(lambda: os.path.exists(f"/var/run/wireguard/{name}.sock"),
                 what="wireguard-go's UAPI socket")

    def wg(self, *args):
        return self.ns.run("wg", *args)

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class Pair:
    def __init__(self, a_port=51821, b_port=51820, psk=None, a_endpoint=True,
                 b_endpoint=True, keepalive=None):
        tag = uuid.uuid4().hex[:6]
        self.a, self.b = Netns(), Netns()
        self.ifa = f"pmwg{tag}"
        self.ifb = f"wgb{tag}"
        sh("ip", "link", "add", "va" + tag, "netns", self.a.name, "type",
           "veth", "peer", "name", "vb" + tag, "netns", self.b.name)
        self.a.run("ip", "addr", "add", "198.51.100.1/24", "dev", "va" + tag)
        self.b.run("ip", "addr", "add", "198.51.100.2/24", "dev", "vb" + tag)
        self.a.run("ip", "link", "set", "va" + tag, "up")
        self.b.run("ip", "link", "set", "vb" + tag, "up")
        self.veth_a, self.veth_b = "va" + tag, "vb" + tag
        self.a_priv, self.a_pub = genkey()
        self.b_priv, self.b_pub = genkey()
        self.psk = sh("wg", "genpsk").stdout.strip() if psk else None
        self.a_port, self.b_port = a_port, b_port
        self.dir = tempfile.mkdtemp(prefix="pm-wg-")
        os.chmod(self.dir, 0o755)
        self.wgo = WireguardGo(self.b, self.ifb)
        self._setup_b(a_endpoint, keepalive)
        self.conf = os.path.join(self.dir, self.ifa + ".conf")
        self.write_conf(b_endpoint, keepalive)
        self.suite = None

    def _setup_b(self, a_endpoint, keepalive):
        keyfile = os.path.join(self.dir, "b.key")
        with open(keyfile, "w") as f:
            f.write(self.b_priv + "\n")
        args = ["set", self.ifb, "private-key", keyfile, "listen-port",
                str(self.b_port), "peer", self.a_pub, "allowed-ips",
                "10.9.0.1/32,fd00:9::1/128"]
        if a_endpoint:
            args += ["endpoint", f"198.51.100.1:{self.a_port}"]
        if self.psk:
            pskfile = os.path.join(self.dir, "psk")
            with open(pskfile, "w") as f:
                f.write(self.psk + "\n")
            args += ["preshared-key", pskfile]
        if keepalive:
            args += ["persistent-keepalive", str(keepalive)]
        self.wgo.wg(*args)
        self.b.run("ip", "addr", "add", "10.9.0.2/24", "dev", self.ifb)
        self.b.run("ip", "addr", "add", "fd00:9::2/64", "dev", self.ifb)
        self.b.run("ip", "link", "set", self.ifb, "up")

    def write_conf(self, b_endpoint=True, keepalive=None, a_priv=None,
                   allowed="10.9.0.2/32, fd00:9::2/128"):
        lines = ["[Interface]", f"PrivateKey = {a_priv or self.a_priv}",
                 f"ListenPort = {self.a_port}",
                 "Address = 10.9.0.1/24, fd00:9::1/64", "",
                 "[Peer]", f"PublicKey = {self.b_pub}",
                 f"AllowedIPs = {allowed}"]
        if b_endpoint:
            lines.append(f"Endpoint = 198.51.100.2:{self.b_port}")
        if self.psk:
            lines.append(f"PresharedKey = {self.psk}")
        if keepalive:
            lines.append(f"PersistentKeepalive = {keepalive}")
        with open(self.conf, "w") as f:
            f.write("\n".join(lines) + "\n")
        os.chmod(self.conf, 0o600)

    def start(self, wait=True):
        self.suite = Suite(self.a, ["--wg-config", self.conf])
        self.suite.start(wait=wait)
        if wait:
            wait_for(lambda: self.a.run("ip", "link", "show", self.ifa,
                                        check=False).returncode == 0,
                     what="privmesh's interface")
        return self.suite

    def ping(self, ns, dst, count=3, timeout=10, check=True):
        return ns.run("ping", "-c", str(count), "-i", "0.2", "-W", "2",
                      "-w", str(timeout), dst, check=check)

    def cleanup(self):
        try:
            if self.suite is not None:
                self.suite.cleanup()
        finally:
            self.wgo.stop()
            self.a.delete()
            self.b.delete()
            sh("rm", "-rf", self.dir)


def wait_handshake(pair, timeout=15):
    def done():
        out = pair.wgo.wg("show", pair.ifb, "latest-handshakes").stdout.split()
        return len(out) == 2 and out[1] != "0"
    wait_for(done, timeout=timeout, what="a handshake on wireguard-go's side")
