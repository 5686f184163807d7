"""ctrld against the independent Python test control server.

Topology: one network namespace per test; inside it the test control
server on 127.0.0.1 and one or two privd suites (each its own state dir
and API socket).  Traffic stays on the namespace's loopback.

    +------------------------ netns pmt-XXXX -------------------------+
    |  testcontrol 127.0.0.1:<port>  (tests/testcontrol, Python)      |
    |     ^  ts2021: GET /key, POST /ts2021 (Noise), HTTP/2           |
    |  privd A -- ctrld A      privd B -- ctrld B                     |
    +-----------------------------------------------------------------+
"""
import ipaddress
import os
import subprocess
import sys
import time

import pytest

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))
from pmtest import CLI, Suite, call_failed, stop_suites  # noqa: E402
from pmtest import wait_for  # noqa: E402
from tests.testcontrol.harness import TestControl  # noqa: E402

CGNAT = ipaddress.ip_network("100.64.0.0/10")
TSULA = ipaddress.ip_network("fd7a:115c:a1e0::/48")


@pytest.fixture
def control(netns):
    tc = TestControl(addr="127.0.0.1:18080", ns=netns.name, keepalive=2.0)
    tc.start()
    yield tc
    if os.environ.get("PM_SHOW_CONTROL_LOG"):
        sys.stderr.write(tc.logs())
    tc.cleanup()


@pytest.fixture
def suites(netns, request):
    made = []

    def make(name):
        s = Suite(netns, extra_args=["--tun", "pm" + name])
        s.start()
        made.append(s)
        return s
    yield make
    # Sanitizer builds: a report in any process fails the test.
    bad = stop_suites(made, call_failed(request))
    assert not bad, "\n".join(bad)


def backend(s):
    return s.status()["backend"]


def up(s, tc, hostname, key=None, extra=(), timeout=20, check=True):
    key = key or tc.preauth_key(user="alice")
    return s.cli("up", "--login-server", tc.url, "--auth-key", key,
                 "--hostname", hostname, "--timeout", str(timeout), *extra,
                 check=check)


def peer_names(s):
    return sorted(p["hostname"] for p in backend(s)["peers"])


def test_register_with_preauth_key_gets_tailnet_addresses(netns, control,
                                                           suites):
    a = suites("a")
    assert backend(a)["state"] == "NoState"
    up(a, control, "node-a")
    b = backend(a)
    assert b["state"] == "Running" and b["connected"], b
    addrs = [ipaddress.ip_interface(x).ip for x in b["self"]["addresses"]]
    assert any(x.version == 4 and x in CGNAT for x in addrs), addrs
    assert any(x.version == 6 and x in TSULA for x in addrs), addrs
    # `ip` prints exactly those addresses.
    out = a.cli("ip").stdout.split()
    assert sorted(out) == sorted(str(x) for x in addrs)
    assert a.cli("ip", "-4").stdout.split() == [
        str(x) for x in addrs if x.version == 4]
    # The server sees the node under our machine and node keys.
    nodes = control.nodes()
    assert len(nodes) == 1
    assert b["self"]["hostname"] == "node-a"
    assert b["self"]["os"] == "linux"
    # Human-readable status shows the backend state and self.
    text = a.cli("status").stdout
    assert "backend: Running" in text and "self" in text


def test_second_node_appears_and_disappears(netns, control, suites):
    a = suites("a")
    b = suites("b")
    up(a, control, "node-a")
    assert peer_names(a) == []
    up(b, control, "node-b")
    wait_for(lambda: peer_names(a) == ["node-b"], timeout=15,
             what="node-b in node-a's netmap")
    wait_for(lambda: peer_names(b) == ["node-a"], timeout=15,
             what="node-a in node-b's netmap")
    peer = backend(a)["peers"][0]
    assert peer["online"] is True
    assert any(ipaddress.ip_interface(x).ip in CGNAT
               for x in peer["addresses"])
    assert "node-b" in a.cli("status").stdout
    nid = [n for n in control.nodes() if n["name"].startswith("node-b")][0]
    control.delete_node(nid["id"])
    wait_for(lambda: peer_names(a) == [], timeout=15,
             what="node-b gone from node-a's netmap")


def test_server_restart_keeps_netmap_and_reconnects_with_backoff(
        netns, control, suites):
    a = suites("a")
    b = suites("b")
    up(a, control, "node-a")
    up(b, control, "node-b")
    wait_for(lambda: peer_names(a) == ["node-b"], timeout=15,
             what="node-b in node-a's netmap")
    control.stop()
    wait_for(lambda: not backend(a)["connected"], timeout=10,
             what="node-a notices the server is gone")
    r0 = backend(a)["reconnects"]
    time.sleep(4)
    st = backend(a)
    # The last good netmap stays in force while disconnected.
    assert st["state"] == "Running", st
    assert peer_names(a) == ["node-b"]
    assert st["self"]["addresses"]
    assert st["error"], st
    # Backoff 0.5 s doubling (+-25%): in 4 s at most ~4 attempts, not a
    # busy loop.
    assert 1 <= st["reconnects"] - r0 <= 5, (r0, st["reconnects"])
    control.start()
    wait_for(lambda: backend(a)["connected"], timeout=20,
             what="node-a reconnected")
    st = backend(a)
    assert st["state"] == "Running" and st["error"] == ""
    assert peer_names(a) == ["node-b"]


@pytest.mark.parametrize("kind,text", [
    ("bad_zstd", "zstd"),
    ("bad_json", "not valid JSON"),
    ("oversized_frame", "larger than 8 MiB"),
    ("bad_noise", "noise"),
    ("oversized_noise", "noise"),
])
def test_server_garbage_gives_clear_error_and_reconnect(
        netns, control, suites, kind, text):
    a = suites("a")
    up(a, control, "node-a")
    before = backend(a)
    control.fault(kind)
    wait_for(lambda: text in backend(a)["last_error"], timeout=10,
             what=f"{kind}: error mentioning {text!r}")
    wait_for(lambda: backend(a)["connected"] and
             backend(a)["reconnects"] > before["reconnects"], timeout=15,
             what="reconnected after the garbage")
    st = backend(a)
    assert st["state"] == "Running"
    assert st["self"]["addresses"] == before["self"]["addresses"]
    assert st["errors"] > before["errors"]
    # ctrld survived: same process, no restart.
    procs = {p["name"]: p for p in a.status()["processes"]}
    assert procs["ctrld"]["restarts"] == 0


@pytest.mark.parametrize("kind,text", [
    ("handshake_error", "refused the handshake"),
    ("bad_handshake", "failed authentication"),
])
def test_bad_handshake_is_reported_and_retried(netns, control, suites, kind,
                                               text):
    a = suites("a")
    up(a, control, "node-a")
    control.fault(kind)
    control.fault("bad_json")       # forces the reconnect that meets it
    wait_for(lambda: text in backend(a)["last_error"], timeout=15,
             what=f"{kind}: error mentioning {text!r}")
    wait_for(lambda: backend(a)["connected"] and
             backend(a)["error"] == "", timeout=20, what="reconnected")


def test_interactive_login_prints_authurl_and_waits(netns, control, suites):
    a = suites("a")
    p = subprocess.Popen([CLI, "--socket", a.sock, "up",
                          "--login-server", control.url, "--hostname",
                          "node-i", "--timeout", "30"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    try:
        url = None
        deadline = time.time() + 15
        while url is None and time.time() < deadline:
            line = p.stdout.readline()
            if "/register/" in line:
                url = line.strip()
        assert url, p.stderr.read()
        assert backend(a)["state"] == "NeedsLogin"
        assert backend(a)["auth_url"] == url
        control.approve_auth(url, user="bob")
        assert p.wait(20) == 0, p.stderr.read()
    finally:
        if p.poll() is None:
            p.kill()
    st = backend(a)
    assert st["state"] == "Running" and st["auth_url"] == ""
    assert st["self"]["addresses"]


def test_bad_auth_key_fails_clearly(netns, control, suites):
    a = suites("a")
    r = up(a, control, "node-a", key="tskey-not-a-real-key", check=False)
    assert r.returncode != 0
    assert "register:" in r.stderr, r.stderr
    st = backend(a)
    assert st["state"] == "NeedsLogin" and "register:" in st["error"]


def test_down_up_logout_and_prefs_persist(netns, control, suites):
    a = suites("a")
    up(a, control, "node-a", extra=("--accept-routes",
                                    "--advertise-routes", "10.9.0.0/24",
                                    "--advertise-tags", "tag:web",
                                    "--exit-node-allow-lan-access"))
    prefs = backend(a)["prefs"]
    assert prefs["accept_routes"] is True
    assert prefs["advertise_routes"] == ["10.9.0.0/24"]
    assert prefs["advertise_tags"] == ["tag:web"]
    assert prefs["exit_node_allow_lan_access"] is True
    a.cli("down")
    st = backend(a)
    assert st["state"] == "Stopped" and not st["connected"]
    assert "self" not in st
    # The prefs file is ctrld's, 0600, in ctrld's own 0700 directory.
    d = os.path.join(a.state, "ctrld")
    assert os.stat(d).st_mode & 0o777 == 0o700
    for f in ("prefs.json", "machine.key"):
        assert os.stat(os.path.join(d, f)).st_mode & 0o777 == 0o600
    assert os.stat(os.path.join(a.state, "netd", "nodekeys")).st_mode \
        & 0o777 == 0o600
    # A restarted ctrld reads its prefs and comes back Stopped.
    ctrld_pid = a.pid("ctrld")
    os.kill(ctrld_pid, 9)
    wait_for(lambda: a.procs()["ctrld"]["restarts"] == 1 and
             a.procs()["ctrld"]["state"] == "running", timeout=10,
             what="ctrld restarted")
    assert backend(a)["state"] == "Stopped"
    assert backend(a)["prefs"]["advertise_routes"] == ["10.9.0.0/24"]
    node_key = backend(a)["node_key"]
    # Up again: same node (no auth key needed), then logout.
    a.cli("up", "--timeout", "20")
    assert backend(a)["state"] == "Running"
    assert backend(a)["node_key"] == node_key
    a.cli("logout")
    wait_for(lambda: backend(a)["state"] == "NeedsLogin", timeout=10,
             what="logged out")
    wait_for(lambda: backend(a).get("node_key") not in (None, node_key),
             timeout=10, what="a new node key after logout")
    assert "self" not in backend(a)


def test_node_key_expiry_leads_to_relogin(netns, control, suites):
    a = suites("a")
    up(a, control, "node-a")
    old = backend(a)["node_key"]
    nid = control.nodes()[0]["id"]
    control.expire_node(nid)
    wait_for(lambda: backend(a)["state"] == "NeedsLogin" and
             backend(a)["auth_url"] != "", timeout=15,
             what="NeedsLogin with an AuthURL after expiry")
    assert backend(a)["node_key"] != old
    control.approve_auth(backend(a)["auth_url"], user="alice")
    wait_for(lambda: backend(a)["state"] == "Running", timeout=15,
             what="running again with the new node key")


def test_write_ops_need_operator(netns, control, suites):
    a = suites("a")
    r = a.cli("up", "--login-server", control.url, check=False,
              user=65534)
    assert r.returncode != 0 and "permission denied" in r.stderr
    assert backend(a)["state"] == "NoState"
    r = a.cli("down", check=False, user=65534)
    assert r.returncode != 0 and "permission denied" in r.stderr


def make_certs(d, san_ip=True, san_dns=()):
    """A test CA and a server certificate it signs (python3-cryptography)."""
    import datetime
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    day = datetime.timedelta(days=1)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pm test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(1)
          .not_valid_before(now - day).not_valid_after(now + day)
          .add_extension(x509.BasicConstraints(ca=True, path_length=None),
                         critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    sans = [x509.DNSName(n) for n in san_dns]
    if san_ip:
        sans.append(x509.IPAddress(ipaddress.ip_address("127.0.0.1")))
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME,
                                                        "control")]))
            .issuer_name(ca_name).public_key(key.public_key())
            .serial_number(2).not_valid_before(now - day)
            .not_valid_after(now + day)
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .sign(ca_key, hashes.SHA256()))
    paths = {n: os.path.join(d, n) for n in ("ca.pem", "cert.pem", "key.pem")}
    with open(paths["ca.pem"], "wb") as f:
        f.write(ca.public_bytes(serialization.Encoding.PEM))
    with open(paths["cert.pem"], "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(paths["key.pem"], "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM,
                                  serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    return paths


class CASuite(Suite):
    """privd whose mount namespace (private to `ip netns exec`) sees `ca`
    as the system CA bundle (and `resolv` as /etc/resolv.conf), so ctrld
    trusts the test CA and asks the test nameserver; nothing on the host
    changes."""

    def __init__(self, ns, ca, resolv=None, **kw):
        super().__init__(ns, **kw)
        self.ca = ca
        self.resolv = resolv

    def argv(self):
        inner = super().argv()[4:]
        script = 'mount --bind "$0" /etc/ssl/certs/ca-certificates.crt'
        args = [self.ca]
        if self.resolv:
            script += ' && mount --bind "$1" /etc/resolv.conf && shift'
            args.append(self.resolv)
        script += ' && exec "$@"'
        return ["ip", "netns", "exec", self.ns.name, "sh", "-c", script,
                *args] + inner


@pytest.fixture
def tls_setup(netns, tmp_path, request):
    """testcontrol over TLS on 127.0.0.1:18443 (certificate for 127.0.0.1
    and control.test), dnsmasq on 127.0.0.1:53 answering control.test."""
    certs = make_certs(str(tmp_path), san_ip=True, san_dns=("control.test",))
    resolv = os.path.join(str(tmp_path), "resolv.conf")
    with open(resolv, "w") as f:
        f.write("nameserver 127.0.0.1\n")
    os.chmod(str(tmp_path), 0o755)
    dns = subprocess.Popen(["ip", "netns", "exec", netns.name, "dnsmasq",
                            "-k", "--conf-file=/dev/null", "--no-resolv",
                            "--no-hosts", "--listen-address=127.0.0.1",
                            "--bind-interfaces", "--pid-file=",
                            "--address=/control.test/127.0.0.1"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    tc = TestControl(addr="127.0.0.1:18443", ns=netns.name, keepalive=2.0,
                     tls_cert=certs["cert.pem"], tls_key=certs["key.pem"])
    tc.start()
    s = CASuite(netns, certs["ca.pem"], resolv=resolv,
                extra_args=["--tun", "pmt"])
    s.start()
    yield tc, s
    if request.node.rep_call.failed:
        sys.stderr.write("---- privd log ----\n" + s.logs() + tc.logs())
    s.cleanup()
    tc.cleanup()
    dns.terminate()
    dns.wait(5)


def test_https_login_server_verified(tls_setup):
    tc, s = tls_setup
    assert tc.url.startswith("https://127.0.0.1:")
    up(s, tc, "node-tls")
    st = backend(s)
    assert st["state"] == "Running" and st["connected"]
    assert st["self"]["addresses"]


def test_https_name_mismatch_refused(tls_setup):
    tc, s = tls_setup
    # The certificate names 127.0.0.1 only; "localhost" is not in it.
    url = tc.url.replace("127.0.0.1", "localhost")
    r = s.cli("up", "--login-server", url, "--auth-key",
              tc.preauth_key(user="alice"), "--timeout", "3", check=False)
    assert r.returncode != 0
    wait_for(lambda: "not trusted" in backend(s)["last_error"], timeout=10,
             what="certificate error in status")
    assert "hostname mismatch" in backend(s)["last_error"]
    assert tc.nodes() == []


def test_https_login_server_by_name(tls_setup):
    """A host name, looked up from inside ctrld's chroot through the
    nameserver of /etc/resolv.conf, and verified by TLS."""
    tc, s = tls_setup
    url = tc.url.replace("127.0.0.1", "control.test")
    up(s, tc, "node-dns", extra=("--login-server", url))
    st = backend(s)
    assert st["state"] == "Running" and st["login_server"] == url
    # A name the nameserver does not know: a clear error, retried.
    r = s.cli("up", "--login-server", "https://nowhere.test:18443",
              "--timeout", "3", check=False)
    assert r.returncode != 0
    wait_for(lambda: "cannot resolve nowhere.test" in backend(s)["last_error"],
             timeout=15, what="resolution error in status")


def test_ctrld_and_netd_restart_keep_the_node(netns, control, suites):
    """Keys and prefs are state: a restarted ctrld logs back in by itself
    as the same node (no auth key), a restarted netd keeps the node key."""
    a = suites("a")
    up(a, control, "node-a")
    st = backend(a)
    for proc, n in (("ctrld", 1), ("netd", 1)):
        os.kill(a.pid(proc), 9)
        wait_for(lambda: a.procs()[proc]["restarts"] == n and
                 a.procs()[proc]["state"] == "running", timeout=15,
                 what=f"{proc} restarted")
        wait_for(lambda: backend(a)["state"] == "Running" and
                 backend(a)["connected"], timeout=20,
                 what=f"running again after the {proc} restart")
        now = backend(a)
        assert now["node_key"] == st["node_key"]
        assert now["machine_key"] == st["machine_key"]
        assert now["self"]["addresses"] == st["self"]["addresses"]
    assert len(control.nodes()) == 1


def test_set_changes_prefs_and_hostinfo(netns, control, suites):
    """`set` changes prefs without a login; what goes into Hostinfo
    reaches the server with the next map request."""
    a = suites("a")
    up(a, control, "node-a")
    key = backend(a)["node_key"]
    a.cli("set", "--advertise-routes", "10.7.0.0/24",
          "--advertise-exit-node", "--accept-dns=false")
    st = backend(a)
    assert st["prefs"]["advertise_routes"] == ["10.7.0.0/24"]
    assert st["prefs"]["advertise_exit_node"] is True
    assert st["prefs"]["accept_dns"] is False
    wait_for(lambda: sorted(control.nodes()[0]["advertised_routes"]) ==
             ["0.0.0.0/0", "10.7.0.0/24", "::/0"], timeout=15,
             what="new routes in the server's Hostinfo")
    wait_for(lambda: backend(a)["state"] == "Running" and
             backend(a)["connected"], timeout=15, what="still running")
    assert backend(a)["node_key"] == key
    r = a.cli("set", "--login-server", control.url, check=False)
    assert r.returncode == 2 and "use up" in r.stderr
    r = a.cli("set", "--advertise-routes", "10.7.0.0/33", check=False)
    assert r.returncode != 0 and "advertise_routes" in r.stderr
    r = a.cli("set", "--hostname", "x", check=False, user=65534)
    assert r.returncode != 0 and "permission denied" in r.stderr
