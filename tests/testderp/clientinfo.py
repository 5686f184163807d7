"""Decoding the client's ClientInfo JSON the way Go's encoding/json decodes
it into derp.ClientInfo: field names match case-insensitively, unknown
fields are ignored, a value of the wrong type fails the whole decode (and so
the connection), and a meshKey must be a 64-digit hex string.
"""
import json

FIELDS = {"meshkey": "meshKey", "version": "version",
          "canackpings": "CanAckPings", "isprober": "IsProber",
          "appname": "AppName"}
INT64_MAX = (1 << 63) - 1


def parse(msg):
    """dict with the five ClientInfo fields, or ValueError(reason)."""
    try:
        v = json.loads(msg.decode("utf-8", "replace"))
    except json.JSONDecodeError as e:
        raise ValueError(f"client info JSON: {e}") from None
    info = {"meshKey": None, "version": 0, "CanAckPings": False,
            "IsProber": False, "AppName": ""}
    if v is None:
        return info
    if not isinstance(v, dict):
        raise ValueError("client info JSON is not an object")
    for name, val in v.items():
        field = FIELDS.get(name.lower())
        if field is None or val is None:
            continue
        info[field] = _field(field, val)
    return info


def _field(field, val):
    if field == "meshKey":
        s = val if isinstance(val, str) else ""
        try:
            k = bytes.fromhex(s) if len(s) == 64 else None
        except ValueError:
            k = None
        if k is None:
            raise ValueError("invalid mesh key")
        return k
    if field == "version":
        if isinstance(val, bool) or not isinstance(val, int) or \
                abs(val) > INT64_MAX:
            raise ValueError(f"version {val!r} is not an int")
        return val
    if field in ("CanAckPings", "IsProber"):
        if not isinstance(val, bool):
            raise ValueError(f"{field} {val!r} is not a bool")
        return val
    if not isinstance(val, str):
        raise ValueError(f"AppName {val!r} is not a string")
    return val
