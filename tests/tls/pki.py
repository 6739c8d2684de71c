"""A throwaway PKI for the TLS tests: a CA, a server certificate for loopback, a client certificate, and a
second, unrelated CA (the "wrong CA" a misconfigured client would trust)."""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

Key = ec.EllipticCurvePrivateKey


@dataclass(frozen=True)
class Pki:
    ca: Path
    server_cert: Path
    server_key: Path
    #: Certificate chain then key, in one file (Kafka's PEM keystore).
    server_pem: Path
    client_cert: Path
    client_key: Path
    wrong_ca: Path


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _write_key(key: Key, path: Path) -> None:
    # PKCS#8, unencrypted: what Kafka's PEM keystore, Redis, uvicorn and OpenSSL all read.
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )


def _cert(
    subject: str, key: Key, issuer: x509.Name, signer: Key, *, ca: bool, usage: list[x509.ObjectIdentifier]
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        ).add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    else:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        ).add_extension(x509.ExtendedKeyUsage(usage), critical=False)
    return builder.sign(signer, hashes.SHA256())


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def make_pki(folder: Path) -> Pki:
    folder.mkdir(parents=True, exist_ok=True)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _cert("pulse-test-ca", ca_key, _name("pulse-test-ca"), ca_key, ca=True, usage=[])
    server_key = ec.generate_private_key(ec.SECP256R1())
    both = [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]  # Kafka's broker is also a client
    server = _cert("localhost", server_key, ca.subject, ca_key, ca=False, usage=both)
    client_key = ec.generate_private_key(ec.SECP256R1())
    client = _cert("pulse-client", client_key, ca.subject, ca_key, ca=False, usage=[ExtendedKeyUsageOID.CLIENT_AUTH])
    other_key = ec.generate_private_key(ec.SECP256R1())
    other = _cert("some-other-ca", other_key, _name("some-other-ca"), other_key, ca=True, usage=[])

    pki = Pki(
        ca=folder / "ca.crt",
        server_cert=folder / "server.crt",
        server_key=folder / "server.key",
        server_pem=folder / "server.pem",
        client_cert=folder / "client.crt",
        client_key=folder / "client.key",
        wrong_ca=folder / "wrong-ca.crt",
    )
    pki.ca.write_bytes(_pem(ca))
    pki.server_cert.write_bytes(_pem(server) + _pem(ca))
    _write_key(server_key, pki.server_key)
    pki.server_pem.write_bytes(pki.server_cert.read_bytes() + pki.server_key.read_bytes())
    pki.client_cert.write_bytes(_pem(client))
    _write_key(client_key, pki.client_key)
    pki.wrong_ca.write_bytes(_pem(other))
    for path in folder.glob("*.key"):
        path.chmod(0o600)
    return pki
