#!/usr/bin/env python3
"""Independent WireGuard handshake reference for tests/unit/test_wg.c.

Written from the WireGuard paper (section 5.4) with Python's hashlib/hmac
and pyca/cryptography (Debian: python3-cryptography), sharing no code with
netd/wg.  For fixed static, ephemeral and preshared keys, indices and
timestamp it prints the initiation, the response and the first data message
each way; test_wg.c embeds the output (KAT_* constants) and checks that the
C code produces the same bytes.  Run it to regenerate them:

    python3 tests/unit/wg_ref.py
"""
import hashlib
import hmac
import struct

from cryptography.hazmat.primitives.asymmetric.x25519 import (
    X25519PrivateKey, X25519PublicKey)
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.serialization import (
    Encoding, PublicFormat)

CONSTRUCTION = b"Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s"
IDENTIFIER = b"WireGuard v1 zx2c4 Jason@zx2c4.com"


def HASH(*parts):
    return hashlib.blake2s(b"".join(parts)).digest()


def MAC(key, data):
    return hashlib.blake2s(data, digest_size=16, key=key).digest()


def HMAC(key, data):
    return hmac.new(key, data, hashlib.blake2s).digest()


def KDF(n, key, data):
    t0 = HMAC(key, data)
    out, prev = [], b""
    for i in range(1, n + 1):
        prev = HMAC(t0, prev + bytes([i]))
        out.append(prev)
    return out


def pub(priv):
    return X25519PrivateKey.from_private_bytes(priv).public_key().public_bytes(
        Encoding.Raw, PublicFormat.Raw)


def DH(priv, public):
    return X25519PrivateKey.from_private_bytes(priv).exchange(
        X25519PublicKey.from_public_bytes(public))


def AEAD(key, counter, plain, ad):
    nonce = b"\0" * 4 + struct.pack("<Q", counter)
    return ChaCha20Poly1305(key).encrypt(nonce, plain, ad)


def tai64n(sec, nsec):
    return struct.pack(">QI", 0x400000000000000A + sec, nsec & ~0xFFFFFF)


# Fixed inputs, also written into test_wg.c.
S_I = bytes.fromhex("c8" + "01" * 30 + "40")
S_R = bytes.fromhex("d0" + "02" * 30 + "41")
E_I = bytes.fromhex("e0" + "03" * 30 + "42")
E_R = bytes.fromhex("f0" + "04" * 30 + "43")
PSK = bytes(range(0x20, 0x40))
I_INDEX = 0x11223344
R_INDEX = 0x55667788
T_SEC, T_NSEC = 1700000000, 123456789
PAYLOAD = bytes.fromhex("4500001400000000401100000a0000010a000002")  # IPv4, 20 bytes


def transcript(psk):
    sp_i, sp_r, ep_i, ep_r = pub(S_I), pub(S_R), pub(E_I), pub(E_R)
    ck = HASH(CONSTRUCTION)
    h = HASH(HASH(ck, IDENTIFIER), sp_r)

    # initiation: e, es, s, ss, {t}
    ck = KDF(1, ck, ep_i)[0]
    h = HASH(h, ep_i)
    ck, k = KDF(2, ck, DH(E_I, sp_r))
    enc_static = AEAD(k, 0, sp_i, h)
    h = HASH(h, enc_static)
    ck, k = KDF(2, ck, DH(S_I, sp_r))
    enc_time = AEAD(k, 0, tai64n(T_SEC, T_NSEC), h)
    h = HASH(h, enc_time)
    init = struct.pack("<BxxxI", 1, I_INDEX) + ep_i + enc_static + enc_time
    init += MAC(HASH(b"mac1----", sp_r), init) + b"\0" * 16

    # response: e, ee, se, psk, {}
    ck = KDF(1, ck, ep_r)[0]
    h = HASH(h, ep_r)
    ck = KDF(1, ck, DH(E_R, ep_i))[0]
    ck = KDF(1, ck, DH(E_R, sp_i))[0]
    ck, tau, k = KDF(3, ck, psk)
    h = HASH(h, tau)
    enc_nothing = AEAD(k, 0, b"", h)
    resp = struct.pack("<BxxxII", 2, R_INDEX, I_INDEX) + ep_r + enc_nothing
    resp += MAC(HASH(b"mac1----", sp_i), resp) + b"\0" * 16

    # transport: initiator sends with the first key, responder with the second
    t_send_i, t_send_r = KDF(2, ck, b"")
    padded = PAYLOAD + b"\0" * (-len(PAYLOAD) % 16)
    data_i = struct.pack("<BxxxIQ", 4, R_INDEX, 0) + AEAD(t_send_i, 0, padded, b"")
    data_r = struct.pack("<BxxxIQ", 4, I_INDEX, 0) + AEAD(t_send_r, 0, b"", b"")
    assert len(init) == 148 and len(resp) == 92
    return init, resp, data_i, data_r


def main():
    print("/* initial chaining key and hash */")
    ck = HASH(CONSTRUCTION)
    print("ck0", ck.hex())
    print("h0 ", HASH(ck, IDENTIFIER).hex())
    print("timestamp", tai64n(T_SEC, T_NSEC).hex())
    for name, psk in (("nopsk", b"\0" * 32), ("psk", PSK)):
        init, resp, data_i, data_r = transcript(psk)
        print(f"{name} initiation", init.hex())
        print(f"{name} response  ", resp.hex())
        print(f"{name} data i->r ", data_i.hex())
        print(f"{name} data r->i ", data_r.hex())


if __name__ == "__main__":
    main()
