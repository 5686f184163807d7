"""Test control server for privmesh: an independent Python implementation of
the server side of Tailscale's ts2021 control protocol (see README.md)."""

from .harness import Admin, AdminError, TestControl

__all__ = ["Admin", "AdminError", "TestControl"]
