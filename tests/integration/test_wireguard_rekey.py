"""Rekeying with the real timers: after REKEY_AFTER_TIME (120 s) the
initiator's next data packet starts a new handshake and traffic goes on
under the new keypair, against wireguard-go.  This waits ~2 minutes: the
protocol constants are not shortened in any build."""
import time

from wgpeer import Pair

REKEY_AFTER_TIME = 120


def test_rekey_after_time():
    p = Pair()
    try:
        p.start()
        p.ping(p.a, "10.9.0.2")
        first = p.suite.status()["wireguard"]["peers"][0]["latest_handshake"]
        assert first > 0
        time.sleep(REKEY_AFTER_TIME + 3)
        p.ping(p.a, "10.9.0.2", count=5)
        deadline = time.time() + 15
        while time.time() < deadline:
            peer = p.suite.status()["wireguard"]["peers"][0]
            if peer["latest_handshake"] > first:
                break
            p.ping(p.a, "10.9.0.2", count=1)
        assert peer["latest_handshake"] >= first + REKEY_AFTER_TIME
        p.ping(p.b, "10.9.0.1")
    finally:
        p.cleanup()
