"""Standalone test DERP server: prints its DERPMap JSON on stdout, serves
until SIGINT/SIGTERM.  See README.md for the options."""
import argparse
import json
import signal
import sys

from . import protocol as P
from .service import TestDerp, split_hostport


def parse_args(argv):
    p = argparse.ArgumentParser(prog="python3 -m tests.testderp",
                                description="Test DERP relay + STUN server")
    p.add_argument("--listen", action="append", default=[], metavar="IP:PORT",
                   help="plain-HTTP DERP listener (repeatable; same port for all)")
    p.add_argument("--listen-tls", action="append", default=[], metavar="IP:PORT",
                   help="HTTPS DERP listener (repeatable; same port for all)")
    p.add_argument("--stun", action="append", default=[], metavar="IP[:PORT]",
                   help="STUN UDP listener, port 3478 by default (repeatable)")
    p.add_argument("--netns", help="open every socket in this named netns")
    p.add_argument("--hostname", default="derp.test",
                   help="DERPNode HostName and the self-signed cert's name")
    p.add_argument("--cert", help="PEM certificate chain for TLS")
    p.add_argument("--key", help="PEM private key for TLS")
    p.add_argument("--no-metacert", action="store_true",
                   help="do not append the derpkey meta cert (no fast start)")
    p.add_argument("--private-key", help="server DERP key, 64 hex digits "
                   "(default: a fresh one)")
    p.add_argument("--mesh-key", help="mesh key, 64 hex digits")
    p.add_argument("--keepalive", type=float, default=P.KEEPALIVE_SECONDS,
                   help="seconds between KeepAlive frames (default 60)")
    p.add_argument("--stun-accept-any", action="store_true",
                   help="answer any RFC 5389 binding request, not only "
                   "Tailscale's (SOFTWARE tailnode + FINGERPRINT)")
    p.add_argument("--region-id", type=int, default=900)
    p.add_argument("--region-code", default="test")
    p.add_argument("--advertise-ipv4", help="DERPNode.IPv4 when listening on 0.0.0.0")
    p.add_argument("--advertise-ipv6", help="DERPNode.IPv6 when listening on [::]")
    p.add_argument("--derpmap-out", help="also write the DERPMap JSON here")
    p.add_argument("-v", "--verbose", action="store_true")
    a = p.parse_args(argv)
    if not (a.listen or a.listen_tls or a.stun):
        p.error("nothing to serve: give --listen, --listen-tls or --stun")
    if bool(a.cert) != bool(a.key):
        p.error("--cert and --key go together")
    return a


def _ports(specs, default, what):
    hp = [split_hostport(s, default) for s in specs]
    if len({port for _, port in hp}) > 1:
        sys.exit(f"testderp: every {what} listener must use the same port")
    return [h for h, _ in hp], (hp[0][1] if hp else None)


def main(argv=None):
    a = parse_args(argv)
    h_ips, h_port = _ports(a.listen, 3340, "--listen")
    t_ips, t_port = _ports(a.listen_tls, 443, "--listen-tls")
    s_ips, s_port = _ports(a.stun, 3478, "--stun")
    ips = list(dict.fromkeys(h_ips + t_ips + s_ips))
    if any(set(x) != set(ips) for x in (h_ips, t_ips, s_ips) if x):
        sys.exit("testderp: --listen, --listen-tls and --stun must name the same IPs")
    log = (lambda m: print(m, file=sys.stderr, flush=True)) if a.verbose else None
    cert = key = None
    if a.cert:
        cert, key = open(a.cert, "rb").read(), open(a.key, "rb").read()
    d = TestDerp(ns=a.netns, addr=ips, http_port=h_port, tls_port=t_port,
                 stun_port=s_port, hostname=a.hostname, cert_pem=cert, key_pem=key,
                 metacert=not a.no_metacert,
                 mesh_key=bytes.fromhex(a.mesh_key) if a.mesh_key else None,
                 keepalive=a.keepalive,
                 private_key=bytes.fromhex(a.private_key) if a.private_key else None,
                 stun_accept_any=a.stun_accept_any, region_id=a.region_id,
                 region_code=a.region_code, advertise_ipv4=a.advertise_ipv4,
                 advertise_ipv6=a.advertise_ipv6, log=log)
    d.start()
    dm = json.dumps(d.derp_map(), indent=2)
    if a.derpmap_out:
        with open(a.derpmap_out, "w") as f:
            f.write(dm + "\n")
    print(dm, flush=True)
    print(f"testderp: server key {d.public_key.hex()}; "
          f"http port {d.http_port}, https port {d.tls_port}, stun port {d.stun_port}",
          file=sys.stderr, flush=True)
    signal.sigwait({signal.SIGINT, signal.SIGTERM})
    d.stop()
    return 0


if __name__ == "__main__":
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    sys.exit(main())
