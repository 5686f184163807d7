"""A tiny scripted DNS upstream for dnsd's forwarder tests, written here so it
shares no code with dnsd.  Run as a program inside the node's namespace:

    dnsupstream.py PORT MODE ADDR

MODE
  spoof   for every UDP query: first an answer with a wrong ID, then one
          with the right ID but another question, then one from another
          source port, each claiming ADDR' (ADDR with the last octet + 1),
          and 0.2 s later the real answer ADDR
  tc      UDP answers are empty with TC set; TCP (RFC 7766 framing) answers
          carry ADDR
  big     100 A records (ADDR's /24, .1 to .100), about 1.6 KB: over UDP
          they do not fit the 1232 bytes dnsd offers, so the UDP answer is
          empty with TC set; over TCP it is complete
Prints "ready" when listening.  Counts what it did on stderr.
"""
import socket
import struct
import sys
import threading
import time


def parse_question(msg):
    """Returns (id, flags, qname wire bytes, qtype, qclass, end offset)."""
    qid, flags, qd = struct.unpack(">HHH", msg[:6])
    off = 12
    while msg[off] != 0:
        off += 1 + msg[off]
    qname = msg[12:off + 1]
    qtype, qclass = struct.unpack(">HH", msg[off + 1:off + 5])
    return qid, flags, qname, qtype, qclass, off + 5


def answer(qid, flags, qname, qtype, qclass, addr, tc=False):
    rd = flags & 0x0100
    hflags = 0x8000 | rd | 0x0080 | (0x0200 if tc else 0)
    an = [] if tc or qtype != 1 else addr if isinstance(addr, list) else [addr]
    out = struct.pack(">HHHHHH", qid, hflags, 1, len(an), 0, 0)
    out += qname + struct.pack(">HH", qtype, qclass)
    for a in an:
        out += b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, 60, 4) + \
            socket.inet_aton(a)
    return out


def other_name(qname):
    # Same length, different first letter: a wrong question.
    b = bytearray(qname)
    b[1] = ord("z") if b[1] != ord("z") else ord("y")
    return bytes(b)


def bump(addr):
    p = addr.split(".")
    p[3] = str((int(p[3]) + 1) % 256)
    return ".".join(p)


def serve_spoof(port, addr):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", port))
    other = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    other.bind(("127.0.0.1", 0))
    print("ready", flush=True)
    while True:
        msg, src = s.recvfrom(4096)
        qid, flags, qname, qtype, qclass, _ = parse_question(msg)
        fake = bump(addr)
        s.sendto(answer((qid + 1) & 0xffff, flags, qname, qtype, qclass,
                        fake), src)
        s.sendto(answer(qid, flags, other_name(qname), qtype, qclass, fake),
                 src)
        other.sendto(answer(qid, flags, qname, qtype, qclass, fake), src)
        sys.stderr.write("spoofed 3\n")
        time.sleep(0.2)
        s.sendto(answer(qid, flags, qname, qtype, qclass, addr), src)


def serve_tc(port, addr, big=False):
    if big:
        net = addr.rsplit(".", 1)[0]
        addr = [f"{net}.{i}" for i in range(1, 101)]
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.bind(("127.0.0.1", port))
    t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    t.bind(("127.0.0.1", port))
    t.listen(8)

    def tcp_loop():
        while True:
            c, _ = t.accept()
            data = b""
            while len(data) < 2 or len(data) < 2 + struct.unpack(">H", data[:2])[0]:
                chunk = c.recv(4096)
                if not chunk:
                    break
                data += chunk
            if len(data) >= 2:
                q = parse_question(data[2:])
                a = answer(*q[:5], addr)
                c.sendall(struct.pack(">H", len(a)) + a)
                sys.stderr.write("tcp answer\n")
            c.close()

    threading.Thread(target=tcp_loop, daemon=True).start()
    print("ready", flush=True)
    while True:
        msg, src = u.recvfrom(4096)
        q = parse_question(msg)
        u.sendto(answer(*q[:5], addr, tc=True), src)
        sys.stderr.write("udp tc\n")


if __name__ == "__main__":
    port, mode, addr = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    {"spoof": serve_spoof, "tc": serve_tc,
     "big": lambda p, a: serve_tc(p, a, big=True)}[mode](port, addr)
