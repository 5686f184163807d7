"""A test DERP relay with STUN, written from Tailscale's sources, independent
of privmesh's C client.  See README.md."""
from .service import TestDerp  # noqa: F401
from .server import CONN_FAULTS  # noqa: F401
from .stun import FAULTS as STUN_FAULTS  # noqa: F401
