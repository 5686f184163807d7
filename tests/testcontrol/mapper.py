"""Builds tailcfg JSON (Node, MapResponse, DNSConfig) from the server state
the way Headscale's mapper does, and the deltas between two netmaps."""

import ipaddress
import time

from . import policy as pol
from .state import TAGGED_DEVICES_USER_ID, rfc3339

CAP_ADMIN = "https://tailscale.com/cap/is-admin"
CAP_SSH = "https://tailscale.com/cap/ssh"
CAP_AUTO_UPDATE = "default-auto-update"


def default_derpmap(host="127.0.0.1", port=3340, stun_port=-1):
    return {"Regions": {"999": {
        "RegionID": 999, "RegionCode": "test", "RegionName": "Test DERP",
        "Nodes": [{"Name": "999a", "RegionID": 999, "HostName": host,
                   "IPv4": host, "IPv6": "none", "STUNPort": stun_port,
                   "DERPPort": port, "InsecureForTests": True}]}}}


def primary_routes(state, online):
    """Route -> node id of its primary (non-exit subnet routes only): the
    lowest-id online node serving it, else the lowest id (Headscale keeps
    one primary per prefix and fails over to another online one)."""
    cands = {}
    for n in sorted(state.nodes.values(), key=lambda n: n["id"]):
        for r in pol.node_subnet_routes(state, n):
            cands.setdefault(r, []).append(n["id"])
    out = {}
    for r, ids in cands.items():
        on = [i for i in ids if i in online]
        out[r] = (on or ids)[0]
    return out


def _sort_prefixes(ps):
    return sorted(ps, key=lambda p: (ipaddress.ip_network(p).version,
                                     ipaddress.ip_network(p)))


def prefix_of(ip):
    # Stored addresses are canonical already; skip re-parsing 10k of them.
    return ip + ("/128" if ":" in ip else "/32")


class Mapper:
    def __init__(self, cfg, state):
        self.cfg = cfg
        self.state = state

    def fqdn(self, n):
        return f"{n['given_name']}.{self.cfg.base_domain}."

    def node_json(self, n, primaries, online, capver):
        st = self.state
        addrs = [prefix_of(ip) for ip in n["ips"]]
        prim = [r for r, nid in primaries.items() if nid == n["id"]]
        allowed = addrs + prim + pol.node_exit_routes(st, n)
        hi = n["hostinfo"] or {}
        derp = (n.get("home_derp") or
                ((hi.get("NetInfo") or {}).get("PreferredDERP")) or 0)
        is_online = n["id"] in online
        expired = st.expired(n)
        cap_map = {CAP_ADMIN: [], CAP_SSH: [], CAP_AUTO_UPDATE: [False]}
        j = {
            "ID": n["id"], "StableID": str(n["id"]),
            "Name": self.fqdn(n),
            "User": TAGGED_DEVICES_USER_ID if n["tags"] else n["user"],
            "Key": n["node_key"],
            "Addresses": addrs,
            "AllowedIPs": _sort_prefixes(allowed) if len(allowed) > 2
            else allowed,     # just the addresses, already v4 then v6
            "Hostinfo": hi,
            "Created": rfc3339(n["created"]),
            "Cap": capver,
            "CapMap": cap_map,
            "Online": is_online,
        }
        # tailcfg's omitzero/omitempty tags: zero values stay off the wire.
        for field, val in (("Machine", n["machine"]),
                           ("DiscoKey", n["disco_key"])):
            if not val.endswith(":" + "0" * 64):
                j[field] = val
        if not expired:
            j["MachineAuthorized"] = True
        if n["expiry"] is not None:
            j["KeyExpiry"] = rfc3339(n["expiry"])
        if n["endpoints"]:
            j["Endpoints"] = list(n["endpoints"])
        if derp:
            j["HomeDERP"] = derp
            if self.cfg.legacy_derp:
                j["DERP"] = f"127.3.3.40:{derp}"
        if n["tags"]:
            j["Tags"] = list(n["tags"])
        if prim:
            j["PrimaryRoutes"] = _sort_prefixes(prim)
        if not is_online and n["last_seen"]:
            j["LastSeen"] = rfc3339(n["last_seen"])
        if expired:
            j["Expired"] = True
        return j

    def rules(self):
        p = self.state.policy
        if p is None:
            return [dict(r) for r in pol.FILTER_ALLOW_ALL]
        return pol.Policy(p).compile(self.state)

    def dns_config(self):
        c = self.cfg.dns
        d = {}
        if c.get("magic_dns", True):
            d["Proxied"] = True
        res = [{"Addr": a} for a in c.get("nameservers", [])]
        if res:
            if c.get("override_local_dns", True):
                d["Resolvers"] = res
            else:
                d["FallbackResolvers"] = res
        routes = {}
        for suffix, addrs in (c.get("split") or {}).items():
            routes[suffix] = [{"Addr": a} for a in addrs]
        if routes:
            d["Routes"] = routes
        d["Domains"] = [self.cfg.base_domain] + list(
            c.get("search_domains", []))
        extra = []
        for r in c.get("extra_records", []):
            e = {"Name": r["name"], "Value": r["value"]}
            if r.get("type"):
                e["Type"] = r["type"]
            extra.append(e)
        if extra:
            d["ExtraRecords"] = extra
        return d

    def user_profile(self, uid):
        if uid == TAGGED_DEVICES_USER_ID:
            return {"ID": uid, "LoginName": "tagged-devices",
                    "DisplayName": "Tagged Devices"}
        u = self.state.users.get(uid)
        if u is None:
            return None
        return {"ID": uid, "LoginName": u["name"], "DisplayName": u["display"]}

    def netmap(self, node_id, online, capver):
        """The complete picture for one node, as a dict of parts that
        diff() compares and full() serialises."""
        st = self.state
        self_n = st.nodes[node_id]
        rules = self.rules()
        prim = primary_routes(st, online)
        peers = {}
        allow_all = st.policy is None
        for n in st.nodes.values():
            if n["id"] == node_id:
                continue
            if not allow_all and not (pol.can_access(rules, self_n, n, st) or
                    pol.can_access(rules, n, self_n, st)):
                continue
            peers[n["id"]] = self.node_json(n, prim, online, capver)
        uids = {self_n["user"] if not self_n["tags"]
                else TAGGED_DEVICES_USER_ID}
        uids |= {p["User"] for p in peers.values()}
        profiles = [p for p in (self.user_profile(u) for u in sorted(uids))
                    if p]
        return {"node": self.node_json(self_n, prim, online, capver),
                "peers": peers,
                "filter": pol.reduce_for_node(rules, self_n, st),
                "dns": self.dns_config(),
                "derp": self.cfg.derpmap,
                "profiles": profiles,
                "domain": self.cfg.base_domain}

    def _common(self):
        return {"ControlTime": rfc3339(round(time.time(), 3))}

    def full(self, nm):
        r = self._common()
        r.update({
            "Node": nm["node"],
            "DERPMap": nm["derp"],
            "Domain": nm["domain"],
            "CollectServices": False,
            "Debug": {"DisableLogTail": True},
            "DNSConfig": nm["dns"],
            "UserProfiles": nm["profiles"],
            "PacketFilter": nm["filter"],
            "PacketFilters": {"base": nm["filter"]},
            "Peers": [nm["peers"][k] for k in sorted(nm["peers"])],
        })
        return omitempty(r)

    def diff(self, old, new):
        """The delta MapResponse taking a client from old to new, or None
        when nothing it can see changed."""
        r = {}
        if new["node"] != old["node"]:
            r["Node"] = new["node"]
        if new["derp"] != old["derp"]:
            r["DERPMap"] = new["derp"]
        if new["dns"] != old["dns"]:
            r["DNSConfig"] = new["dns"]
        if new["filter"] != old["filter"]:
            r["PacketFilter"] = new["filter"]
            r["PacketFilters"] = {"base": new["filter"]}
        if new["domain"] != old["domain"]:
            r["Domain"] = new["domain"]
        oldp = {p["ID"]: p for p in old["profiles"]}
        ch_prof = [p for p in new["profiles"] if oldp.get(p["ID"]) != p]
        if ch_prof:
            r["UserProfiles"] = ch_prof
        removed = sorted(set(old["peers"]) - set(new["peers"]))
        if removed:
            r["PeersRemoved"] = removed
        changed, patches, online, seen = [], [], {}, {}
        for nid in sorted(new["peers"]):
            np_ = new["peers"][nid]
            op = old["peers"].get(nid)
            if op is None:
                changed.append(np_)
                continue
            if op == np_:
                continue
            kind = _classify(op, np_)
            if kind == "full":
                changed.append(np_)
                continue
            patch = dict(kind["patch"])
            if kind.get("online") is not None:
                if self.cfg.online_style == "change":
                    online[str(nid)] = kind["online"]
                    seen[str(nid)] = not kind["online"]
                else:       # Headscale: change.NodeOnline/NodeOffline
                    patch["Online"] = kind["online"]
            if patch:
                patches.append(dict(patch, NodeID=nid))
        if changed:
            r["PeersChanged"] = changed
        if patches:
            r["PeersChangedPatch"] = patches
        if online:
            r["OnlineChange"] = online
            r["PeerSeenChange"] = seen
        if not r:
            return None
        r.update(self._common())
        return omitempty(r)


def omitempty(resp):
    """MapResponse fields are all omitempty in tailcfg: an empty Peers or
    PacketFilter is not sent (the empty filter still reaches the client as
    PacketFilters {"base": []}, as with Headscale).  CollectServices is an
    opt.Bool, whose false is a set value."""
    keep = ("CollectServices", "Node", "DERPMap", "DNSConfig", "Debug",
            "ControlTime")        # opt.Bool and pointers: sent when set
    return {k: v for k, v in resp.items()
            if (k in keep and v is not None) or
            v not in ([], {}, "", None, False)}


_PATCHABLE = {"Endpoints": "Endpoints", "HomeDERP": "DERPRegion",
              "DiscoKey": "DiscoKey", "Key": "Key", "KeyExpiry": "KeyExpiry",
              "Cap": "Cap"}


def _classify(old, new):
    """Peer changes that fit PeerChange/OnlineChange, or "full"."""
    keys = set(old) | set(new)
    patch, online = {}, None
    for k in keys:
        a, b = old.get(k), new.get(k)
        if a == b:
            continue
        if k in ("Online", "LastSeen"):
            online = bool(new.get("Online"))
            continue
        if k in _PATCHABLE and b not in (None, [], 0, ""):
            patch[_PATCHABLE[k]] = b
            continue
        return "full"
    return {"patch": patch, "online": online}


