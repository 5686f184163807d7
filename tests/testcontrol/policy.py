"""A subset of Tailscale's ACL policy (plain JSON, no HuJSON) compiled into
tailcfg.FilterRule lists the way Headscale's policy v2 does:

- src "*" is the CGNAT range minus the ChromeOS VM range plus the Tailscale
  ULA (asterixResolved) and every approved subnet route;
- dst "*" stays the literal "*"; other destinations become one NetPortRange
  per prefix and port range, single hosts written without a length;
- a node gets only the rules whose destinations hit its addresses or its
  approved subnet routes (policyutil.ReduceFilterRules);
- no policy at all means allow-all (tailcfg.FilterAllowAll).

Supported: groups, tagOwners, hosts, acls (action accept, src, dst
"alias:ports", proto), autoApprovers.routes and autoApprovers.exitNode.
Aliases: "*", "user@" (or "user"), "group:x", "tag:x", "autogroup:member",
"autogroup:tagged", host names, IPs and CIDRs.
"""

import ipaddress

from .state import EXIT_ROUTES

CGNAT = ipaddress.ip_network("100.64.0.0/10")
CHROMEOS = ipaddress.ip_network("100.115.92.0/23")
ULA = ipaddress.ip_network("fd7a:115c:a1e0::/48")

FILTER_ALLOW_ALL = [{"SrcIPs": ["*"],
                     "DstPorts": [{"IP": "*",
                                   "Ports": {"First": 0, "Last": 65535}}]}]

PROTOS = {"icmp": 1, "igmp": 2, "ipv4": 4, "ip-in-ip": 4, "tcp": 6,
          "egp": 8, "igp": 9, "udp": 17, "gre": 47, "esp": 50, "ah": 51,
          "ipv6-icmp": 58, "sctp": 132}


class PolicyError(ValueError):
    pass


def asterix():
    return list(CGNAT.address_exclude(CHROMEOS)) + [ULA]


def fmt_prefixes(nets):
    out = []
    for fam in (4, 6):
        col = ipaddress.collapse_addresses(
            sorted(n for n in nets if n.version == fam))
        for n in col:
            if n.prefixlen == n.max_prefixlen:
                out.append(str(n.network_address))
            else:
                out.append(str(n))
    return out


def parse_ports(s):
    if s == "*":
        return [(0, 65535)]
    out = []
    for part in s.split(","):
        a, _, b = part.partition("-")
        try:
            lo = int(a)
            hi = int(b) if b else lo
        except ValueError:
            raise PolicyError(f"bad port range {part!r}") from None
        if not (0 <= lo <= hi <= 65535):
            raise PolicyError(f"bad port range {part!r}")
        out.append((lo, hi))
    return out


def split_dst(d):
    if not isinstance(d, str):
        raise PolicyError(f"destination {d!r} must be a string")
    alias, sep, ports = d.rpartition(":")
    if not sep or not alias:
        raise PolicyError(f"destination {d!r} lacks :ports")
    return alias, parse_ports(ports)


def node_subnet_routes(state, n):
    adv = set(state.advertised_routes(n))
    return [r for r in n["approved_routes"]
            if r in adv and r not in EXIT_ROUTES]


def node_exit_routes(state, n):
    adv = set(state.advertised_routes(n))
    return [r for r in n["approved_routes"] if r in adv and r in EXIT_ROUTES]


class Policy:
    def __init__(self, doc):
        if not isinstance(doc, dict):
            raise PolicyError("policy must be a JSON object")
        self.doc = doc
        for key, typ in (("groups", dict), ("tagOwners", dict),
                         ("hosts", dict), ("acls", list),
                         ("autoApprovers", dict)):
            if doc.get(key) is not None and not isinstance(doc[key], typ):
                raise PolicyError(f"{key} must be a JSON "
                                  f"{'object' if typ is dict else 'array'}")
        self.groups = doc.get("groups") or {}
        self.tag_owners = doc.get("tagOwners") or {}
        self.hosts = doc.get("hosts") or {}
        self.acls = doc.get("acls")
        self.auto = doc.get("autoApprovers") or {}
        for name in self.groups:
            if not name.startswith("group:"):
                raise PolicyError(f"group {name!r} must start with group:")
        for t in self.tag_owners:
            if not t.startswith("tag:"):
                raise PolicyError(f"tag {t!r} must start with tag:")
        for a in self.acls or []:
            if not isinstance(a, dict):
                raise PolicyError("each acl must be an object")
            if a.get("action") != "accept":
                raise PolicyError(f"invalid action {a.get('action')!r}")
            if not isinstance(a.get("src"), list) or \
                    not isinstance(a.get("dst"), list):
                raise PolicyError("acl needs src and dst lists")
            for src in a["src"]:
                self._check_alias(src)
            for d in a["dst"]:
                self._check_alias(split_dst(d)[0])
            self.proto(a)
        for who in list((self.auto.get("routes") or {}).values()) + \
                [self.auto.get("exitNode") or []]:
            for al in who:
                self._check_alias(al)

    def _check_alias(self, alias):
        if not isinstance(alias, str) or not alias:
            raise PolicyError(f"bad alias {alias!r}")
        if alias.startswith("group:"):
            self._users_of(alias, None)
        elif alias.startswith("autogroup:") and alias not in (
                "autogroup:member", "autogroup:tagged"):
            raise PolicyError(f"unsupported alias {alias!r}")

    @staticmethod
    def proto(acl):
        p = acl.get("proto", "")
        if p in ("", "*"):
            return None
        if isinstance(p, int) or str(p).isdigit():
            v = int(p)
            if not 0 <= v <= 255:
                raise PolicyError(f"bad proto {p!r}")
            return [v]
        if p not in PROTOS:
            raise PolicyError(f"unknown proto {p!r}")
        return [PROTOS[p]]

    # -- alias resolution -------------------------------------------------

    def _users_of(self, alias, state, depth=0):
        if alias.startswith("group:"):
            if depth > 4 or alias not in self.groups:
                raise PolicyError(f"unknown group {alias!r}")
            out = set()
            members = self.groups[alias]
            if not isinstance(members, list) or not all(
                    isinstance(m, str) for m in members):
                raise PolicyError(f"{alias} must list user names")
            for m in members:
                out |= self._users_of(m, state, depth + 1)
            return out
        return {alias.rstrip("@")}

    def nodes_of(self, alias, state):
        """Nodes an alias names (None when the alias is not node-based)."""
        user_names = {u["id"]: u["name"] for u in state.users.values()}
        nodes = list(state.nodes.values())
        if alias == "*":
            return nodes
        if alias == "autogroup:member":
            return [n for n in nodes if not n["tags"]]
        if alias == "autogroup:tagged":
            return [n for n in nodes if n["tags"]]
        if alias.startswith("tag:"):
            return [n for n in nodes if alias in n["tags"]]
        if alias.startswith("group:") or alias.endswith("@"):
            names = self._users_of(alias, state)
            return [n for n in nodes if not n["tags"]
                    and user_names.get(n["user"]) in names]
        if alias in self.hosts or _is_prefix(alias):
            return None
        if alias.startswith("autogroup:"):
            raise PolicyError(f"unsupported alias {alias!r}")
        # A bare user name.
        return [n for n in nodes if not n["tags"]
                and user_names.get(n["user"]) == alias]

    def resolve(self, alias, state):
        if alias == "*":
            return asterix()
        if alias in self.hosts:
            return [ipaddress.ip_network(self.hosts[alias], strict=False)]
        if _is_prefix(alias):
            return [ipaddress.ip_network(alias, strict=False)]
        out = []
        for n in self.nodes_of(alias, state):
            out += [ipaddress.ip_network(ip) for ip in n["ips"]]
        return out

    # -- compilation ------------------------------------------------------

    def compile(self, state):
        if self.acls is None:
            return [dict(r) for r in FILTER_ALLOW_ALL]
        subnet = set()
        for n in state.nodes.values():
            subnet.update(node_subnet_routes(state, n))
        rules = []
        for a in self.acls:
            src = []
            wildcard = False
            for s in a["src"]:
                if s == "*":
                    wildcard = True
                src += self.resolve(s, state)
            srcs = fmt_prefixes(src)
            if wildcard:
                srcs += [r for r in sorted(subnet) if r not in srcs]
            dsts = []
            for d in a["dst"]:
                alias, ports = split_dst(d)
                if alias == "*":
                    dsts += [{"IP": "*", "Ports": {"First": lo, "Last": hi}}
                             for lo, hi in ports]
                    continue
                for p in fmt_prefixes(self.resolve(alias, state)):
                    dsts += [{"IP": p, "Ports": {"First": lo, "Last": hi}}
                             for lo, hi in ports]
            if not srcs or not dsts:
                continue
            rule = {"SrcIPs": srcs, "DstPorts": dsts}
            proto = self.proto(a)
            if proto:
                rule["IPProto"] = proto
            rules.append(rule)
        return merge_rules(rules)

    # -- auto approval ----------------------------------------------------

    def _node_matches(self, n, aliases, state):
        for al in aliases or []:
            ns = self.nodes_of(al, state)
            if ns and any(x["id"] == n["id"] for x in ns):
                return True
        return False

    def auto_approved(self, n, state):
        out = []
        routes = self.auto.get("routes") or {}
        for r in state.advertised_routes(n):
            if r in EXIT_ROUTES:
                if self._node_matches(n, self.auto.get("exitNode"), state):
                    out.append(r)
                continue
            net = ipaddress.ip_network(r)
            for pfx, who in routes.items():
                try:
                    p = ipaddress.ip_network(pfx, strict=False)
                except ValueError:
                    continue
                if p.version == net.version and net.subnet_of(p) and \
                        self._node_matches(n, who, state):
                    out.append(r)
                    break
        return out

    def may_own_tag(self, tag, user_name):
        owners = self.tag_owners.get(tag)
        if owners is None:
            return False
        for o in owners:
            if o.startswith("group:"):
                if user_name in self._users_of(o, None):
                    return True
            elif o.rstrip("@") == user_name:
                return True
        return False


def merge_rules(rules):
    """Headscale's mergeFilterRules: rules with the same sources and
    protocols become one, their destinations concatenated in order."""
    out, idx = [], {}
    for r in rules:
        key = (tuple(r["SrcIPs"]), tuple(r.get("IPProto") or ()))
        if key in idx:
            out[idx[key]]["DstPorts"] += r["DstPorts"]
        else:
            idx[key] = len(out)
            out.append(dict(r, DstPorts=list(r["DstPorts"])))
    return out


def _is_prefix(s):
    try:
        ipaddress.ip_network(s, strict=False)
        return True
    except ValueError:
        return False


def _parse_ipset(s):
    if s == "*":
        return [ipaddress.ip_network("0.0.0.0/0"),
                ipaddress.ip_network("::/0")]
    if "-" in s:
        a, b = s.split("-", 1)
        return list(ipaddress.summarize_address_range(
            ipaddress.ip_address(a), ipaddress.ip_address(b)))
    return [ipaddress.ip_network(s, strict=False)]


def _overlaps(a_list, b_list):
    return any(a.version == b.version and a.overlaps(b)
               for a in a_list for b in b_list)


def reduce_for_node(rules, n, state):
    """policyutil.ReduceFilterRules: keep destinations that hit the node's
    addresses, its approved subnet routes, or (exit nodes) the internet."""
    ips = [ipaddress.ip_network(ip) for ip in n["ips"]]
    subnets = [ipaddress.ip_network(r) for r in node_subnet_routes(state, n)]
    is_exit = bool(node_exit_routes(state, n))
    out = []
    for r in rules:
        dests = []
        for d in r.get("DstPorts", []):
            try:
                nets = _parse_ipset(d["IP"])
            except ValueError:
                continue
            if any(ip.subnet_of(x) for ip in ips for x in nets
                   if ip.version == x.version):
                dests.append(d)
            elif _overlaps(nets, subnets):
                dests.append(d)
            elif is_exit and d["IP"] != "*" and not _overlaps(
                    nets, [CGNAT, ULA]):
                dests.append(d)
        if dests:
            rr = dict(r)
            rr["DstPorts"] = dests
            out.append(rr)
    return out


def can_access(rules, a, b, state):
    """Whether a rule lets node a reach node b (addresses or routes)."""
    a_ips = [ipaddress.ip_network(ip) for ip in a["ips"]]
    b_nets = [ipaddress.ip_network(ip) for ip in b["ips"]] + \
        [ipaddress.ip_network(r) for r in node_subnet_routes(state, b)] + \
        [ipaddress.ip_network(r) for r in node_exit_routes(state, b)]
    for r in rules:
        try:
            srcs = [x for s in r["SrcIPs"] for x in _parse_ipset(s)]
        except ValueError:
            continue
        if not _overlaps(a_ips, srcs):
            continue
        for d in r.get("DstPorts", []):
            try:
                if _overlaps(_parse_ipset(d["IP"]), b_nets):
                    return True
            except ValueError:
                continue
    return False
