"""Responder side of controlbase: Noise_IK_25519_ChaChaPoly_BLAKE2s plus the
record framing used after the handshake.

Facts from tailscale/tailscale control/controlbase/{handshake,conn,messages}:
initiation = 2-byte BE version, type 1, BE length 96, e(32) + enc(s)(48) +
tag(16) = 101 bytes; response = type 2, BE length 48, e(32) + tag(16) = 51
bytes; error = type 3, BE length, text. Records: type 4, BE length, AEAD
ciphertext; at most 4096 bytes per record including the 3-byte header.  The
transport nonce is 4 zero bytes then a BIG-endian counter (unlike WireGuard).
"""

import hashlib
import hmac
import struct

from cryptography.hazmat.primitives.asymmetric.x25519 import (
    X25519PrivateKey, X25519PublicKey)
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives import serialization

PROTOCOL_NAME = b"Noise_IK_25519_ChaChaPoly_BLAKE2s"
PROLOGUE_PREFIX = b"Tailscale Control Protocol v"

MSG_INITIATION = 1
MSG_RESPONSE = 2
MSG_ERROR = 3
MSG_RECORD = 4

HEADER_LEN = 3
INIT_LEN = 101
INIT_PAYLOAD_LEN = 96
RESP_LEN = 51
RESP_PAYLOAD_LEN = 48
MAX_MESSAGE = 4096
MAX_CIPHERTEXT = MAX_MESSAGE - HEADER_LEN
MAX_PLAINTEXT = MAX_CIPHERTEXT - 16
INVALID_NONCE = (1 << 64) - 1


class HandshakeError(Exception):
    """A refused initiation. `reply` is the text controlbase.Server would put
    in a type-3 frame (which controlhttp's corking then drops), else None."""

    def __init__(self, msg, reply=None):
        super().__init__(msg)
        self.reply = reply


def _hmac(key, data):
    return hmac.new(key, data, hashlib.blake2s).digest()


def _hkdf2(ck, ikm):
    prk = _hmac(ck, ikm)
    t1 = _hmac(prk, b"\x01")
    t2 = _hmac(prk, t1 + b"\x02")
    return t1, t2


def raw_public(priv):
    return priv.public_key().public_bytes(serialization.Encoding.Raw,
                                          serialization.PublicFormat.Raw)


def raw_private(priv):
    return priv.private_bytes(serialization.Encoding.Raw,
                              serialization.PrivateFormat.Raw,
                              serialization.NoEncryption())


def _dh(priv, pub_raw):
    try:
        return priv.exchange(X25519PublicKey.from_public_bytes(pub_raw))
    except ValueError as e:     # low-order point: all-zero shared secret
        raise HandshakeError(f"X25519: {e}") from None


class _Symmetric:
    def __init__(self):
        self.h = hashlib.blake2s(PROTOCOL_NAME).digest()
        self.ck = self.h

    def mix_hash(self, data):
        self.h = hashlib.blake2s(self.h + data).digest()

    def mix_dh(self, priv, pub_raw):
        self.ck, k = _hkdf2(self.ck, _dh(priv, pub_raw))
        return k

    def encrypt_and_hash(self, k, plaintext):
        ct = ChaCha20Poly1305(k).encrypt(b"\0" * 12, plaintext, self.h)
        self.mix_hash(ct)
        return ct

    def decrypt_and_hash(self, k, ciphertext):
        try:
            pt = ChaCha20Poly1305(k).decrypt(b"\0" * 12, ciphertext, self.h)
        except Exception:
            raise HandshakeError("handshake decryption failed") from None
        self.mix_hash(ciphertext)
        return pt

    def split(self):
        return _hkdf2(self.ck, b"")


def respond(server_priv, init, corrupt_tag=False):
    """Runs the responder half of IK over a complete initiation message.
    Returns (version, client machine public key, response message,
    Transport).  Raises HandshakeError the way controlbase.Server refuses."""
    if len(init) != INIT_LEN:
        raise HandshakeError("wrong handshake initiation size",
                             "wrong handshake initiation size")
    version, mtype, length = struct.unpack(">HBH", init[:5])
    if mtype != MSG_INITIATION:
        raise HandshakeError("unexpected handshake message type",
                             "unexpected handshake message type")
    if length != INIT_PAYLOAD_LEN:
        raise HandshakeError("wrong handshake initiation length",
                             "wrong handshake initiation length")
    s = _Symmetric()
    s.mix_hash(PROLOGUE_PREFIX + str(version).encode())
    s.mix_hash(raw_public(server_priv))
    client_e = init[5:37]
    s.mix_hash(client_e)
    k = s.mix_dh(server_priv, client_e)
    machine = s.decrypt_and_hash(k, init[37:85])
    k = s.mix_dh(server_priv, machine)
    s.decrypt_and_hash(k, init[85:101])

    eph = X25519PrivateKey.generate()
    eph_pub = raw_public(eph)
    s.mix_hash(eph_pub)
    s.mix_dh(eph, client_e)
    k = s.mix_dh(eph, machine)
    tag = s.encrypt_and_hash(k, b"")
    if corrupt_tag:
        tag = bytes([tag[0] ^ 0xFF]) + tag[1:]
    resp = struct.pack(">BH", MSG_RESPONSE, RESP_PAYLOAD_LEN) + eph_pub + tag
    c1, c2 = s.split()
    # Responder receives with c1 (the initiator's tx key), sends with c2.
    return version, machine, resp, Transport(rx_key=c1, tx_key=c2)


def error_frame(text):
    b = text.encode()[:0xFFFF]
    return struct.pack(">BH", MSG_ERROR, len(b)) + b


class RecordError(Exception):
    pass


class Transport:
    """controlbase.Conn's record layer over byte buffers (no I/O)."""

    def __init__(self, rx_key, tx_key):
        self._rx = ChaCha20Poly1305(rx_key)
        self._tx = ChaCha20Poly1305(tx_key)
        self.rx_nonce = 0
        self.tx_nonce = 0
        self._inbuf = bytearray()

    @staticmethod
    def _nonce(n):
        return b"\0\0\0\0" + struct.pack(">Q", n)

    def seal_record(self, plaintext):
        if len(plaintext) > MAX_PLAINTEXT:
            raise ValueError("record plaintext too large")
        if self.tx_nonce >= INVALID_NONCE:
            raise RecordError("cipher exhausted")
        ct = self._tx.encrypt(self._nonce(self.tx_nonce), plaintext, None)
        self.tx_nonce += 1
        return struct.pack(">BH", MSG_RECORD, len(ct)) + ct

    def seal(self, data):
        """All of data as one or more records."""
        out = bytearray()
        mv = memoryview(data)
        while len(mv) > 0:
            out += self.seal_record(bytes(mv[:MAX_PLAINTEXT]))
            mv = mv[MAX_PLAINTEXT:]
        return bytes(out)

    def feed(self, data):
        """Adds received bytes; returns the plaintext of every whole record.
        Raises RecordError on anything controlbase treats as fatal."""
        self._inbuf += data
        out = bytearray()
        while len(self._inbuf) >= HEADER_LEN:
            mtype = self._inbuf[0]
            length = struct.unpack(">H", self._inbuf[1:3])[0]
            if HEADER_LEN + length > MAX_MESSAGE:
                raise RecordError(f"frame of {HEADER_LEN + length} bytes "
                                  "exceeds max allowed Noise frame size")
            if mtype != MSG_RECORD:
                raise RecordError(f"received message with unexpected type "
                                  f"{mtype}, want {MSG_RECORD}")
            if len(self._inbuf) < HEADER_LEN + length:
                break
            ct = bytes(self._inbuf[HEADER_LEN:HEADER_LEN + length])
            del self._inbuf[:HEADER_LEN + length]
            if self.rx_nonce >= INVALID_NONCE:
                raise RecordError("cipher exhausted")
            try:
                out += self._rx.decrypt(self._nonce(self.rx_nonce), ct, None)
            except Exception:
                raise RecordError("record decryption failed") from None
            self.rx_nonce += 1
        return bytes(out)
