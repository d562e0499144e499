"""What can go wrong with a bundle, as ApiErrors so a tier can answer with them.

They share EC2's `InvalidManifest` code (what RegisterImage answers for a bad
manifest); the classes tell the cases apart for logs, tests and StateReasons.
"""
from __future__ import annotations

from mallee.errors import ApiError


class BundleError(ApiError):
    code = "InvalidManifest"
    status = 400
    default_message = "The image bundle is not valid."


class CorruptManifest(BundleError):
    """The manifest is not well-formed XML, or lacks or mangles a required element."""


class WrongBundleKey(BundleError):
    """No private key given can decrypt the bundle's AES key and IV."""


class BadPartDigest(BundleError):
    """A part's SHA1 differs from the manifest: it was damaged or tampered with."""


class CorruptImage(BundleError):
    """The decrypted stream is not gzip, not a tar of one file, or fails the tar digest."""
