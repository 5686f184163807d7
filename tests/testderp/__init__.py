"""A test DERP relay with STUN, written from Tailscale's sources, independent
of privmesh's C client.  See README.md."""
from .service import TestDerp
from .faults import CONN_FAULTS
from .stun import FAULTS as STUN_FAULTS

__all__ = ["TestDerp", "CONN_FAULTS", "STUN_FAULTS"]
