"""The test control server: /key, the ts2021 upgrade, HTTP/2 over Noise with
/machine/register and /machine/map, and the admin API on a Unix socket."""

import asyncio
import base64
import ipaddress
import json
import logging
import os
import secrets
import ssl
import struct

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import zstandard
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from . import http1, noise
from . import policy as pol
from .mapper import Mapper, default_derpmap
from .state import (State, hexkey, now, parse_time, zero_key,
                    TAGGED_DEVICES_USER_ID)

log = logging.getLogger("testcontrol")

NOISE_CAPVER = 39               # Headscale NoiseCapabilityVersion
EARLY_NOISE_CAPVER = 49
EARLY_MAGIC = b"\xff\xff\xffTS"
UPGRADE = "tailscale-control-protocol"
MAX_NOISE_BODY = 1 << 20        # Headscale's noiseBodyLimit
MAP_FAULTS = ("bad_noise", "bad_zstd", "not_zstd", "bad_json",
              "oversized_frame", "oversized_noise", "drop")
HANDSHAKE_FAULTS = ("bad_handshake", "handshake_error")


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


def _ci_get(d, name, default=None):
    """encoding/json matches field names case-insensitively."""
    if name in d:
        return d[name]
    low = name.lower()
    for k, v in d.items():
        if k.lower() == low:
            return v
    return default


class HTTPError(Exception):
    def __init__(self, status, msg):
        super().__init__(msg)
        self.status = status
        self.msg = msg


class Server:
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
                req = await http1.read_request(reader)
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
            self.count("noise_handshake_failed", str(e))
            if e.reply:
                writer.write(noise.error_frame(e.reply))
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

    # -- register -----------------------------------------------------

    async def register(self, conn, body):
        """Headscale's handleRegister; returns (status, json or text)."""
        try:
            req = json.loads(body)
            if not isinstance(req, dict):
                raise ValueError("not an object")
        except ValueError as e:
            # Headscale: the zero-version request fails the version check.
            self.count("bad_register_json", str(e))
            return 400, "unsupported client version: 0"
        version = _ci_get(req, "Version", 0)
        if not isinstance(version, int) or version < self.cfg.min_capver:
            self.count("unsupported_version", f"register version {version}")
            return 400, f"unsupported client version: {version}"
        try:
            resp = await self._register(conn, req)
        except HTTPError as e:
            self.count("register_refused", e.msg)
            resp = {"Error": e.msg}
        except (ValueError, TypeError, KeyError) as e:
            self.count("bad_register", str(e))
            resp = {"Error": str(e)}
        full = {"User": {"ID": 0, "DisplayName": ""},
                "Login": {"ID": 0, "Provider": "", "LoginName": "",
                          "DisplayName": ""},
                "NodeKeyExpired": False, "MachineAuthorized": False,
                "AuthURL": "", "NodeKeySignature": None, "Error": ""}
        full.update(resp)
        return 200, full

    def _user_resp(self, n):
        st = self.state
        if n["tags"]:
            uid, name, disp = TAGGED_DEVICES_USER_ID, "tagged-devices", \
                "Tagged Devices"
            created = None
        else:
            u = st.users[n["user"]]
            uid, name, disp, created = u["id"], u["name"], u["display"], \
                u["created"]
        user = {"ID": uid, "DisplayName": disp}
        if created:
            from .state import rfc3339
            user["Created"] = rfc3339(created)
        return {"User": user,
                "Login": {"ID": uid, "Provider": "", "LoginName": name,
                          "DisplayName": disp}}

    def _node_resp(self, n):
        r = {"NodeKeyExpired": self.state.expired(n),
             "MachineAuthorized": True}
        r.update(self._user_resp(n))
        return r

    async def _register(self, conn, req):
        st = self.state
        node_key = hexkey("nodekey", _ci_get(req, "NodeKey", ""))
        expiry_s = _ci_get(req, "Expiry", None)
        expiry = parse_time(expiry_s) if expiry_s else None
        auth = _ci_get(req, "Auth") or {}
        if not isinstance(auth, dict):
            raise ValueError("Auth must be an object")
        auth_key = _ci_get(auth, "AuthKey", "") or ""
        hostinfo = _ci_get(req, "Hostinfo") or {}
        if not isinstance(hostinfo, dict):
            raise ValueError("Hostinfo must be an object")
        followup = _ci_get(req, "Followup", "") or ""

        n = st.node_by_key(node_key)
        if expiry is not None and expiry < now() and n is not None:
            r = self._logout(conn, n, expiry)
            if r is not None:
                return r
        if not auth_key and n is not None:
            if n["machine"] != conn.machine:
                raise HTTPError(401, "node exists with a different "
                                "machine key")
            if expiry is None and not st.expired(n):
                return self._node_resp(n)
            r = self._logout(conn, n, expiry)
            if r is not None:
                return r
        if followup:
            return await self._followup(conn, req, followup, node_key,
                                        hostinfo)
        if auth_key:
            return self._register_authkey(conn, req, node_key, auth_key,
                                          hostinfo, expiry)
        return self._new_auth_url(conn, node_key, hostinfo)

    def _logout(self, conn, n, expiry):
        st = self.state
        if n["machine"] != conn.machine:
            raise HTTPError(401, "node exists with a different machine key")
        if st.expired(n):
            return {"NodeKeyExpired": True, "MachineAuthorized": False}
        if expiry is not None and expiry > now():
            raise HTTPError(400, "extending key is not allowed")
        if expiry is not None and n["ephemeral"]:
            log.info("logout: deleting ephemeral node %s", n["given_name"])
            self.delete_node(n)
            return {"NodeKeyExpired": True, "MachineAuthorized": False}
        log.info("logout: expiring node %s", n["given_name"])
        n["expiry"] = now()
        st.save()
        self.changed()
        return self._node_resp(n)

    def _register_authkey(self, conn, req, node_key, auth_key, hostinfo,
                          expiry):
        st = self.state
        rec = st.check_preauth_key(auth_key)
        if isinstance(rec, str):
            raise HTTPError(401, rec)
        other = st.node_by_key(node_key)
        if other is not None and other["machine"] != conn.machine:
            raise HTTPError(401, "node exists with a different machine key")
        tags = list(rec["tags"])
        ephemeral = rec["ephemeral"] or bool(_ci_get(req, "Ephemeral",
                                                     False))
        n = st.node_by_machine(conn.machine)
        if n is not None and (n["user"] == rec["user"]):
            # Re-authentication of a known machine: new key, fresh expiry.
            n["node_key"] = node_key
            n["expiry"] = None
            n["hostinfo"] = hostinfo or n["hostinfo"]
            n["tags"] = tags or n["tags"]
        else:
            n = st.new_node(rec["user"], conn.machine, node_key, hostinfo,
                            tags=tags, ephemeral=ephemeral,
                            auth_key=auth_key)
        rec["used"] = True
        self._request_tags(n)
        self.apply_auto_approve(n)
        st.save()
        log.info("registered node %s (id %d) with pre-auth key",
                 n["given_name"], n["id"])
        self.changed()
        return self._node_resp(n)

    def _request_tags(self, n):
        req_tags = (n["hostinfo"] or {}).get("RequestTags") or []
        if not req_tags or self.state.policy is None:
            return
        u = self.state.users.get(n["user"])
        p = pol.Policy(self.state.policy)
        ok = [t for t in req_tags if u and p.may_own_tag(t, u["name"])]
        for t in ok:
            if t not in n["tags"]:
                n["tags"].append(t)

    def _new_auth_url(self, conn, node_key, hostinfo):
        aid = "hskey-authreq-" + secrets.token_hex(12)
        fut = asyncio.get_running_loop().create_future()
        self.pending[aid] = {"id": aid, "machine": conn.machine,
                             "node_key": node_key, "hostinfo": hostinfo,
                             "created": now(), "future": fut}
        url = f"{self.url}/register/{aid}"
        log.info("interactive registration pending: %s", url)
        return {"AuthURL": url}

    async def _followup(self, conn, req, followup, node_key, hostinfo):
        from urllib.parse import urlsplit
        path = urlsplit(followup).path
        aid = path.replace("/register/", "")
        p = self.pending.get(aid)
        if p is None or p["machine"] != conn.machine:
            return self._new_auth_url(conn, node_key, hostinfo)
        p["node_key"] = node_key
        p["hostinfo"] = hostinfo or p["hostinfo"]
        user = await asyncio.shield(p["future"])
        self.pending.pop(aid, None)
        if user is None:
            return self._new_auth_url(conn, node_key, hostinfo)
        return self._node_resp(self.state.nodes[user])

    def approve_auth(self, aid, user):
        p = self.pending.get(aid)
        if p is None:
            raise KeyError(f"no pending registration {aid}")
        st = self.state
        u = st.user(user)
        n = st.node_by_machine(p["machine"])
        if n is not None and n["user"] == u["id"]:
            n["node_key"] = p["node_key"]
            n["expiry"] = None
            n["hostinfo"] = p["hostinfo"] or n["hostinfo"]
        else:
            n = st.new_node(u["id"], p["machine"], p["node_key"],
                            p["hostinfo"])
        self._request_tags(n)
        self.apply_auto_approve(n)
        st.save()
        if not p["future"].done():
            p["future"].set_result(n["id"])
        self.changed()
        return n

    # -- map ----------------------------------------------------------

    async def map_request(self, conn, stream, body):
        try:
            req = json.loads(body)
            if not isinstance(req, dict):
                raise ValueError("not an object")
        except ValueError as e:
            self.count("bad_map_json", str(e))
            await conn.respond(stream, 500, b"internal server error\n")
            return
        version = _ci_get(req, "Version", 0)
        if not isinstance(version, int) or version < self.cfg.min_capver:
            self.count("unsupported_version", f"map version {version}")
            await conn.respond(stream, 400, (
                f"unsupported client version: {version}\n").encode())
            return
        try:
            nk = hexkey("nodekey", _ci_get(req, "NodeKey", ""))
        except ValueError as e:
            self.count("bad_map", str(e))
            await conn.respond(stream, 500, b"internal server error\n")
            return
        n = self.state.node_by_key(nk)
        if n is None:
            self.count("map_refused", "node not found")
            await conn.respond(stream, 404, b"node not found\n")
            return
        if n["machine"] != conn.machine:
            self.count("map_refused", "machine key mismatch")
            await conn.respond(stream, 404, (
                "node key in request does not match the one associated "
                "with this machine key\n").encode())
            return
        try:
            updated = self._apply_map_update(n, req)
        except (ValueError, TypeError) as e:
            # Headscale fails these while decoding the JSON: a 500.
            self.count("bad_map", str(e))
            await conn.respond(stream, 500, b"internal server error\n")
            return
        compress = _ci_get(req, "Compress", "") == "zstd"
        if not _ci_get(req, "Stream", False):
            # Headscale's serve(): update the node, answer an empty 200
            # (with or without OmitPeers; it sends no netmap here).
            if updated:
                self.changed()
            await conn.respond(stream, 200, b"")
            return
        sess = MapSession(self, conn, stream, n["id"], version, compress)
        await sess.run()

    def _apply_map_update(self, n, req):
        changed = False
        hi = _ci_get(req, "Hostinfo")
        if hi is not None:
            if not isinstance(hi, dict):
                raise ValueError("Hostinfo must be an object")
            if hi != n["hostinfo"]:
                n["hostinfo"] = hi
                self._request_tags(n)
                self.apply_auto_approve(n)
                changed = True
        eps = _ci_get(req, "Endpoints")
        if eps is not None:
            if not isinstance(eps, list):
                raise ValueError("Endpoints must be a list")
            eps = [check_addrport(e) for e in eps]
            if eps != n["endpoints"]:
                n["endpoints"] = eps
                changed = True
        dk = _ci_get(req, "DiscoKey")
        if dk:
            dk = hexkey("discokey", dk)
            if dk != n["disco_key"]:
                n["disco_key"] = dk
                changed = True
        if changed:
            self.state.save()
        return changed


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


def check_addrport(s):
    """netip.AddrPort text ("1.2.3.4:5", "[::1]:5"); raises ValueError."""
    if not isinstance(s, str):
        raise ValueError("endpoint must be a string")
    host, sep, port = s.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise ValueError(f"bad endpoint {s!r}")
    if host.startswith("["):
        if not host.endswith("]"):
            raise ValueError(f"bad endpoint {s!r}")
        ipaddress.IPv6Address(host[1:-1].split("%")[0])
    else:
        ipaddress.IPv4Address(host)
    return s


def frame(obj, compress, raw=None):
    data = raw if raw is not None else json.dumps(
        obj, separators=(",", ":")).encode()
    if compress:
        data = zstandard.ZstdCompressor().compress(data)
    return struct.pack("<I", len(data)) + data


class MapSession:
    def __init__(self, server, conn, stream, node_id, capver, compress):
        self.server = server
        self.conn = conn
        self.stream = stream
        self.node_id = node_id
        self.capver = capver
        self.compress = compress
        self.wake = asyncio.Event()

    async def run(self):
        srv = self.server
        n = srv.state.nodes.get(self.node_id)
        srv.sessions.add(self)
        srv.online[self.node_id] = srv.online.get(self.node_id, 0) + 1
        srv.changed()
        self.wake.clear()
        try:
            await self.conn.send_headers(self.stream, 200,
                                         "application/json")
            nm = srv.mapper.netmap(self.node_id, srv.online, self.capver)
            await self.send(srv.mapper.full(nm), n)
            log.info("map stream for %s: full map sent (%d peers)",
                     n["given_name"], len(nm["peers"]))
            while True:
                try:
                    await asyncio.wait_for(self.wake.wait(),
                                           srv.cfg.keepalive)
                except asyncio.TimeoutError:
                    await self.send({"KeepAlive": True}, n)
                    continue
                self.wake.clear()
                n = srv.state.nodes.get(self.node_id)
                if n is None:
                    log.info("map stream for deleted node %d ends",
                             self.node_id)
                    await self.conn.send_data(self.stream, b"", end=True)
                    return
                new = srv.mapper.netmap(self.node_id, srv.online,
                                        self.capver)
                delta = srv.mapper.diff(nm, new)
                nm = new
                if delta is None and srv.fault_pending(MAP_FAULTS, n):
                    delta = {"KeepAlive": True}
                if delta is not None:
                    await self.send(delta, n)
        finally:
            srv.sessions.discard(self)
            c = srv.online.get(self.node_id, 0) - 1
            if c <= 0:
                srv.online.pop(self.node_id, None)
                n = srv.state.nodes.get(self.node_id)
                if n is not None:
                    n["last_seen"] = now()
                    srv.state.save()
            else:
                srv.online[self.node_id] = c
            srv.changed()

    async def send(self, obj, n):
        kind = self.server.take_fault(MAP_FAULTS, n)
        if kind is None:
            await self.conn.send_data(self.stream, frame(obj, self.compress))
            return
        if kind == "bad_zstd":
            # A real frame (content size + checksum) with one body byte
            # flipped: decoders fail on it without huge allocations.
            junk = bytearray(zstandard.ZstdCompressor(
                write_checksum=True, write_content_size=True).compress(
                    b'{"KeepAlive":true,"Health":["' + b"x" * 200 + b'"]}'))
            junk[len(junk) // 2] ^= 0x5A
            junk = bytes(junk)
            await self.conn.send_data(self.stream, struct.pack(
                "<I", len(junk)) + junk)
        elif kind == "not_zstd":
            junk = b"this is not a zstd frame"
            await self.conn.send_data(self.stream, struct.pack(
                "<I", len(junk)) + junk)
        elif kind == "bad_json":
            await self.conn.send_data(self.stream, frame(
                None, self.compress, raw=b'{"Node":{"ID":[}}garbage'))
        elif kind == "oversized_frame":
            await self.conn.send_data(self.stream, struct.pack(
                "<I", 0xFFFFFFF0) + b"\0" * 1024)
        else:
            self.conn.inject(kind)


class NoiseConn:
    """HTTP/2 (h2, server side) carried in controlbase records."""

    def __init__(self, server, reader, writer, tr, version, machine):
        self.server = server
        self.reader = reader
        self.writer = writer
        self.tr = tr
        self.version = version
        self.machine = machine
        self.h2 = h2.connection.H2Connection(h2.config.H2Configuration(
            client_side=False, header_encoding="utf-8"))
        self.streams = {}
        self.tasks = {}
        self.window = asyncio.Event()
        self.closed = False

    def flush(self):
        data = self.h2.data_to_send()
        if data and not self.closed:
            self.writer.write(self.tr.seal(data))

    def abort(self):
        self.closed = True
        try:
            self.writer.transport.abort()
        except Exception:
            pass

    def inject(self, kind):
        if kind == "drop":
            self.abort()
        elif kind == "bad_noise":
            rec = bytearray(self.tr.seal_record(b"\0" * 64))
            rec[10] ^= 0x55
            self.writer.write(bytes(rec))
        elif kind == "oversized_noise":
            self.writer.write(struct.pack(">BH", noise.MSG_RECORD, 0xFFFF) +
                              os.urandom(4096))

    async def run(self):
        self.h2.initiate_connection()
        self.flush()
        try:
            while not self.closed:
                data = await self.reader.read(65536)
                if not data:
                    break
                try:
                    plain = self.tr.feed(data)
                    events = self.h2.receive_data(plain)
                except noise.RecordError as e:
                    self.server.count("noise_record_error", str(e))
                    break
                except h2.exceptions.ProtocolError as e:
                    self.server.count("h2_protocol_error", repr(e))
                    self.flush()
                    break
                for ev in events:
                    self._event(ev)
                self.flush()
                await self.writer.drain()
        except (ConnectionError, OSError) as e:
            log.info("noise connection ended: %s", e)
        finally:
            self.closed = True
            for t in list(self.tasks.values()):
                t.cancel()
            self.window.set()
            try:
                self.writer.close()
            except Exception:
                pass

    def _event(self, ev):
        if isinstance(ev, h2.events.RequestReceived):
            self.streams[ev.stream_id] = {"headers": dict(ev.headers),
                                          "body": bytearray()}
        elif isinstance(ev, h2.events.DataReceived):
            s = self.streams.get(ev.stream_id)
            self.h2.acknowledge_received_data(ev.flow_controlled_length,
                                              ev.stream_id)
            if s is None:
                return
            s["body"] += ev.data
            if len(s["body"]) > MAX_NOISE_BODY:
                self.server.count("body_too_large", "noise request body")
                self.streams.pop(ev.stream_id)
                self._spawn(ev.stream_id, self.respond(
                    ev.stream_id, 413, b"http: request body too large\n"))
        elif isinstance(ev, h2.events.StreamEnded):
            s = self.streams.pop(ev.stream_id, None)
            if s is not None:
                self._spawn(ev.stream_id, self._request(ev.stream_id, s))
        elif isinstance(ev, h2.events.StreamReset):
            self.streams.pop(ev.stream_id, None)
            t = self.tasks.pop(ev.stream_id, None)
            if t:
                t.cancel()
        elif isinstance(ev, (h2.events.WindowUpdated,
                             h2.events.RemoteSettingsChanged)):
            self.window.set()
        elif isinstance(ev, h2.events.ConnectionTerminated):
            self.closed = True

    def _spawn(self, sid, coro):
        t = asyncio.get_running_loop().create_task(self._guard(sid, coro))
        self.tasks[sid] = t

    async def _guard(self, sid, coro):
        try:
            await coro
        except asyncio.CancelledError:
            pass
        except (h2.exceptions.StreamClosedError, ConnectionError):
            pass
        except Exception:
            self.server.count("internal_error", "request handler")
            log.exception("request handler")
            try:
                await self.respond(sid, 500, b"internal server error\n")
            except Exception:
                pass
        finally:
            self.tasks.pop(sid, None)

    async def _request(self, sid, s):
        h = s["headers"]
        method, path = h.get(":method"), h.get(":path", "").split("?")[0]
        body = bytes(s["body"])
        log.info("noise request %s %s (%d bytes) from %s", method, path,
                 len(body), self.machine[:13])
        if path == "/machine/register":
            if method != "POST":
                await self.respond(sid, 405, b"method not allowed\n")
                return
            status, resp = await self.server.register(self, body)
            if isinstance(resp, dict):
                await self.respond(sid, status, (json.dumps(resp) +
                                                 "\n").encode(),
                                   ctype="application/json; charset=utf-8")
            else:
                await self.respond(sid, status, (resp + "\n").encode())
        elif path == "/machine/map":
            if method != "POST":
                await self.respond(sid, 405, b"")
                return
            await self.server.map_request(self, sid, body)
        elif path.startswith("/machine/"):
            await self.respond(sid, 501, b"Not implemented yet\n")
        else:
            await self.respond(sid, 404, b"404 page not found\n")

    async def send_headers(self, sid, status, ctype):
        if self.closed:
            raise ConnectionError("connection closed")
        self.h2.send_headers(sid, [(":status", str(status)),
                                   ("content-type", ctype)])
        self.flush()
        await self.writer.drain()

    async def send_data(self, sid, data, end=False):
        mv = memoryview(data)
        while len(mv) > 0:
            if self.closed:
                raise ConnectionError("connection closed")
            room = min(self.h2.local_flow_control_window(sid),
                       self.h2.max_outbound_frame_size)
            if room <= 0:
                self.window.clear()
                await self.window.wait()
                continue
            chunk = bytes(mv[:room])
            mv = mv[room:]
            self.h2.send_data(sid, chunk, end_stream=end and len(mv) == 0)
            self.flush()
            await self.writer.drain()
        if end and len(data) == 0:
            self.h2.end_stream(sid)
            self.flush()
            await self.writer.drain()

    async def respond(self, sid, status, body,
                      ctype="text/plain; charset=utf-8"):
        await self.send_headers(sid, status, ctype)
        await self.send_data(sid, body, end=True)


def configure_logging(verbose=False):
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="testcontrol: %(levelname)s %(message)s")
