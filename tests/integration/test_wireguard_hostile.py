"""Hostile input against privmesh's WireGuard port, while its real peer
(wireguard-go) keeps working.  Same topology as test_wireguard.py; the
attacker is a plain UDP socket in wireguard-go's namespace (B), sending to
privmesh at 198.51.100.1.

    netns A: privmesh 198.51.100.1:51821  <---  attacker in netns B
                                          <-->  wireguard-go 198.51.100.2
"""
import base64
import hashlib
import os
import socket
import struct
import subprocess
import time

import pytest

from pmtest import sh, wait_for
from wgpeer import Pair

ATTACKER = r"""
import base64, hashlib, os, socket, struct, sys, time
mode, pub = sys.argv[1], base64.b64decode(sys.argv[2])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(0.2)
dst = ("198.51.100.1", 51821)
mac1_key = hashlib.blake2s(b"mac1----" + pub).digest()

def initiation():
    body = bytes([1, 0, 0, 0]) + os.urandom(4 + 32 + 48 + 28)
    mac1 = hashlib.blake2s(body, key=mac1_key, digest_size=16).digest()
    return body + mac1 + bytes(16)

if mode == "garbage":
    for n in list(range(0, 40)) + [147, 149, 91, 93, 63, 65, 1400, 9000]:
        s.sendto(os.urandom(n), dst)
    for t in (1, 2, 3, 4):          # right type, wrong or truncated length
        s.sendto(bytes([t, 0, 0, 0]) + os.urandom(20), dst)
        s.sendto(bytes([t, 1, 0, 0]) + os.urandom(200), dst)
    s.sendto(bytes([1, 0, 0, 0]) + os.urandom(144), dst)   # bad MAC1
    print("sent")
elif mode == "flood":
    cookies = 0
    for i in range(3000):
        s.sendto(initiation(), dst)
    end = time.time() + 2
    while time.time() < end:
        try:
            d, _ = s.recvfrom(2048)
            if len(d) == 64 and d[0] == 3:
                cookies += 1
        except socket.timeout:
            pass
    print(cookies)
elif mode == "replay":
    pkt = bytes.fromhex(sys.argv[3])
    for i in range(20):
        s.sendto(pkt, dst)
    print("sent")
"""


@pytest.fixture
def pair():
    p = Pair()
    p.start()
    p.ping(p.a, "10.9.0.2")
    yield p
    p.cleanup()


def attack(pair, mode, *extra):
    return pair.b.run("/usr/bin/python3", "-c", ATTACKER, mode, pair.a_pub,
                      *extra).stdout.strip()


def counters(pair):
    return pair.suite.status()["wireguard"]["counters"]


def test_garbage_is_dropped_and_counted(pair):
    before = counters(pair)["rx_bad"]
    assert attack(pair, "garbage") == "sent"
    wait_for(lambda: counters(pair)["rx_bad"] - before >= 50,
             what="drops to be counted")
    pair.ping(pair.a, "10.9.0.2")
    pair.ping(pair.b, "10.9.0.1")


def test_handshake_flood_switches_on_cookies(pair):
    cookies = int(attack(pair, "flood"))
    assert cookies > 0
    c = counters(pair)
    assert c["cookies_sent"] >= cookies
    # The real peer still gets through (its traffic has a session already,
    # and a fresh handshake from it would be answered with a cookie first).
    pair.ping(pair.a, "10.9.0.2")
    assert pair.suite.procs()["netd"]["restarts"] == 0


def capture_transport(pair, timeout=10):
    """A data message wireguard-go sent to privmesh, sniffed on B's veth."""
    code = r"""
import socket, struct, sys, time
# Outgoing frames reach only ETH_P_ALL taps.
s = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(0x0003))
s.bind((sys.argv[1], 0)); s.settimeout(1)
end = time.time() + 6
while time.time() < end:
    try:
        f, addr = s.recvfrom(65535)
    except socket.timeout:
        continue
    if addr[1] != 0x0800 or addr[2] != socket.PACKET_OUTGOING or f[9] != 17:
        continue
    ihl = (f[0] & 15) * 4
    dport = struct.unpack("!H", f[ihl + 2:ihl + 4])[0]
    data = f[ihl + 8:]
    if dport == 51821 and data[:1] == b"\x04" and len(data) > 32:
        print(data.hex()); break
"""
    sniffer = subprocess.Popen(["ip", "netns", "exec", pair.b.name,
                                "/usr/bin/python3", "-c", code, pair.veth_b],
                               stdout=subprocess.PIPE, text=True)
    time.sleep(0.5)
    pair.ping(pair.b, "10.9.0.1", count=2)
    out, _ = sniffer.communicate(timeout=timeout)
    return out.strip()


def test_replayed_transport_packets_are_dropped(pair):
    pkt = capture_transport(pair)
    assert pkt, "no data message captured"
    before = pair.suite.status()["wireguard"]
    rx_before = before["peers"][0]["rx_bytes"]
    attack(pair, "replay", pkt)
    wait_for(lambda: counters(pair)["rx_bad"] - before["counters"]["rx_bad"]
             >= 20, what="replays to be counted")
    after = pair.suite.status()["wireguard"]
    assert after["peers"][0]["rx_bytes"] == rx_before
    pair.ping(pair.a, "10.9.0.2")


def test_packet_loss_still_completes_handshake():
    p = Pair()
    try:
        # 10% of UDP datagrams leaving each side are lost (nftables
        # numgen: this kernel has no netem).
        for ns in (p.a, p.b):
            ns.run("nft", "add table inet pmtest_loss")
            ns.run("nft", "add chain inet pmtest_loss out "
                   "{ type filter hook output priority 0; }")
            ns.run("nft", "add rule inet pmtest_loss out meta l4proto udp "
                   "numgen random mod 10 0 counter drop")
        p.start()
        # Retries (REKEY_TIMEOUT) carry the handshake through the loss.
        ok = p.ping(p.a, "10.9.0.2", count=20, timeout=40, check=False)
        assert " 0 received" not in ok.stdout, ok.stdout
        wait_for(lambda: p.suite.status()["wireguard"]["peers"][0]
                 ["latest_handshake"] > 0, what="a handshake")
    finally:
        p.cleanup()


def test_roaming_endpoint_follows_the_peer(pair):
    # wireguard-go moves to a new port (as behind a NAT that rebinds); its
    # authenticated packets now come from there and privmesh follows.
    # (Debian's wireguard-go keeps a sticky source address, so it cannot
    # be moved to a new IP without a restart; a new port is the move it can
    # make.)
    pair.wgo.wg("set", pair.ifb, "listen-port", "51830")
    pair.ping(pair.b, "10.9.0.1")
    peer = pair.suite.status()["wireguard"]["peers"][0]
    assert peer["endpoint"] == "198.51.100.2:51830"
    pair.ping(pair.a, "10.9.0.2")
