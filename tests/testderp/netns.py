"""Sockets created inside a named network namespace.

A socket belongs to the namespace it was created in, whatever thread uses it
later, so a short-lived thread that setns()es into /run/netns/NAME can open
the server's sockets there while the asyncio loop runs in this namespace.
"""
import ctypes
import os
import socket
import threading

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def ns_name(ns):
    """Accepts a pmtest.Netns (anything with .name), a name, or None."""
    if ns is None:
        return None
    return getattr(ns, "name", ns)


def run_in_ns(ns, fn):
    """Calls fn() in a thread that has joined namespace `ns`; returns its
    result or raises its exception.  ns None runs fn here."""
    name = ns_name(ns)
    if name is None:
        return fn()
    box = {}

    def body():
        try:
            fd = os.open(f"/run/netns/{name}", os.O_RDONLY | os.O_CLOEXEC)
            try:
                if _libc.setns(fd, CLONE_NEWNET) != 0:
                    e = ctypes.get_errno()
                    raise OSError(e, f"setns({name}): {os.strerror(e)}")
            finally:
                os.close(fd)
            box["v"] = fn()
        except BaseException as e:     # handed to the caller below
            box["e"] = e

    t = threading.Thread(target=body, name=f"setns-{name}")
    t.start()
    t.join()
    if "e" in box:
        raise box["e"]
    return box["v"]


def socket_in(ns, family, type_, proto=0):
    return run_in_ns(ns, lambda: socket.socket(family, type_, proto))
