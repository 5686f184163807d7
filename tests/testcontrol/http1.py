"""Just enough HTTP/1.1 for /key, the /ts2021 upgrade and the admin API."""

import asyncio
import json
import urllib.parse

MAX_HEAD = 64 * 1024
MAX_BODY = 1 << 20

REASONS = {200: "OK", 101: "Switching Protocols", 400: "Bad Request",
           404: "Not Found", 405: "Method Not Allowed",
           413: "Request Entity Too Large",
           500: "Internal Server Error", 501: "Not Implemented"}


class BadRequest(Exception):
    pass


class Request:
    def __init__(self, method, target, headers, body=b""):
        self.method = method
        self.target = target
        u = urllib.parse.urlsplit(target)
        self.path = u.path
        self.query = urllib.parse.parse_qs(u.query)
        self.headers = headers      # lower-case name -> value
        self.body = body

    def header(self, name):
        return self.headers.get(name.lower(), "")


async def read_request(reader):
    """One request (head and Content-Length body), None at clean EOF."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.LimitOverrunError:
        raise BadRequest("request head too large") from None
    except asyncio.IncompleteReadError as e:
        if not e.partial:
            return None
        raise BadRequest("truncated request head") from None
    if len(head) > MAX_HEAD:
        raise BadRequest("request head too large")
    try:
        text = head.decode("latin-1")
        lines = text.split("\r\n")
        method, target, version = lines[0].split(" ")
    except ValueError:
        raise BadRequest("malformed request line") from None
    if not version.startswith("HTTP/1."):
        raise BadRequest("not HTTP/1.x")
    headers = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep:
            raise BadRequest("malformed header line")
        headers[name.strip().lower()] = value.strip()
    if "transfer-encoding" in headers:
        raise BadRequest("Transfer-Encoding not supported")
    n = headers.get("content-length", "0") or "0"
    try:
        n = int(n)
    except ValueError:
        raise BadRequest("bad Content-Length") from None
    if n < 0 or n > MAX_BODY:
        raise BadRequest("body too large")
    body = await reader.readexactly(n) if n else b""
    return Request(method, target, headers, body)


def response(status, body=b"", ctype="text/plain; charset=utf-8",
             extra=()):
    if isinstance(body, str):
        body = body.encode()
    lines = [f"HTTP/1.1 {status} {REASONS.get(status, 'Status')}"]
    if status != 101:
        lines += [f"Content-Type: {ctype}", f"Content-Length: {len(body)}"]
    lines += [f"{k}: {v}" for k, v in extra]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def text_error(status, msg):
    # Go's http.Error: text/plain body with a trailing newline.
    return response(status, msg + "\n", "text/plain; charset=utf-8",
                    [("X-Content-Type-Options", "nosniff")])


def json_response(status, obj):
    return response(status, json.dumps(obj, separators=(",", ":")) + "\n",
                    "application/json")
