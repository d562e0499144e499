"""The bundle's cryptography, byte-compatible with the openssl commands euca2ools runs.

- The AES key and IV are 128-bit values written as 32 lowercase hex characters;
  those *ASCII strings* (not the raw bytes) are what gets RSA-encrypted, as
  `openssl rsautl -encrypt -pkcs` does in euca2ools.
- Bulk data is `openssl enc -aes-128-cbc -K <hex> -iv <hex>`: CBC with PKCS#7
  padding and the raw key, no salt header.
- The signature is `openssl pkeyutl -sign -pkeyopt digest:sha1`, i.e. RSA
  PKCS#1 v1.5 over SHA1, hex-encoded.
"""
from __future__ import annotations

import secrets
import string

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, padding, serialization
from cryptography.hazmat.primitives.asymmetric import padding as asym_padding
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from mallee.bundle.errors import CorruptManifest, WrongBundleKey

ENC_ALGORITHM = "AES-128-CBC"
_HEX = set(string.hexdigits)


def new_hex_secret() -> str:
    """A fresh 128-bit AES key or IV as euca2ools writes it: 32 zero-padded hex chars."""
    return f"{secrets.randbits(128):032x}"


def _public_key(cert_pem: bytes) -> rsa.RSAPublicKey:
    try:
        key = x509.load_pem_x509_certificate(cert_pem).public_key()
    except ValueError:
        key = serialization.load_pem_public_key(cert_pem)  # a bare public key works too
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError("bundle certificates must hold an RSA key")
    return key


def _private_key(key_pem: bytes) -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key(key_pem, password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("bundle private keys must be RSA keys")
    return key


def encrypt_to_cert(value: str, cert_pem: bytes) -> str:
    return _public_key(cert_pem).encrypt(value.encode("ascii"), asym_padding.PKCS1v15()).hex()


def decrypt_hex_secret(ciphertext_hex: str, key_pem: bytes) -> str:
    """Recover a hex key/IV string; any failure means this is not the key it was sealed to."""
    try:
        plain = _private_key(key_pem).decrypt(bytes.fromhex(ciphertext_hex),
                                              asym_padding.PKCS1v15())
    except ValueError as err:
        raise WrongBundleKey("cannot decrypt the bundle's AES key with the given private "
                             "key: the bundle was made for another cloud certificate") from err
    text = plain.decode("ascii", "replace")
    if len(text) != 32 or not set(text) <= _HEX:
        raise WrongBundleKey("the bundle's decrypted AES key is not 32 hex characters")
    return text


def sign_sha1_hex(data: bytes, key_pem: bytes) -> str:
    return _private_key(key_pem).sign(data, asym_padding.PKCS1v15(), hashes.SHA1()).hex()


def verify_sha1_hex(data: bytes, signature_hex: str, cert_pem: bytes) -> bool:
    try:
        _public_key(cert_pem).verify(bytes.fromhex(signature_hex), data,
                                     asym_padding.PKCS1v15(), hashes.SHA1())
    except (InvalidSignature, ValueError):
        return False
    return True


class AesCbcEncryptor:
    """Streamed `openssl enc -e -aes-128-cbc -K key -iv iv` (PKCS#7 padding)."""

    def __init__(self, key_hex: str, iv_hex: str):
        self._padder = padding.PKCS7(128).padder()
        self._cipher = Cipher(algorithms.AES(bytes.fromhex(key_hex)),
                              modes.CBC(bytes.fromhex(iv_hex))).encryptor()

    def update(self, data: bytes) -> bytes:
        return self._cipher.update(self._padder.update(data))

    def finalize(self) -> bytes:
        return self._cipher.update(self._padder.finalize()) + self._cipher.finalize()


class AesCbcDecryptor:
    """Streamed `openssl enc -d -aes-128-cbc -K key -iv iv` (PKCS#7 padding removed)."""

    def __init__(self, key_hex: str, iv_hex: str):
        try:
            key, iv = bytes.fromhex(key_hex), bytes.fromhex(iv_hex)
        except ValueError as err:
            raise CorruptManifest("the bundle's AES key or IV is not hex") from err
        self._unpadder = padding.PKCS7(128).unpadder()
        self._cipher = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()

    def update(self, data: bytes) -> bytes:
        return self._unpadder.update(self._cipher.update(data))

    def finalize(self) -> bytes:
        # A wrong key or a truncated stream shows up here as bad padding.
        return self._unpadder.update(self._cipher.finalize()) + self._unpadder.finalize()
