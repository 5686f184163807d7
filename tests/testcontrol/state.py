"""Users, pre-auth keys and nodes of the test control server, persisted as
one JSON file written atomically (so a restarted server keeps its tailnet)."""

import ipaddress
import json
import os
import secrets
import tempfile
import time
from datetime import datetime, timezone

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from . import noise

V4_RANGE = ipaddress.ip_network("100.64.0.0/10")
V6_RANGE = ipaddress.ip_network("fd7a:115c:a1e0::/48")
ZERO_TIME = "0001-01-01T00:00:00Z"
EXIT_ROUTES = ("0.0.0.0/0", "::/0")
TAGGED_DEVICES_USER_ID = 2147455555     # Headscale's types.TaggedDevicesUserID


def now():
    return time.time()


def rfc3339(t):
    if t is None:
        return ZERO_TIME
    us = round(t * 1_000_000)
    dt = datetime.fromtimestamp(us // 1_000_000, tz=timezone.utc)
    if us % 1_000_000:     # Go's RFC3339Nano drops trailing zeros
        frac = f"{us % 1_000_000:06d}".rstrip("0")
        return dt.strftime("%Y-%m-%dT%H:%M:%S.") + frac + "Z"
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(s):
    """Go's RFC 3339 (with optional fraction and offset) -> epoch seconds, or
    None for the zero time.  Raises ValueError on junk."""
    if not isinstance(s, str):
        raise ValueError("time must be a string")
    if s.startswith("0001-01-01T00:00:00"):
        return None
    t = s.replace("Z", "+00:00").replace("z", "+00:00")
    if "." in t:    # Python takes at most 6 fraction digits
        head, frac = t.split(".", 1)
        digits = "".join(c for c in frac if c.isdigit())
        rest = frac[len(digits):]
        t = head + "." + (digits[:6].ljust(6, "0")) + rest
    return datetime.fromisoformat(t).timestamp()


def hexkey(prefix, s):
    """Validates "prefix:<64 hex>" and returns it; raises ValueError."""
    if not isinstance(s, str) or not s.startswith(prefix + ":"):
        raise ValueError(f"key must start with {prefix}:")
    h = s[len(prefix) + 1:]
    if len(h) != 64:
        raise ValueError(f"{prefix} key must have 64 hex digits")
    bytes.fromhex(h)
    return prefix + ":" + h.lower()


def zero_key(prefix):
    return prefix + ":" + "0" * 64


class State:
    def __init__(self, path):
        self.path = path
        self.users = {}         # id -> {id, name, display, created}
        self.keys = {}          # key -> {key, user, reusable, ephemeral, tags,
        #                                  expiration, used, created}
        self.nodes = {}         # id -> node dict (see new_node)
        self.next_node_id = 1
        self.next_user_id = 1
        self.policy = None
        self.noise_private = None
        self._cursor = {}
        if path and os.path.exists(path):
            self._load()
        if self.noise_private is None:
            self.noise_private = noise.raw_private(X25519PrivateKey.generate())
            self.save()

    def _load(self):
        with open(self.path) as f:
            d = json.load(f)
        self.users = {int(k): v for k, v in d["users"].items()}
        self.keys = d["keys"]
        self.nodes = {int(k): v for k, v in d["nodes"].items()}
        self.next_node_id = d["next_node_id"]
        self.next_user_id = d["next_user_id"]
        self.policy = d.get("policy")
        self.noise_private = bytes.fromhex(d["noise_private"])

    def save(self):
        if not self.path:
            return
        d = {"users": self.users, "keys": self.keys, "nodes": self.nodes,
             "next_node_id": self.next_node_id,
             "next_user_id": self.next_user_id, "policy": self.policy,
             "noise_private": self.noise_private.hex()}
        dirn = os.path.dirname(self.path) or "."
        fd, tmp = tempfile.mkstemp(dir=dirn, prefix=".state-")
        with os.fdopen(fd, "w") as f:
            json.dump(d, f, indent=1, sort_keys=True)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)

    # -- users and keys -------------------------------------------------

    def user(self, name):
        for u in self.users.values():
            if u["name"] == name:
                return u
        u = {"id": self.next_user_id, "name": name, "display": name,
             "created": now()}
        self.next_user_id += 1
        self.users[u["id"]] = u
        self.save()
        return u

    def new_preauth_key(self, user, reusable=False, ephemeral=False,
                        tags=(), expiration=3600.0):
        u = self.user(user)
        k = "tskey-auth-" + secrets.token_hex(24)
        self.keys[k] = {"key": k, "user": u["id"], "reusable": reusable,
                        "ephemeral": ephemeral, "tags": list(tags),
                        "expiration": now() + expiration, "used": False,
                        "created": now()}
        self.save()
        return k

    def check_preauth_key(self, k):
        """Returns the key record or an error string as Headscale words it
        (types/preauth_key.go Validate, auth.go)."""
        rec = self.keys.get(k)
        if rec is None:
            return "invalid pre auth key"
        if rec.get("revoked"):
            return "authkey revoked"
        if rec["expiration"] and rec["expiration"] < now():
            return "authkey expired"
        if rec["used"] and not rec["reusable"]:
            return "authkey already used"
        return rec

    # -- nodes ----------------------------------------------------------

    def _used_ips(self):
        used = set()
        for n in self.nodes.values():
            used.update(n["ips"])
        return used

    def _alloc(self, net, used):
        """Lowest free host address (sequential, as Headscale allocates),
        skipping the network address; a cursor keeps bulk adds linear."""
        cur = self._cursor.get(net.version, 1)
        base = int(net.network_address)
        size = min(net.num_addresses - 1, 1 << 22)
        for off in range(cur, size):
            ip = str(ipaddress.ip_address(base + off))
            if ip not in used:
                self._cursor[net.version] = off + 1
                return ip
        raise RuntimeError(f"address range {net} exhausted")

    def new_node(self, user_id, machine, node_key, hostinfo, tags=(),
                 ephemeral=False, expiry=None, auth_key=None, save=True,
                 used=None, given_name=None):
        if used is None:        # bulk adds pass one growing set instead
            used = self._used_ips()
            self._cursor = {}
        ips = [self._alloc(V4_RANGE, used), self._alloc(V6_RANGE, used)]
        used.update(ips)
        hostname = (hostinfo or {}).get("Hostname") or "node"
        nid = self.next_node_id
        self.next_node_id += 1
        n = {"id": nid, "user": user_id, "machine": machine,
             "node_key": node_key, "disco_key": zero_key("discokey"),
             "hostinfo": hostinfo or {}, "given_name": given_name or
             self._unique_name(sanitize_hostname(hostname), nid),
             "ips": ips, "endpoints": [], "tags": list(tags),
             "ephemeral": ephemeral, "expiry": expiry, "created": now(),
             "last_seen": None, "approved_routes": [],
             "auth_key": auth_key}
        self.nodes[nid] = n
        if save:
            self.save()
        return n

    def _unique_name(self, base, nid):
        if not any(n["given_name"] == base for n in self.nodes.values()
                   if n["id"] != nid):
            return base
        taken = {n["given_name"] for n in self.nodes.values()
                 if n["id"] != nid}
        if base not in taken:
            return base
        i = 1
        while f"{base}-{i}" in taken:
            i += 1
        return f"{base}-{i}"

    def node_by_key(self, node_key):
        for n in self.nodes.values():
            if n["node_key"] == node_key:
                return n
        return None

    def node_by_machine(self, machine):
        for n in self.nodes.values():
            if n["machine"] == machine:
                return n
        return None

    def node_by_name(self, name):
        for n in self.nodes.values():
            if n["given_name"] == name or str(n["id"]) == str(name):
                return n
        return None

    @staticmethod
    def expired(n):
        return n["expiry"] is not None and n["expiry"] <= now()

    @staticmethod
    def advertised_routes(n):
        out = []
        for r in (n["hostinfo"].get("RoutableIPs") or []):
            try:
                out.append(str(ipaddress.ip_network(r, strict=False)))
            except (ValueError, TypeError):
                continue
        return out


def sanitize_hostname(h):
    """DNS label as Headscale derives given_name: lower case, [a-z0-9-]."""
    out = []
    for c in str(h).lower():
        out.append(c if (c.isascii() and (c.isalnum() or c == "-")) else "-")
    s = "".join(out).strip("-")[:63]
    return s or "node"
