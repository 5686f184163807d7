"""TestControl: runs the server as a child process (optionally inside a
network namespace) and drives it through the admin socket.

    tc = TestControl(addr="127.0.0.1:8080", ns="pmt-1234")
    tc.start()
    key = tc.preauth_key(user="alice")
    ...
    tc.stop()
"""

import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))


class _UnixHTTP(http.client.HTTPConnection):
    def __init__(self, path, timeout=10):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self.unix_path)
        self.sock = s


class AdminError(Exception):
    pass


class Admin:
    """Client of the admin socket (usable without the harness)."""

    def __init__(self, path):
        self.path = path

    def call(self, op, timeout=30, **args):
        c = _UnixHTTP(self.path, timeout=timeout)
        try:
            body = json.dumps(args).encode()
            c.request("POST", "/api/" + op, body=body,
                      headers={"Content-Type": "application/json"})
            r = c.getresponse()
            data = json.loads(r.read() or b"{}")
        finally:
            c.close()
        if r.status != 200:
            raise AdminError(data.get("error", f"HTTP {r.status}"))
        return data


class TestControl:
    __test__ = False    # not a pytest class

    def __init__(self, addr="127.0.0.1:8080", ns=None, state_dir=None,
                 tls_cert=None, tls_key=None, keepalive=2.0,
                 server_url=None, min_capver=None, derpmap=None, dns=None,
                 base_domain=None, extra_args=()):
        self.addr = addr
        self.ns = ns
        self._own_dir = state_dir is None
        self.state_dir = state_dir or tempfile.mkdtemp(prefix="testcontrol-")
        self.tls_cert, self.tls_key = tls_cert, tls_key
        self.keepalive = keepalive
        self.server_url = server_url
        self.min_capver = min_capver
        self.derpmap = derpmap
        self.dns = dns
        self.base_domain = base_domain
        self.extra_args = list(extra_args)
        self.proc = None
        self.log_path = os.path.join(self.state_dir, "server.log")
        self.admin = Admin(os.path.join(self.state_dir, "admin.sock"))

    @property
    def url(self):
        if self.server_url:
            return self.server_url
        return ("https://" if self.tls_cert else "http://") + self.addr

    def command(self):
        cmd = [sys.executable if sys.executable else "/usr/bin/python3",
               "-m", "tests.testcontrol", "--listen", self.addr,
               "--state", self.state_dir, "--keepalive", str(self.keepalive),
               "--no-startup-key"]
        if self.tls_cert:
            cmd += ["--tls-cert", self.tls_cert, "--tls-key", self.tls_key]
        if self.server_url:
            cmd += ["--server-url", self.server_url]
        if self.min_capver is not None:
            cmd += ["--min-capver", str(self.min_capver)]
        if self.base_domain:
            cmd += ["--base-domain", self.base_domain]
        for name, val in (("--derpmap", self.derpmap), ("--dns", self.dns)):
            if val is not None:
                p = os.path.join(self.state_dir, name[2:] + ".json")
                with open(p, "w") as f:
                    json.dump(val, f)
                cmd += [name, p]
        cmd += self.extra_args
        if self.ns:
            cmd = ["ip", "netns", "exec", self.ns] + cmd
        return cmd

    def start(self, timeout=10):
        sock = self.admin.path
        if os.path.exists(sock):
            os.unlink(sock)
        logf = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.command(), cwd=REPO, stdout=logf,
                                     stderr=subprocess.STDOUT)
        logf.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("testcontrol exited:\n" + self.logs())
            if os.path.exists(sock):
                try:
                    self.info()
                    return self
                except OSError:
                    pass
            time.sleep(0.05)
        raise RuntimeError("testcontrol did not start:\n" + self.logs())

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def restart(self):
        self.stop()
        return self.start()

    def cleanup(self):
        self.stop()
        if self._own_dir:
            shutil.rmtree(self.state_dir, ignore_errors=True)

    def logs(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.cleanup()

    # -- admin operations ------------------------------------------------

    def info(self):
        return self.admin.call("info")

    def public_key(self):
        return self.info()["public_key"]

    def preauth_key(self, user="default", reusable=False, ephemeral=False,
                    tags=(), expiration=3600):
        return self.admin.call("preauth-key", user=user, reusable=reusable,
                               ephemeral=ephemeral, tags=list(tags),
                               expiration=expiration)["key"]

    def nodes(self):
        return self.admin.call("nodes")["nodes"]

    def node(self, name):
        for n in self.nodes():
            if n["name"] == name or str(n["id"]) == str(name):
                return n
        return None

    def wait_node(self, name, timeout=20, **want):
        """Polls until node `name` exists and every field in `want` matches
        (e.g. online=True); returns the node summary."""
        deadline = time.monotonic() + timeout
        n = None
        while time.monotonic() < deadline:
            n = self.node(name)
            if n is not None and all(n.get(k) == v for k, v in want.items()):
                return n
            time.sleep(0.1)
        raise TimeoutError(f"node {name!r} not {want or 'present'}: {n}")

    def delete_node(self, node):
        return self.admin.call("delete-node", node=str(node))

    def expire_node(self, node):
        return self.admin.call("expire-node", node=str(node))

    def approve_routes(self, node, routes):
        return self.admin.call("approve-routes", node=str(node),
                               routes=list(routes))

    def set_home_derp(self, node, region):
        """Overrides node's HomeDERP in every netmap (0: stop)."""
        return self.admin.call("set-home-derp", node=str(node),
                               region=region)

    def pending(self):
        return self.admin.call("pending")["pending"]

    def approve_auth(self, auth_id, user="default"):
        if "/register/" in auth_id:
            auth_id = auth_id.rsplit("/register/", 1)[1]
        return self.admin.call("approve-auth", auth_id=auth_id, user=user)

    def set_policy(self, policy):
        return self.admin.call("set-policy", policy=policy)

    def filter_for(self, node):
        return self.admin.call("filter", node=str(node))

    def fault(self, kind, node=None, count=1):
        """kind: bad_noise, bad_zstd, not_zstd, bad_json, oversized_frame,
        oversized_noise, drop (next map message), bad_handshake,
        handshake_error (next ts2021 upgrade) or bad_register_json (next
        register answer). count -1 = until cleared."""
        return self.admin.call("fault", kind=kind, node=node, count=count)

    def clear_faults(self):
        return self.admin.call("clear-faults")

    def set_dns(self, dns, base_domain=None):
        return self.admin.call("set-dns", dns=dns, base_domain=base_domain)

    def set_derpmap(self, derpmap):
        return self.admin.call("set-derpmap", derpmap=derpmap)

    def set_online_style(self, style):
        """"patch" (Headscale) or "change" (OnlineChange+PeerSeenChange)."""
        return self.admin.call("set-online-style", style=style)

    def set_keepalive(self, seconds):
        return self.admin.call("set-keepalive", seconds=seconds)

    def fake_nodes(self, count, user="fake", prefix="fake"):
        """Server-only nodes (random keys) for big netmaps; returns ids."""
        return self.admin.call("fake-nodes", timeout=300, count=count,
                               user=user, prefix=prefix)["ids"]

    def counters(self):
        return self.info()["counters"]

    def upgrade_times(self):
        """Unix times of the last 200 /ts2021 requests (reconnect backoff)."""
        return self.info()["upgrade_times"]
