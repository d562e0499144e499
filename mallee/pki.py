"""The cloud's own certificate authorities, made once by `mallee init`.

pki/ca.pem + ca-key.pem        the components' CA: signs the two below
pki/<component>.pem + -key.pem mutual-TLS identity of each tier: CN and a SAN
                               name (role_host) give its role, the extended key
                               usage says client, or server and client
pki/cloud-cert.pem + cloud-pk.pem  RSA cert that image bundles are encrypted to
pki/users-ca.pem + -key.pem    signs tenants' bundling certificates, which the
                               RPC layer never trusts: tenants hold their keys
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
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from mallee.files import write_atomic

# admin: the CLI's certificate; monitor: Prometheus's, which no RPC method accepts, so
# it reads the tiers' /metrics and nothing else (docs/metrics.md). Both serve nothing.
COMPONENTS = ("clc", "cc", "nc", "walrus", "sc", "admin", "monitor")
CLIENT_ONLY = frozenset({"admin", "monitor"})
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


def load_ca(pki_dir: Path, name: str = "ca"):
    cert = x509.load_pem_x509_certificate((pki_dir / f"{name}.pem").read_bytes())
    key = serialization.load_pem_private_key((pki_dir / f"{name}-key.pem").read_bytes(), None)
    return cert, key


def role_host(role: str) -> str:
    """The SAN name a component's certificate carries and a client checks it against."""
    return f"{role}.rpc.mallee.internal"


def _usages(component: str) -> list[x509.ObjectIdentifier]:
    usages = [ExtendedKeyUsageOID.CLIENT_AUTH]
    if component not in CLIENT_ONLY:
        usages.append(ExtendedKeyUsageOID.SERVER_AUTH)
    return usages


def component_role(cert: x509.Certificate) -> str | None:
    """The role a component certificate proves: its CN, if the certificate also
    names that role and may authenticate a client; None for anything else (a
    tenant's certificate, or one made before roles were bound)."""
    cns = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    role = cns[0].value if cns else None
    if role not in COMPONENTS:
        return None
    try:
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return None
    if not set(_usages(role)) <= set(eku) or role_host(role) not in sans.get_values_for_type(
            x509.DNSName):
        return None
    return role


def _issue(pki_dir: Path, cn: str, key, hosts: tuple[str, ...] = (), ca: str = "ca",
           usages: list[x509.ObjectIdentifier] | None = None) -> bytes:
    ca_cert, ca_key = load_ca(pki_dir, ca)
    sans = [x509.DNSName("localhost")]
    for h in hosts:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(h)))
        except ValueError:
            sans.append(x509.DNSName(h))
    builder = (_builder(cn, ca_cert.subject, key.public_key())
               .add_extension(x509.SubjectAlternativeName(sans), critical=False)
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True))
    if usages:
        builder = builder.add_extension(x509.ExtendedKeyUsage(usages), critical=False)
    return builder.sign(ca_key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)


def _make_ca(pki_dir: Path, name: str, cn: str) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (_builder(cn, _name(cn), key.public_key())
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .sign(key, hashes.SHA256()))
    write_atomic(pki_dir / f"{name}-key.pem", _key_pem(key), mode=0o600)
    write_atomic(pki_dir / f"{name}.pem", cert.public_bytes(serialization.Encoding.PEM))


def _has_role(path: Path, component: str) -> bool:
    return path.exists() and component_role(
        x509.load_pem_x509_certificate(path.read_bytes())) == component


def init_pki(pki_dir: Path, hosts: tuple[str, ...] = ("127.0.0.1",)) -> bool:
    """Make the CAs and every certificate that is missing, or that predates
    role-bound component certificates; True if anything was made."""
    pki_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(pki_dir, 0o700)
    made = False
    for name, cn in (("ca", "Mallee Cloud CA"), ("users-ca", "Mallee Users CA")):
        if not (pki_dir / f"{name}.pem").exists():
            _make_ca(pki_dir, name, cn)
            made = True
    for component in COMPONENTS:
        if not _has_role(pki_dir / f"{component}.pem", component):
            key = ec.generate_private_key(ec.SECP256R1())
            write_atomic(pki_dir / f"{component}-key.pem", _key_pem(key), mode=0o600)
            write_atomic(pki_dir / f"{component}.pem", _issue(
                pki_dir, component, key, (role_host(component), *hosts),
                usages=_usages(component)))
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
    """An RSA certificate + key for a user's image bundling (EC2_CERT, EC2_PRIVATE_KEY),
    from the users' CA and for code signing only: never an RPC identity."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return _issue(pki_dir, f"{account_id}:{user_name}", key, ca="users-ca",
                  usages=[ExtendedKeyUsageOID.CODE_SIGNING]), _key_pem(key)


class SecretBox:
    """Encrypts secrets stored at rest with the cloud's Fernet key."""

    def __init__(self, pki_dir: Path):
        self._fernet = Fernet((pki_dir / "secrets.key").read_bytes())

    def seal(self, secret: str) -> bytes:
        return self._fernet.encrypt(secret.encode())

    def open(self, token: bytes) -> str:
        return self._fernet.decrypt(token).decode()
