"""The test control server: /key, the ts2021 upgrade, HTTP/2 over Noise with
/machine/register and /machine/map, and the admin API on a Unix socket."""

import asyncio
import base64
import json
import logging
import os
import ssl
import struct

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from . import http1, noise
from . import policy as pol
from .common import HANDSHAKE_FAULTS, log
from .h2conn import NoiseConn
from .mapper import Mapper, default_derpmap
from .maps import MapMixin
from .register import RegisterMixin
from .state import State, now, zero_key

NOISE_CAPVER = 39               # Headscale NoiseCapabilityVersion
EARLY_NOISE_CAPVER = 49
EARLY_MAGIC = b"\xff\xff\xffTS"
UPGRADE = "tailscale-control-protocol"
HTTP_IDLE_TIMEOUT = 60.0        # seconds for a whole plain-HTTP request


class Config:
    def __init__(self, **kw):
        self.listen = kw.get("listen", "127.0.0.1:8080")
        self.state_dir = kw.get("state_dir")
        self.tls_cert = kw.get("tls_cert")
        self.tls_key = kw.get("tls_key")
        self.server_url = kw.get("server_url")
        self.base_domain = kw.get("base_domain", "tailnet.test")
        self.dns = kw.get("dns") or {"magic_dns": True}
        self.derpmap = kw.get("derpmap") or default_derpmap()
        self.keepalive = float(kw.get("keepalive", 50.0))
        self.min_capver = int(kw.get("min_capver", 113))
        self.legacy_derp = bool(kw.get("legacy_derp", False))
        self.admin_socket = kw.get("admin_socket")
        self.ephemeral_timeout = float(kw.get("ephemeral_timeout", 1800.0))
        self.auth_timeout = float(kw.get("auth_timeout", 900.0))
        # How peers learn of online/offline: "patch" = PeersChangedPatch
        # Online (Headscale), "change" = OnlineChange + PeerSeenChange.
        self.online_style = kw.get("online_style", "patch")


class Server(RegisterMixin, MapMixin):
    def __init__(self, cfg):
        self.cfg = cfg
        path = os.path.join(cfg.state_dir, "state.json") \
            if cfg.state_dir else None
        self.state = State(path)
        self.mapper = Mapper(cfg, self.state)
        self.noise_priv = X25519PrivateKey.from_private_bytes(
            self.state.noise_private)
        self.noise_pub = noise.raw_public(self.noise_priv)
        self.online = {}            # node id -> number of live map streams
        self.sessions = set()
        self.pending = {}           # auth id -> pending interactive login
        self.faults = []
        self.counters = {}
        self.upgrade_times = []
        self.conns = set()
        self._servers = []

    # -- bookkeeping --------------------------------------------------

    def count(self, what, msg):
        self.counters[what] = self.counters.get(what, 0) + 1
        log.warning("%s: %s", what, msg)

    def changed(self):
        for s in list(self.sessions):
            s.wake.set()

    def _fault_for(self, kinds, node):
        for f in self.faults:
            if f["kind"] not in kinds:
                continue
            if f.get("node") and (node is None or f["node"] not in (
                    node["given_name"], str(node["id"]))):
                continue
            return f
        return None

    def fault_pending(self, kinds, node=None):
        return self._fault_for(kinds, node) is not None

    def take_fault(self, kinds, node=None):
        f = self._fault_for(kinds, node)
        if f is not None:
            if f["count"] > 0:
                f["count"] -= 1
                if f["count"] == 0:
                    self.faults.remove(f)
            log.info("injecting fault %s", f["kind"])
            return f["kind"]
        return None

    @property
    def url(self):
        if self.cfg.server_url:
            return self.cfg.server_url
        scheme = "https" if self.cfg.tls_cert else "http"
        return f"{scheme}://{self.cfg.listen}"

    # -- listeners ----------------------------------------------------

    async def start(self):
        host, _, port = self.cfg.listen.rpartition(":")
        host = host.strip("[]")
        ctx = None
        if self.cfg.tls_cert:
            ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ctx.load_cert_chain(self.cfg.tls_cert, self.cfg.tls_key)
            ctx.set_alpn_protocols(["http/1.1"])
        srv = await asyncio.start_server(self._client, host, int(port),
                                         ssl=ctx, limit=http1.MAX_HEAD)
        self._servers.append(srv)
        if self.cfg.admin_socket:
            try:
                os.unlink(self.cfg.admin_socket)
            except FileNotFoundError:
                pass
            a = await asyncio.start_unix_server(self._admin_client,
                                                self.cfg.admin_socket)
            os.chmod(self.cfg.admin_socket, 0o600)
            self._servers.append(a)
        asyncio.get_running_loop().create_task(self._janitor())
        log.info("listening on %s (%s), noise key mkey:%s", self.cfg.listen,
                 self.url, self.noise_pub.hex())

    async def _janitor(self):
        while True:
            await asyncio.sleep(1)
            gone = [n for n in self.state.nodes.values() if n["ephemeral"]
                    and n["id"] not in self.online and
                    now() - (n["last_seen"] or n["created"]) >
                    self.cfg.ephemeral_timeout]
            for n in gone:
                log.info("deleting inactive ephemeral node %s",
                         n["given_name"])
                self.delete_node(n)
            # Headscale's registration cache forgets auth ids after 15 min;
            # a waiting Followup then gets a fresh AuthURL.
            for aid, p in list(self.pending.items()):
                if now() - p["created"] > self.cfg.auth_timeout:
                    self.pending.pop(aid)
                    if not p["future"].done():
                        p["future"].set_result(None)

    # -- plain HTTP ---------------------------------------------------

    async def _client(self, reader, writer):
        try:
            while True:     # HTTP/1.1 keep-alive until EOF or an upgrade
                try:        # idle or trickling clients do not stay forever
                    req = await asyncio.wait_for(
                        http1.read_request(reader), HTTP_IDLE_TIMEOUT)
                except asyncio.TimeoutError:
                    self.count("http_timeout", "no complete request")
                    return
                if req is None:
                    return
                if req.path == "/ts2021" and req.method in ("GET", "POST"):
                    await self._ts2021(req, reader, writer)
                    return
                writer.write(self._plain(req))
                await writer.drain()
                if req.header("Connection").lower() == "close":
                    return
        except http1.BadRequest as e:
            self.count("bad_http", str(e))
            writer.write(http1.text_error(400, "bad request"))
            await _linger(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError) as e:
            log.info("client connection ended: %s", e)
        except Exception:
            self.count("internal_error", "unhandled error on connection")
            log.exception("connection handler")
        finally:
            try:
                writer.close()
            except Exception:
                pass

    def _plain(self, req):
        if req.path == "/key" and req.method == "GET":
            v = (req.query.get("v") or [""])[0]
            if v == "":
                return http1.text_error(400, "capability version must be set")
            try:
                v = int(v)
            except ValueError:
                return http1.text_error(400, "invalid capability version")
            if v < NOISE_CAPVER:
                return http1.response(200, b"")
            return http1.json_response(200, {
                "legacyPublicKey": zero_key("mkey"),
                "publicKey": "mkey:" + self.noise_pub.hex()})
        if req.path in ("/health", "/health/"):
            return http1.json_response(200, {"status": "pass"})
        if req.path.startswith("/register/"):
            aid = req.path[len("/register/"):]
            if aid not in self.pending:
                return http1.text_error(404, "unknown registration")
            return http1.response(200, (
                "Machine registration pending.\n\nApprove it with:\n"
                "  python3 -m tests.testcontrol ctl approve-auth "
                f"'{{\"auth_id\": \"{aid}\", \"user\": \"USER\"}}'\n"))
        return http1.text_error(404, "404 page not found")

    # -- ts2021 -------------------------------------------------------

    async def _ts2021(self, req, reader, writer):
        # Attempt times let tests check a client's reconnect backoff.
        self.upgrade_times.append(round(now(), 3))
        del self.upgrade_times[:-200]
        up = req.header("Upgrade").lower()
        if up == "":
            # Headscale answers a stripped Upgrade header with 500.
            self.count("ts2021_refused", "no Upgrade header")
            writer.write(http1.text_error(500, "Internal error"))
            return
        if up != UPGRADE:
            self.count("ts2021_refused", f"unknown next protocol {up!r}")
            writer.write(http1.text_error(400, "unknown next protocol"))
            return
        init_b64 = req.header("X-Tailscale-Handshake")
        if not init_b64:
            self.count("ts2021_refused", "no handshake header")
            writer.write(http1.text_error(
                400, "missing Tailscale handshake header"))
            return
        try:
            init = base64.b64decode(init_b64, validate=True)
        except (ValueError, TypeError):
            self.count("ts2021_refused", "handshake header not base64")
            writer.write(http1.text_error(
                400, "invalid tailscale handshake header"))
            return
        writer.write(http1.response(101, extra=[("Upgrade", UPGRADE),
                                                ("Connection", "upgrade")]))
        fault = self.take_fault(HANDSHAKE_FAULTS)
        try:
            version, machine, resp, tr = noise.respond(
                self.noise_priv, init, corrupt_tag=fault == "bad_handshake")
        except noise.HandshakeError as e:
            # controlbase.Server writes its type-3 error into the corked
            # conn, and AcceptHTTP closes without uncorking: the client sees
            # the 101 and then EOF.  (The handshake_error fault sends one.)
            self.count("noise_handshake_failed", str(e))
            await writer.drain()
            return
        if fault == "handshake_error":
            writer.write(noise.error_frame("injected test fault"))
            await writer.drain()
            return
        if version < self.cfg.min_capver:
            # Headscale refuses in its early-noise hook, before the corked
            # response goes out: the client sees the 101 and then EOF.
            self.count("unsupported_version",
                       f"noise protocol version {version}")
            await writer.drain()
            return
        conn = NoiseConn(self, reader, writer, tr, version,
                         "mkey:" + machine.hex())
        out = bytearray(resp)
        if version >= EARLY_NOISE_CAPVER:
            chal = noise.raw_public(X25519PrivateKey.generate())
            early = json.dumps({"nodeKeyChallenge": "chalpub:" + chal.hex()},
                               separators=(",", ":")).encode()
            out += tr.seal(EARLY_MAGIC + struct.pack(">I", len(early)) +
                           early)
        writer.write(bytes(out))   # corked: response and early payload
        self.conns.add(conn)
        try:
            await conn.run()
        finally:
            self.conns.discard(conn)

    # -- admin --------------------------------------------------------

    async def _admin_client(self, reader, writer):
        from .admin import handle_admin
        try:
            while True:
                req = await http1.read_request(reader)
                if req is None:
                    break
                writer.write(await handle_admin(self, req))
                await writer.drain()
        except http1.BadRequest as e:
            writer.write(http1.text_error(400, str(e)))
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        except Exception:
            log.exception("admin handler")
        finally:
            writer.close()

    # -- state changes shared by handlers and admin -------------------

    def delete_node(self, n):
        # Its map streams see the node gone on their next wake-up and end
        # (Headscale closes the session; the Noise connection stays).
        self.state.nodes.pop(n["id"], None)
        self.state.save()
        self.changed()

    def apply_auto_approve(self, n):
        if self.state.policy is None:
            return
        try:
            add = pol.Policy(self.state.policy).auto_approved(n, self.state)
        except pol.PolicyError as e:
            self.count("policy_error", str(e))
            return
        for r in add:
            if r not in n["approved_routes"]:
                n["approved_routes"].append(r)


async def _linger(reader, writer):
    """Reads and drops what the client still sends (bounded), so closing
    does not reset the connection before it has read our error."""
    try:
        await writer.drain()
        if writer.can_write_eof():      # not over TLS
            writer.write_eof()
        total = 0
        while total < (4 << 20):
            d = await asyncio.wait_for(reader.read(65536), 1.0)
            if not d:
                break
            total += len(d)
    except (asyncio.TimeoutError, ConnectionError, OSError,
            RuntimeError):
        pass


def configure_logging(verbose=False):
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="testcontrol: %(levelname)s %(message)s")
