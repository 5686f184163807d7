"""STUN binding server, as Tailscale's net/stunserver + net/stun do it.

Strict mode (the default) answers only what stun.ParseBindingRequest accepts:
a binding request whose attributes include SOFTWARE "tailnode" and end in a
correct FINGERPRINT.  Anything else is counted and ignored, as derper does,
so a generic STUN client gets no answer from the real servers either.
accept_any=True answers any well-formed RFC 5389 binding request (for
checking against generic clients such as coturn's turnutils_stunclient).

The response is derper's: a binding success with one XOR-MAPPED-ADDRESS and
nothing else.  Like derper on a dual-stack socket, an IPv4 client reaching an
[::] listener is answered with family 2 and its v4-mapped address.
"""
import asyncio
import ipaddress
import os
import struct
import zlib

COOKIE = b"\x21\x12\xa4\x42"
HEADER_LEN = 20
ATTR_MAPPED_ADDRESS = 0x0001
ATTR_XOR_MAPPED_ADDRESS = 0x0020
ATTR_XOR_MAPPED_ADDRESS_ALT = 0x8020
ATTR_SOFTWARE = 0x8022
ATTR_FINGERPRINT = 0x8028
SOFTWARE = b"tailnode"
FINGERPRINT_XOR = 0x5354554E

# What a STUN fault does to the next answers (see StunServer.inject).
FAULTS = (
    "drop",            # no answer
    "wrong_txid",      # transaction ID flipped
    "error_response",  # 0x0111 binding error response
    "mapped_only",     # MAPPED-ADDRESS (0x0001) instead of XOR-MAPPED-ADDRESS
    "xor_alt",         # the non-standard 0x8020 attribute type
    "bad_attr_len",    # attribute length runs past the packet
    "bad_family",      # address family 3
    "truncated",       # header only, length claims attributes
    "garbage",         # random bytes
)


def fingerprint(b):
    return (zlib.crc32(b) & 0xFFFFFFFF) ^ FINGERPRINT_XOR


def is_stun(b):
    """stun.Is: header length, top two bits zero, magic cookie."""
    return len(b) >= HEADER_LEN and b[0] & 0xC0 == 0 and b[4:8] == COOKIE


def attrs(body):
    """Yields (type, value); raises ValueError on a malformed list, as
    stun.foreachAttr does (padding to 4 bytes)."""
    while body:
        if len(body) < 4:
            raise ValueError("malformed attributes")
        t, n = struct.unpack(">HH", body[:4])
        padded = (n + 3) & ~3
        body = body[4:]
        if padded > len(body):
            raise ValueError("malformed attributes")
        yield t, body[:n]
        body = body[padded:]


def parse_request(b, accept_any=False):
    """Returns the 12-byte transaction ID or raises ValueError(reason)."""
    if not is_stun(b):
        raise ValueError("not_stun")
    if b[:2] != b"\x00\x01":
        raise ValueError("not_binding_request")
    if accept_any:
        return _parse_any(b)
    software_ok, last, got_fp = False, None, None
    for t, v in attrs(b[HEADER_LEN:]):
        last = t
        if t == ATTR_SOFTWARE and v == SOFTWARE:
            software_ok = True
        if t == ATTR_FINGERPRINT and len(v) == 4:
            got_fp = struct.unpack(">I", v)[0]
    if not software_ok:
        raise ValueError("wrong_software")
    if last != ATTR_FINGERPRINT:
        raise ValueError("no_fingerprint")
    if got_fp != fingerprint(b[:len(b) - 8]):
        raise ValueError("wrong_fingerprint")
    return b[8:20]


def _parse_any(b):
    (length,) = struct.unpack(">H", b[2:4])
    if length % 4 or HEADER_LEN + length != len(b):
        raise ValueError("bad_length")
    seen = list(attrs(b[HEADER_LEN:]))
    for i, (t, v) in enumerate(seen):
        if t == ATTR_FINGERPRINT:
            if i != len(seen) - 1 or len(v) != 4 or \
                    struct.unpack(">I", v)[0] != fingerprint(b[:len(b) - 8]):
                raise ValueError("wrong_fingerprint")
    return b[8:20]


def xor_address(txid, ip, port):
    """The value of an XOR-MAPPED-ADDRESS for ip (IPv4 or IPv6 object)."""
    raw = ip.packed
    fam = 1 if len(raw) == 4 else 2
    mask = COOKIE + txid
    x = bytes(o ^ mask[i] for i, o in enumerate(raw))
    return struct.pack(">BBH", 0, fam, port ^ 0x2112) + x


def response(txid, ip, port):
    """stun.Response: success, one XOR-MAPPED-ADDRESS attribute."""
    val = xor_address(txid, ip, port)
    attr = struct.pack(">HH", ATTR_XOR_MAPPED_ADDRESS, len(val)) + val
    return b"\x01\x01" + struct.pack(">H", len(attr)) + COOKIE + txid + attr


def faulty_response(fault, txid, ip, port):
    if fault == "drop":
        return None
    if fault == "garbage":
        return os.urandom(48)
    if fault == "wrong_txid":
        return response(bytes(x ^ 0xFF for x in txid), ip, port)
    good = response(txid, ip, port)
    if fault == "error_response":
        return b"\x01\x11" + good[2:]
    if fault == "mapped_only":
        val = struct.pack(">BBH", 0, 1 if ip.version == 4 else 2, port) + ip.packed
        attr = struct.pack(">HH", ATTR_MAPPED_ADDRESS, len(val)) + val
        return b"\x01\x01" + struct.pack(">H", len(attr)) + COOKIE + txid + attr
    if fault == "xor_alt":
        return good[:HEADER_LEN] + struct.pack(">H", ATTR_XOR_MAPPED_ADDRESS_ALT) \
            + good[HEADER_LEN + 2:]
    if fault == "bad_attr_len":
        return good[:HEADER_LEN + 2] + b"\x00\x40" + good[HEADER_LEN + 4:]
    if fault == "bad_family":
        return good[:HEADER_LEN + 5] + b"\x03" + good[HEADER_LEN + 6:]
    if fault == "truncated":
        return good[:HEADER_LEN]
    raise ValueError(f"unknown STUN fault {fault!r}")


class StunServer(asyncio.DatagramProtocol):
    """One per listening UDP socket; counters live in the shared dict."""

    def __init__(self, counters, accept_any=False, faults=None, log=None):
        self.counters = counters
        self.accept_any = accept_any
        self.faults = faults if faults is not None else []
        self.log = log or (lambda *a: None)
        self.transport = None
        self.requests = []      # (source ip, port, txid) of answered requests
        # Seconds each answer waits: a far-away server for latency tests
        # (where the kernel has no netem).
        self.delay = 0

    def connection_made(self, transport):
        self.transport = transport

    def _count(self, k):
        self.counters[k] = self.counters.get(k, 0) + 1

    def datagram_received(self, data, addr):
        try:
            txid = parse_request(data, self.accept_any)
        except ValueError as e:
            self._count("stun_not_stun")
            self._count(f"stun_rejected_{e}")
            return
        ip = ipaddress.ip_address(addr[0].split("%")[0])
        self._count("stun_ipv4" if ip.version == 4 or ip.ipv4_mapped
                    else "stun_ipv6")
        self.requests.append((str(ip), addr[1], txid))
        del self.requests[:-1000]
        if self.faults:
            fault = self.faults.pop(0)
            self._count(f"stun_fault_{fault}")
            out = faulty_response(fault, txid, ip, addr[1])
        else:
            out = response(txid, ip, addr[1])
        if out is None:
            return
        if self.delay > 0:
            asyncio.get_running_loop().call_later(self.delay, self._send,
                                                  out, addr)
        else:
            self._send(out, addr)

    def _send(self, out, addr):
        try:
            self.transport.sendto(out, addr)
            self._count("stun_success")
        except OSError as e:
            self.log(f"stun: write to {addr}: {e}")
            self._count("stun_write_error")
