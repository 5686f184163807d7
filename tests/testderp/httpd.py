"""The HTTP/1.1 front of the DERP server: what cmd/derper's mux and
derpserver.Handler answer before a connection becomes DERP.

- GET /derp with Upgrade: DERP (any case) -> 101 + DERP, or no response at
  all when the request carries Derp-Fast-Start: 1 (the client then reads the
  ServerKey frame straight away);
- /derp without an upgrade -> 426 "DERP requires connection upgrade";
- /derp/probe, /derp/latency-check -> 200 for HEAD/GET (405 otherwise);
- /generate_204 -> 204, echoing X-Tailscale-Challenge as derper does;
- GET /debug/testderp/counters -> JSON counters (test-only);
- POST /debug/testderp/fault?conn=NAME|stun=NAME[&count=N] -> queue faults
  for the next connections / STUN answers (test-only);
- anything else -> 404.
Plain requests keep the connection alive, as Go's net/http does.
"""
import asyncio
import json
import re

MAX_HEAD = 64 << 10


class BadRequest(Exception):
    pass


async def read_request(reader):
    """(method, path, {lower-name: value}) or None on a clean EOF."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.LimitOverrunError as e:
        raise BadRequest("request head too large") from e
    except asyncio.IncompleteReadError as e:
        partial = e.partial
        if not partial:
            return None
        raise BadRequest("truncated or oversized request head") from e
    if len(head) > MAX_HEAD:
        raise BadRequest("request head too large")
    lines = head[:-4].decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise BadRequest(f"bad request line {lines[0]!r}")
    headers = {}
    for ln in lines[1:]:
        name, sep, value = ln.partition(":")
        if not sep or not name or name != name.strip():
            raise BadRequest(f"bad header line {ln!r}")
        headers.setdefault(name.lower(), value.strip())
    if parts[2] == "HTTP/1.1" and "host" not in headers:
        # Go's net/http refuses these before any handler runs.
        raise BadRequest("missing required Host header")
    n = headers.get("content-length", "0")
    if not n.isdigit():
        raise BadRequest("bad Content-Length")
    if int(n):
        await reader.readexactly(int(n))
    path, _, query = parts[1].partition("?")
    headers[":query"] = query       # not a header name HTTP allows: no clash
    return parts[0], path, headers


def response(status, reason, body=b"", headers=()):
    out = [f"HTTP/1.1 {status} {reason}"]
    out += [f"{k}: {v}" for k, v in headers]
    if status != 204:       # RFC 9110: no Content-Length on a 204
        out.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(out) + "\r\n\r\n").encode() + body


def upgrade_101(server_pub_hex):
    # derpserver.Handler writes exactly these lines.
    return ("HTTP/1.1 101 Switching Protocols\r\n"
            "Upgrade: DERP\r\n"
            "Connection: Upgrade\r\n"
            "Derp-Version: 2\r\n"
            f"Derp-Public-Key: {server_pub_hex}\r\n\r\n").encode()


_CHALLENGE = re.compile(r"^[A-Za-z0-9.\-_:]{0,64}$")


def plain(method, path, headers, counters_json, inject):
    """The response for a request that does not become DERP, or None when
    the request is a DERP upgrade that the caller must handle."""
    if path in ("/derp/probe", "/derp/latency-check"):
        if method in ("HEAD", "GET"):
            return response(200, "OK", headers=[("Access-Control-Allow-Origin", "*")])
        return response(405, "Method Not Allowed", b"bogus probe method\n")
    if path == "/derp":
        up = headers.get("upgrade", "").lower()
        if up == "derp":
            return None
        if up == "websocket":
            return response(501, "Not Implemented",
                            b"testderp: DERP over WebSocket is not implemented\n")
        return response(426, "Upgrade Required",
                        b"DERP requires connection upgrade\n",
                        [("Content-Type", "text/plain; charset=utf-8")])
    if path == "/generate_204":
        hs = [("Cache-Control",
               "no-cache, no-store, must-revalidate, no-transform, max-age=0")]
        ch = headers.get("x-tailscale-challenge", "")
        if ch and _CHALLENGE.match(ch):
            hs.append(("X-Tailscale-Response", "response " + ch))
        return response(204, "No Content", headers=hs)
    if path == "/debug/testderp/counters" and method == "GET":
        body = json.dumps(counters_json(), sort_keys=True).encode()
        return response(200, "OK", body, [("Content-Type", "application/json")])
    if path == "/debug/testderp/fault" and method == "POST":
        q = dict(kv.partition("=")[::2] for kv in headers[":query"].split("&") if kv)
        try:
            inject(q.get("conn"), q.get("stun"), int(q.get("count", "1")))
        except ValueError as e:
            return response(400, "Bad Request", f"{e}\n".encode())
        return response(200, "OK", b"ok\n")
    return response(404, "Not Found", b"404 page not found\n")
