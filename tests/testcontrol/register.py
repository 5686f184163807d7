"""/machine/register as Headscale's handleRegister: pre-auth keys,
re-registration, logout by a past Expiry, node-key expiry and the
interactive AuthURL + Followup long-poll."""

import asyncio
import json
import secrets
from urllib.parse import urlsplit

from . import policy as pol
from .common import HTTPError, ci_get as _ci_get, log
from .state import (TAGGED_DEVICES_USER_ID, hexkey, now, parse_time,
                    rfc3339)


class RegisterMixin:
    """Register handling for Server (uses its state, cfg and pending)."""

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
