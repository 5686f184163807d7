"""python3 -m tests.testcontrol [--listen H:P] [--state DIR] ...
python3 -m tests.testcontrol ctl [--state DIR] OP [ARGS]   (admin client)"""

import argparse
import asyncio
import json
import os
import signal
import sys

from .server import Config, Server, configure_logging


def _load_json(path):
    with open(path) as f:
        return json.load(f)


def serve(argv):
    ap = argparse.ArgumentParser(prog="python3 -m tests.testcontrol")
    ap.add_argument("--listen", default="127.0.0.1:8080")
    ap.add_argument("--state", default="/tmp/testcontrol",
                    help="state directory (state.json, admin.sock)")
    ap.add_argument("--tls-cert")
    ap.add_argument("--tls-key")
    ap.add_argument("--server-url", help="URL clients use (for AuthURL)")
    ap.add_argument("--base-domain", default="tailnet.test")
    ap.add_argument("--dns", help="JSON file: magic_dns, nameservers, "
                    "override_local_dns, split, search_domains, "
                    "extra_records")
    ap.add_argument("--derpmap", help="tailcfg.DERPMap JSON file")
    ap.add_argument("--derp", action="append", default=[],
                    metavar="REGION:HOST:PORT",
                    help="one-node DERP region (repeatable; instead of "
                    "--derpmap)")
    ap.add_argument("--policy", help="ACL policy JSON file")
    ap.add_argument("--keepalive", type=float, default=50.0,
                    help="seconds between map keep-alives (Headscale: 50)")
    ap.add_argument("--min-capver", type=int, default=113)
    ap.add_argument("--legacy-derp", action="store_true",
                    help="also send Node.DERP \"127.3.3.40:<region>\"")
    ap.add_argument("--ephemeral-timeout", type=float, default=1800.0)
    ap.add_argument("--online-style", choices=("patch", "change"),
                    default="patch",
                    help="peer online/offline as PeersChangedPatch Online "
                    "(Headscale) or OnlineChange+PeerSeenChange")
    ap.add_argument("--auth-timeout", type=float, default=900.0,
                    help="seconds an interactive AuthURL stays valid")
    ap.add_argument("--user", default="default",
                    help="owner of the startup pre-auth key")
    ap.add_argument("--no-startup-key", action="store_true")
    ap.add_argument("-v", "--verbose", action="store_true")
    a = ap.parse_args(argv)
    if bool(a.tls_cert) != bool(a.tls_key):
        ap.error("--tls-cert and --tls-key go together")
    configure_logging(a.verbose)
    os.makedirs(a.state, mode=0o700, exist_ok=True)
    derpmap = _load_json(a.derpmap) if a.derpmap else None
    if a.derp:
        from .mapper import default_derpmap
        derpmap = {"Regions": {}}
        for spec in a.derp:
            region, host, port = spec.split(":")
            r = default_derpmap(host, int(port))["Regions"]["999"]
            r["RegionID"] = int(region)
            r["Nodes"][0]["RegionID"] = int(region)
            r["Nodes"][0]["Name"] = f"{region}a"
            derpmap["Regions"][region] = r
    cfg = Config(listen=a.listen, state_dir=a.state, tls_cert=a.tls_cert,
                 tls_key=a.tls_key, server_url=a.server_url,
                 base_domain=a.base_domain,
                 dns=_load_json(a.dns) if a.dns else None, derpmap=derpmap,
                 keepalive=a.keepalive, min_capver=a.min_capver,
                 legacy_derp=a.legacy_derp,
                 admin_socket=os.path.join(a.state, "admin.sock"),
                 ephemeral_timeout=a.ephemeral_timeout,
                 auth_timeout=a.auth_timeout, online_style=a.online_style)

    async def main():
        srv = Server(cfg)
        if a.policy:
            from . import policy as pol
            p = _load_json(a.policy)
            pol.Policy(p)
            srv.state.policy = p
            srv.state.save()
        await srv.start()
        if not a.no_startup_key:
            key = srv.state.new_preauth_key(a.user, reusable=True)
            print(f"control URL:  {srv.url}", flush=True)
            print(f"preauth key:  {key}", flush=True)
            print(f"admin:        python3 -m tests.testcontrol ctl "
                  f"--state {a.state} nodes", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()

    asyncio.run(main())


def ctl(argv):
    from .harness import Admin, AdminError
    ap = argparse.ArgumentParser(prog="python3 -m tests.testcontrol ctl")
    ap.add_argument("--state", default="/tmp/testcontrol")
    ap.add_argument("op", help="nodes, preauth-key, delete-node, "
                    "expire-node, approve-routes, pending, approve-auth, "
                    "set-policy, filter, fault, clear-faults, set-dns, "
                    "set-derpmap, set-keepalive, set-online-style, "
                    "fake-nodes, info")
    ap.add_argument("args", nargs="?", default="{}",
                    help="JSON object of arguments, e.g. '{\"user\":\"a\"}'")
    a = ap.parse_args(argv)
    try:
        args = json.loads(a.args)
        out = Admin(os.path.join(a.state, "admin.sock")).call(a.op, **args)
    except OSError as e:
        print(f"testcontrol ctl: cannot reach {a.state}/admin.sock "
              f"(is the server running?): {e}", file=sys.stderr)
        return 1
    except (AdminError, ValueError) as e:
        print(f"testcontrol ctl: {e}", file=sys.stderr)
        return 1
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "ctl":
        sys.exit(ctl(sys.argv[2:]))
    serve(sys.argv[1:])
