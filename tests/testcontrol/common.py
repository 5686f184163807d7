"""Shared bits of the test control server."""

import logging

log = logging.getLogger("testcontrol")

MAX_NOISE_BODY = 1 << 20        # Headscale's noiseBodyLimit
MAP_FAULTS = ("bad_noise", "bad_zstd", "not_zstd", "bad_json",
              "oversized_frame", "oversized_noise", "drop")
HANDSHAKE_FAULTS = ("bad_handshake", "handshake_error")
REGISTER_FAULTS = ("bad_register_json",)


def ci_get(d, name, default=None):
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
