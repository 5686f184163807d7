"""TLS material: a self-signed leaf when none is given, and the DERP "meta
cert" that lets a client skip the HTTP 101 round trip.

The meta cert is what derpserver.initMetacert makes: a self-signed Ed25519
certificate whose Subject CN is "derpkey" + the server's public key in hex
and whose serial number is the DERP protocol version.  The real derper sends
it after its own chain; a client that finds it (TLS 1.3 only) may send
Derp-Fast-Start: 1.
"""
import datetime
import hashlib
import ipaddress
import os
import ssl
import tempfile

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import NameOID

from . import protocol

META_CN_PREFIX = "derpkey"      # derpconst.MetaCertCommonNamePrefix


def _now():
    return datetime.datetime.now(datetime.timezone.utc)


def meta_cert_der(server_pub):
    key = ed25519.Ed25519PrivateKey.generate()
    name = x509.Name([x509.NameAttribute(
        NameOID.COMMON_NAME, META_CN_PREFIX + server_pub.hex())])
    cert = (x509.CertificateBuilder()
            .subject_name(name).issuer_name(name)
            .public_key(key.public_key())
            .serial_number(protocol.PROTOCOL_VERSION)
            .not_valid_before(_now() - datetime.timedelta(days=30))
            .not_valid_after(_now() + datetime.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None),
                           critical=False)
            .sign(key, None))
    return cert.public_bytes(serialization.Encoding.DER)


def self_signed(hostname, ips):
    """(cert PEM, key PEM) for hostname and the given IP literals."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname)])
    sans = [x509.DNSName(hostname)]
    for ip in ips:
        sans.append(x509.IPAddress(ipaddress.ip_address(ip)))
    cert = (x509.CertificateBuilder()
            .subject_name(name).issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(_now() - datetime.timedelta(days=1))
            .not_valid_after(_now() + datetime.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .sign(key, hashes.SHA256()))
    return (cert.public_bytes(serialization.Encoding.PEM),
            key.private_bytes(serialization.Encoding.PEM,
                              serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption()))


def leaf_sha256(cert_pem):
    """Hex SHA-256 of the leaf's DER: what a DERPNode CertName of the form
    "sha256-raw:<hex>" pins."""
    leaf = x509.load_pem_x509_certificate(cert_pem)
    return hashlib.sha256(leaf.public_bytes(serialization.Encoding.DER)).hexdigest()


def server_context(cert_pem, key_pem, server_pub, metacert=True):
    """An SSLContext serving cert_pem's chain, plus the meta cert after it."""
    chain = cert_pem
    if metacert:
        der = meta_cert_der(server_pub)
        chain = cert_pem.rstrip(b"\n") + b"\n" + \
            ssl.DER_cert_to_PEM_cert(der).encode()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.set_alpn_protocols(["http/1.1"])
    with tempfile.TemporaryDirectory(prefix="testderp-tls-") as d:
        cf, kf = os.path.join(d, "chain.pem"), os.path.join(d, "key.pem")
        with open(cf, "wb") as f:
            f.write(chain)
        with open(kf, "wb") as f:
            f.write(key_pem)
        ctx.load_cert_chain(cf, kf)
    return ctx
