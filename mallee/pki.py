"""The cloud's own certificate authority, made once by `mallee init`.

pki/ca.pem + ca-key.pem        signs everything below
pki/<component>.pem + -key.pem mutual-TLS identity of each tier (CN = component)
pki/cloud-cert.pem + cloud-pk.pem  RSA cert that image bundles are encrypted to
pki/secrets.key                Fernet key for secrets at rest (access keys)
"""
from __future__ import annotations

import datetime as dt
import ipaddress
import os
from pathlib import Path

from cryptography import x509
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from mallee.files import write_atomic

COMPONENTS = ("clc", "cc", "nc", "walrus", "sc", "admin")
_TEN_YEARS = dt.timedelta(days=3650)


def _key_pem(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Mallee"),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _builder(subject: str, issuer: x509.Name, public_key) -> x509.CertificateBuilder:
    now = dt.datetime.now(dt.timezone.utc)
    return (x509.CertificateBuilder().subject_name(_name(subject)).issuer_name(issuer)
            .public_key(public_key).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + _TEN_YEARS))


def load_ca(pki_dir: Path):
    cert = x509.load_pem_x509_certificate((pki_dir / "ca.pem").read_bytes())
    key = serialization.load_pem_private_key((pki_dir / "ca-key.pem").read_bytes(), None)
    return cert, key


def _issue(pki_dir: Path, cn: str, key, hosts: tuple[str, ...] = ()) -> bytes:
    ca_cert, ca_key = load_ca(pki_dir)
    sans = [x509.DNSName("localhost")]
    for h in hosts:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(h)))
        except ValueError:
            sans.append(x509.DNSName(h))
    cert = (_builder(cn, ca_cert.subject, key.public_key())
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .sign(ca_key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM)


def init_pki(pki_dir: Path, hosts: tuple[str, ...] = ("127.0.0.1",)) -> bool:
    """Make the CA and every certificate that is missing; True if anything was made."""
    pki_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(pki_dir, 0o700)
    made = False
    if not (pki_dir / "ca.pem").exists():
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (_builder("Mallee Cloud CA", _name("Mallee Cloud CA"), key.public_key())
                .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                .sign(key, hashes.SHA256()))
        write_atomic(pki_dir / "ca-key.pem", _key_pem(key), mode=0o600)
        write_atomic(pki_dir / "ca.pem", cert.public_bytes(serialization.Encoding.PEM))
        made = True
    for component in COMPONENTS:
        if not (pki_dir / f"{component}.pem").exists():
            key = ec.generate_private_key(ec.SECP256R1())
            write_atomic(pki_dir / f"{component}-key.pem", _key_pem(key), mode=0o600)
            write_atomic(pki_dir / f"{component}.pem", _issue(pki_dir, component, key, hosts))
            made = True
    if not (pki_dir / "cloud-cert.pem").exists():
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        write_atomic(pki_dir / "cloud-pk.pem", _key_pem(key), mode=0o600)
        write_atomic(pki_dir / "cloud-cert.pem", _issue(pki_dir, "image-bundling", key))
        made = True
    if not (pki_dir / "secrets.key").exists():
        write_atomic(pki_dir / "secrets.key", Fernet.generate_key(), mode=0o600)
        made = True
    return made


def issue_user_cert(pki_dir: Path, account_id: str, user_name: str) -> tuple[bytes, bytes]:
    """An RSA certificate + key for a user's image bundling (EC2_CERT, EC2_PRIVATE_KEY)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return _issue(pki_dir, f"{account_id}:{user_name}", key), _key_pem(key)


class SecretBox:
    """Encrypts secrets stored at rest with the cloud's Fernet key."""

    def __init__(self, pki_dir: Path):
        self._fernet = Fernet((pki_dir / "secrets.key").read_bytes())

    def seal(self, secret: str) -> bytes:
        return self._fernet.encrypt(secret.encode())

    def open(self, token: bytes) -> str:
        return self._fernet.decrypt(token).decode()
