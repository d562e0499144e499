"""Key pairs, with fingerprints computed the way AWS computes them.

- created RSA:    SHA-1 of the DER PKCS#8 private key, colon-separated hex
- imported RSA:   MD5 of the DER SubjectPublicKeyInfo, colon-separated hex
- ED25519 (both): SHA-256 of the OpenSSH public key blob, base64
"""
from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import re
import sqlite3

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from cloud_controller.db.keypairs import KeyPairRepository
from mallee import errors, ids

_NAME = re.compile(r"^[\x20-\x7e]{1,255}$")


def _colon_hex(digest: bytes) -> str:
    return ":".join(f"{b:02x}" for b in digest)


def _openssh_public(key) -> str:
    return key.public_bytes(serialization.Encoding.OpenSSH,
                            serialization.PublicFormat.OpenSSH).decode()


def _ed25519_fingerprint(public_key) -> str:
    blob = base64.b64decode(_openssh_public(public_key).split()[1])
    return base64.b64encode(hashlib.sha256(blob).digest()).decode()


def generate(key_type: str) -> tuple[str, str, str]:
    """A new key pair: (private key PEM, OpenSSH public key, fingerprint)."""
    if key_type == "ed25519":
        key = ed25519.Ed25519PrivateKey.generate()
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                                serialization.NoEncryption()).decode()
        return pem, _openssh_public(key.public_key()), _ed25519_fingerprint(key.public_key())
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM,
                            serialization.PrivateFormat.TraditionalOpenSSL,
                            serialization.NoEncryption()).decode()
    pkcs8 = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption())
    return pem, _openssh_public(key.public_key()), _colon_hex(hashlib.sha1(pkcs8).digest())


def _load_public(material: bytes):
    text = material.strip()
    loaders = [
        lambda: serialization.load_ssh_public_key(text),
        lambda: serialization.load_pem_public_key(text),
        lambda: serialization.load_der_public_key(text),
        lambda: serialization.load_der_public_key(base64.b64decode(text, validate=True)),
        lambda: _load_rfc4716(text),
    ]
    for load in loaders:
        try:
            return load()
        except (ValueError, TypeError, binascii.Error, UnsupportedAlgorithm, IndexError,
                UnicodeDecodeError):
            continue
    return None


def _load_rfc4716(text: bytes):
    """SSH2 public key format ('---- BEGIN SSH2 PUBLIC KEY ----')."""
    lines = text.decode("ascii").splitlines()
    if not lines or "BEGIN SSH2 PUBLIC KEY" not in lines[0]:
        raise ValueError("not RFC 4716")
    body, continuing = [], False
    for line in lines[1:]:
        if "END SSH2 PUBLIC KEY" in line:
            break
        if continuing or ":" in line:
            continuing = line.endswith("\\")
            continue
        body.append(line.strip())
    blob = base64.b64decode("".join(body))
    key_type = blob[4:4 + int.from_bytes(blob[:4], "big")].decode()
    return serialization.load_ssh_public_key(f"{key_type} {base64.b64encode(blob).decode()}".encode())


def import_material(material: bytes) -> tuple[str, str, str]:
    """(key type, OpenSSH public key, fingerprint) of imported key material."""
    key = _load_public(material)
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < 1024 or key.key_size > 16384:
            raise errors.InvalidKeyPairFormat("RSA keys must be 1024 to 16384 bits long.")
        der = key.public_bytes(serialization.Encoding.DER,
                               serialization.PublicFormat.SubjectPublicKeyInfo)
        return "rsa", _openssh_public(key), _colon_hex(hashlib.md5(der).digest())
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "ed25519", _openssh_public(key), _ed25519_fingerprint(key)
    raise errors.InvalidKeyPairFormat(
        "Key is not in valid OpenSSH public key format (RSA or ED25519).")


class KeyPairService:
    def __init__(self, db, tags):
        self.db = db
        self.repo = KeyPairRepository(db)
        self.tags = tags  # TagService: a deleted key pair's tags go with it

    def _check_name(self, name: str) -> None:
        if not _NAME.fullmatch(name or ""):  # match() let "key\n" through
            raise errors.InvalidParameterValue(
                "Key pair names must be 1 to 255 printable ASCII characters.")

    async def _insert(self, account_id, name, key_type, fingerprint, public_key):
        key_id = ids.resource_id("key")
        try:
            async with self.db.unit():  # the UNIQUE (account, name) decides, in the unit
                created = await self.repo.insert(key_id, account_id, name, key_type,
                                                 fingerprint, public_key)
        except sqlite3.IntegrityError:
            raise errors.InvalidKeyPairDuplicate(f"The keypair '{name}' already exists.")
        return {"id": key_id, "name": name, "key_type": key_type, "fingerprint": fingerprint,
                "public_key": public_key, "created_at": created}

    async def create(self, account_id: str, name: str, key_type: str) -> tuple[dict, str]:
        self._check_name(name)
        if await self.repo.by_name(account_id, name):
            raise errors.InvalidKeyPairDuplicate(f"The keypair '{name}' already exists.")
        # RSA generation is ~0.1-1 s of CPU: off the event loop, or every request waits.
        pem, public, fingerprint = await asyncio.to_thread(generate, key_type)
        row = await self._insert(account_id, name, key_type, fingerprint, public)
        return row, pem

    async def import_(self, account_id: str, name: str, material: bytes) -> dict:
        self._check_name(name)
        key_type, public, fingerprint = import_material(material)
        return await self._insert(account_id, name, key_type, fingerprint, public)

    async def find(self, account_id: str, name: str | None = None, key_id: str | None = None):
        if key_id:
            row = await self.repo.by_id(account_id, key_id)
            if row is None:
                raise errors.InvalidKeyPairNotFound(f"The key pair ID '{key_id}' does not exist")
            return row
        row = await self.repo.by_name(account_id, name)
        if row is None:
            raise errors.InvalidKeyPairNotFound(f"The key pair '{name}' does not exist")
        return row

    async def list(self, account_id: str):
        return await self.repo.list(account_id)

    async def delete(self, account_id: str, row) -> None:
        async with self.db.unit():
            await self.repo.delete(account_id, row["id"])
            await self.tags.forget(row["id"])
