"""Admin API: HTTP/1.1 + JSON on a Unix socket (default STATE/admin.sock).
Every operation is POST /api/<op> with a JSON object body (GET works for
the read-only ones); errors come back as 400 {"error": "..."}."""

import json

from . import http1
from . import policy as pol
from .common import HANDSHAKE_FAULTS, MAP_FAULTS, REGISTER_FAULTS
from .state import rfc3339


def _node(srv, ref):
    n = srv.state.node_by_name(ref)
    if n is None:
        raise KeyError(f"no node {ref!r}")
    return n


def _node_summary(srv, n):
    st = srv.state
    u = st.users.get(n["user"], {})
    return {"id": n["id"], "name": n["given_name"], "user": u.get("name"),
            "ips": n["ips"], "node_key": n["node_key"],
            "machine": n["machine"], "disco_key": n["disco_key"],
            "endpoints": n["endpoints"],
            "endpoint_types": n.get("endpoint_types", []), "tags": n["tags"],
            "online": n["id"] in srv.online, "ephemeral": n["ephemeral"],
            "expired": st.expired(n),
            "expiry": rfc3339(n["expiry"]) if n["expiry"] else None,
            "advertised_routes": st.advertised_routes(n),
            "approved_routes": n["approved_routes"],
            "hostinfo": n["hostinfo"]}


def op_nodes(srv, a):
    return {"nodes": [_node_summary(srv, n) for n in
                      sorted(srv.state.nodes.values(), key=lambda n: n["id"])]}


def op_preauth_key(srv, a):
    key = srv.state.new_preauth_key(
        a.get("user", "default"), reusable=bool(a.get("reusable")),
        ephemeral=bool(a.get("ephemeral")), tags=a.get("tags") or [],
        expiration=float(a.get("expiration", 3600)))
    return {"key": key}


def op_delete_node(srv, a):
    n = _node(srv, a["node"])
    srv.delete_node(n)
    return {"deleted": n["id"]}


def op_expire_node(srv, a):
    from .state import now
    n = _node(srv, a["node"])
    n["expiry"] = now()
    srv.state.save()
    srv.changed()
    return {"expired": n["id"]}


def op_set_home_derp(srv, a):
    """The HomeDERP the netmap gives node (0: the node's own
    PreferredDERP again): a control server steering a node's home region,
    so that tests can give two nodes different ones."""
    n = _node(srv, a["node"])
    region = int(a.get("region") or 0)
    if not 0 <= region <= 65535:
        raise ValueError("region must be 0..65535")
    n["home_derp"] = region
    srv.state.save()
    srv.changed()
    return {"node": n["id"], "home_derp": region}


def op_approve_routes(srv, a):
    n = _node(srv, a["node"])
    routes = a.get("routes")
    if not isinstance(routes, list):
        raise ValueError("routes must be a list")
    n["approved_routes"] = [str(r) for r in routes]
    srv.state.save()
    srv.changed()
    return {"approved_routes": n["approved_routes"]}


def op_pending(srv, a):
    return {"pending": [{"id": p["id"], "node_key": p["node_key"],
                         "machine": p["machine"],
                         "hostname": (p["hostinfo"] or {}).get("Hostname")}
                        for p in srv.pending.values()
                        if not p["future"].done()]}


def op_approve_auth(srv, a):
    n = srv.approve_auth(a["auth_id"], a.get("user", "default"))
    return _node_summary(srv, n)


def op_set_policy(srv, a):
    p = a.get("policy")
    if p is not None:
        pol.Policy(p)           # raises PolicyError when malformed
    srv.state.policy = p
    for n in srv.state.nodes.values():
        srv.apply_auto_approve(n)
    srv.state.save()
    srv.changed()
    return {"policy": p}


def op_filter(srv, a):
    n = _node(srv, a["node"])
    nm = srv.mapper.netmap(n["id"], srv.online, srv.cfg.min_capver)
    return {"filter": nm["filter"], "peers": sorted(nm["peers"])}


def op_fault(srv, a):
    kind = a.get("kind")
    kinds = MAP_FAULTS + HANDSHAKE_FAULTS + REGISTER_FAULTS
    if kind not in kinds:
        raise ValueError(f"unknown fault {kind!r}; one of "
                         f"{', '.join(kinds)}")
    f = {"kind": kind, "node": a.get("node"), "count": int(a.get("count", 1))}
    srv.faults.append(f)
    if kind in MAP_FAULTS:
        for s in list(srv.sessions):    # fires on each session's next message
            s.wake.set()
    return {"faults": srv.faults}


def op_clear_faults(srv, a):
    srv.faults.clear()
    return {"faults": []}


def op_set_dns(srv, a):
    srv.cfg.dns = a.get("dns") or {}
    if a.get("base_domain"):
        srv.cfg.base_domain = a["base_domain"]
    srv.changed()
    return {"dns": srv.cfg.dns}


def op_set_derpmap(srv, a):
    if not isinstance(a.get("derpmap"), dict):
        raise ValueError("derpmap must be an object")
    srv.cfg.derpmap = a["derpmap"]
    srv.changed()
    return {"derpmap": srv.cfg.derpmap}


def op_set_keepalive(srv, a):
    srv.cfg.keepalive = float(a["seconds"])
    return {"keepalive": srv.cfg.keepalive}


def op_fake_nodes(srv, a):
    """Adds nodes that exist only on the server (random keys, documentation
    endpoints, home DERP 999): big netmaps for benchmarks."""
    import os
    st = srv.state
    count = int(a.get("count", 1))
    if not 0 < count <= 100000:
        raise ValueError("count must be 1..100000")
    u = st.user(a.get("user", "fake"))
    used = st._used_ips()
    st._cursor = {}
    prefix = a.get("prefix", "fake")
    if any(n["given_name"].startswith(prefix + "-")
           for n in st.nodes.values()):
        raise ValueError(f"fake nodes named {prefix}-* exist already; "
                         "pick another prefix")
    ids = []
    for i in range(count):
        hi = {"Hostname": f"{prefix}-{st.next_node_id}", "OS": "linux",
              "NetInfo": {"PreferredDERP": 999}}
        n = st.new_node(u["id"], "mkey:" + os.urandom(32).hex(),
                        "nodekey:" + os.urandom(32).hex(), hi, save=False,
                        used=used, given_name=hi["Hostname"])
        n["disco_key"] = "discokey:" + os.urandom(32).hex()
        n["endpoints"] = [f"203.0.113.{1 + i % 254}:{1024 + i % 60000}"]
        ids.append(n["id"])
    st.save()
    srv.changed()
    return {"ids": ids}


def op_set_online_style(srv, a):
    if a.get("style") not in ("patch", "change"):
        raise ValueError("style must be patch or change")
    srv.cfg.online_style = a["style"]
    return {"online_style": srv.cfg.online_style}


def op_info(srv, a):
    return {"url": srv.url, "public_key": "mkey:" + srv.noise_pub.hex(),
            "counters": srv.counters, "online": sorted(srv.online),
            "upgrade_times": srv.upgrade_times,
            "connections": len(srv.conns), "sessions": len(srv.sessions)}


OPS = {"nodes": op_nodes, "preauth-key": op_preauth_key,
       "delete-node": op_delete_node, "expire-node": op_expire_node,
       "approve-routes": op_approve_routes, "pending": op_pending,
       "approve-auth": op_approve_auth, "set-policy": op_set_policy,
       "filter": op_filter, "fault": op_fault, "fake-nodes": op_fake_nodes,
       "clear-faults": op_clear_faults, "set-dns": op_set_dns,
       "set-derpmap": op_set_derpmap, "set-keepalive": op_set_keepalive,
       "set-online-style": op_set_online_style, "info": op_info,
       "set-home-derp": op_set_home_derp}


async def handle_admin(srv, req):
    op = req.path[len("/api/"):] if req.path.startswith("/api/") else None
    if op not in OPS:
        return http1.json_response(404, {"error": f"unknown op {op!r}"})
    try:
        args = json.loads(req.body) if req.body else {}
        if not isinstance(args, dict):
            raise ValueError("body must be a JSON object")
        return http1.json_response(200, OPS[op](srv, args))
    except (ValueError, KeyError, TypeError, pol.PolicyError) as e:
        return http1.json_response(400, {"error": str(e)})
    except Exception as e:      # a bug here must not take the socket down
        srv.count("admin_internal_error", repr(e))
        return http1.json_response(500, {"error": repr(e)})
