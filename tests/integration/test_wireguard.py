"""Plain-WireGuard mode against Debian's wireguard-go (see wgpeer.Pair for
the topology).  Each side initiates in turn; traffic crosses in IPv4 and
IPv6; a bulk transfer is checksummed at both ends."""
import hashlib
import os
import subprocess
import time

import pytest

from pmtest import sh, wait_for
from wgpeer import Pair, genkey, wait_handshake


@pytest.fixture
def pair(request):
    p = Pair(**getattr(request, "param", {}))
    yield p
    p.cleanup()


def test_privmesh_initiates_v4_and_v6(pair):
    pair.start()
    pair.ping(pair.a, "10.9.0.2")
    pair.ping(pair.a, "fd00:9::2")
    wait_handshake(pair)
    st = pair.suite.status()
    assert st["complete"]


@pytest.mark.parametrize("pair", [{"b_endpoint": False, "keepalive": None}],
                         indirect=True)
def test_wireguard_go_initiates(pair):
    # privmesh knows no endpoint: only wireguard-go can start.
    pair.write_conf(b_endpoint=False)
    pair.start()
    pair.ping(pair.b, "10.9.0.1")
    pair.ping(pair.b, "fd00:9::1")


@pytest.mark.parametrize("pair", [{"psk": True}], indirect=True)
def test_preshared_key(pair):
    pair.start()
    pair.ping(pair.a, "10.9.0.2")


def test_wrong_preshared_key_never_connects(pair):
    pair.psk = sh("wg", "genpsk").stdout.strip()    # only privmesh has one
    pair.write_conf()
    pair.start()
    r = pair.ping(pair.a, "10.9.0.2", count=2, timeout=6, check=False)
    assert r.returncode != 0


def test_wrong_key_never_connects(pair):
    wrong_priv, _ = genkey()
    pair.write_conf(a_priv=wrong_priv)
    pair.start()
    r = pair.ping(pair.a, "10.9.0.2", count=2, timeout=6, check=False)
    assert r.returncode != 0
    out = pair.wgo.wg("show", pair.ifb, "latest-handshakes").stdout.split()
    assert out[1] == "0"


def test_bulk_transfer_checksummed(pair):
    """100 MB over TCP through the tunnel, sha256 compared at both ends."""
    pair.start()
    pair.ping(pair.a, "10.9.0.2")
    size = 100 * 1024 * 1024
    recv = subprocess.Popen(
        ["ip", "netns", "exec", pair.b.name, "/usr/bin/python3", "-c",
         "import socket,hashlib\n"
         "s=socket.socket(); s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\n"
         "s.bind(('10.9.0.2',5201)); s.listen(1); c,_=s.accept(); h=hashlib.sha256(); n=0\n"
         "while True:\n"
         "  b=c.recv(1<<16)\n"
         "  if not b: break\n"
         "  h.update(b); n+=len(b)\n"
         "print(n, h.hexdigest())\n"],
        stdout=subprocess.PIPE, text=True)
    time.sleep(0.5)
    send = pair.a.run(
        "/usr/bin/python3", "-c",
        "import socket,hashlib,os\n"
        f"n={size}; h=hashlib.sha256(); s=socket.create_connection(('10.9.0.2',5201))\n"
        "blk=os.urandom(1<<20)\n"
        "for i in range(n>>20):\n"
        "  b=bytes([i&255])+blk[1:]; h.update(b); s.sendall(b)\n"
        "s.close(); print(n, h.hexdigest())\n")
    out, _ = recv.communicate(timeout=120)
    assert out.split() == send.stdout.split()
    assert out.split()[0] == str(size)


def test_malformed_config_is_rejected_before_anything(pair):
    with open(pair.conf, "a") as f:
        f.write("Bogus = 1\n")
    s = pair.start(wait=False)
    assert s.proc.wait(15) == 1
    assert "line 10" in s.logs()
    out = pair.a.run("ip", "-4", "addr", "show").stdout
    assert "10.9.0.1" not in out


def test_full_tunnel_keeps_its_own_transport_out(pair):
    """AllowedIPs 0.0.0.0/0, ::/0: everything goes into the tunnel except
    privmesh's own UDP socket, which privd marks so it bypasses table 52.
    After stop, the rules are gone."""
    rules_before = pair.a.run("ip", "rule").stdout
    rules6_before = pair.a.run("ip", "-6", "rule").stdout
    pair.write_conf(allowed="0.0.0.0/0, ::/0")
    pair.start()
    rules = pair.a.run("ip", "rule").stdout
    assert "5210:\tfrom all fwmark 0x80000/0xff0000 lookup main" in rules
    assert "5230:\tfrom all fwmark 0x80000/0xff0000 lookup default" in rules
    assert "5250:\tfrom all fwmark 0x80000/0xff0000 unreachable" in rules
    assert "5270:\tfrom all lookup 52" in rules
    assert "default dev " + pair.ifa in pair.a.run(
        "ip", "route", "show", "table", "52").stdout
    # An address only reachable through the default route now goes in.
    pair.b.run("ip", "addr", "add", "203.0.113.7/32", "dev", "lo")
    pair.ping(pair.a, "203.0.113.7")
    pair.ping(pair.a, "fd00:9::2")
    assert pair.suite.stop() == 0
    assert pair.a.run("ip", "rule").stdout == rules_before
    assert pair.a.run("ip", "-6", "rule").stdout == rules6_before
