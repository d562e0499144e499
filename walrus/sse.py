"""Encryption at rest: SSE-S3 and SSE-C as a layer between a request's bytes and the
blob files (walrus/blobs.py stores whatever it is given; this module decides what).

An encrypted object has its own random data key (a multipart upload has one for all
its parts, each part's blob with its own nonce prefix). A blob is a run of sealed chunks:
AES-256-GCM over CHUNK bytes of plaintext (the last chunk may be shorter, and an empty
blob is one empty chunk), each followed by its 16-byte tag. Chunk i of a blob whose
random 8-byte prefix is P has the nonce P || i (4 bytes, big-endian) and the
associated data P || i || last, so chunks cannot be reordered, swapped between blobs
or cut off at a chunk boundary without failing authentication. A Range read decrypts
only the chunks it touches.

The data key is sealed (AES-GCM) by Walrus's master key for SSE-S3 and by the
customer's key for SSE-C, whose key is never stored: only its MD5 (S3 echoes it) and
a salted HMAC-SHA256 that tells a wrong key apart before anything is decrypted.
An object's `Encryption` (the sealed key and, per segment of plaintext, its size and
prefix: one segment for a PUT or a copy, one per part for a completed upload) is
kept as JSON in its row; '' means plaintext.

The master key is 32 random bytes made on first start, kept in `sse-master.key`
(mode 0600) under Walrus's data directory, sealed with the cloud's SecretBox (Fernet,
mallee/pki.py), so the data directory alone decrypts nothing.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import AsyncIterable, AsyncIterator, BinaryIO, Iterator

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from mallee.files import write_atomic
from mallee.pki import SecretBox
from walrus import errors

CHUNK = 64 * 1024
TAG = 16
SEALED = CHUNK + TAG
READ_CHUNKS = 16          # chunks decrypted per trip to a thread (1 MiB)
ALGORITHM = "AES256"
S3, CUSTOMER = "S3", "C"  # Encryption.mode

HEADER = "x-amz-server-side-encryption"
CUSTOMER_ALGORITHM = "x-amz-server-side-encryption-customer-algorithm"
CUSTOMER_KEY = "x-amz-server-side-encryption-customer-key"
CUSTOMER_KEY_MD5 = "x-amz-server-side-encryption-customer-key-MD5"
COPY_SOURCE = "x-amz-copy-source-"  # the copy source's SSE-C headers: x-amz-copy-source-s...
MASTER_FILE = "sse-master.key"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _unb64(text: str) -> bytes:
    return base64.b64decode(text)


class MasterKey:
    """Walrus's key-encryption key for SSE-S3 data keys."""

    def __init__(self, key: bytes):
        self._aead = AESGCM(key)

    def __repr__(self) -> str:
        return "MasterKey(<sealed>)"  # never in a log or a traceback

    @classmethod
    def load(cls, data_dir: Path, box: SecretBox) -> "MasterKey":
        """The master key under `data_dir`, made on first start (0600, written atomically
        as pki.py writes the cloud's own secrets)."""
        path = data_dir / MASTER_FILE
        if path.exists():
            return cls(_unb64(box.open(path.read_bytes())))
        key = AESGCM.generate_key(256)
        write_atomic(path, box.seal(_b64(key)), mode=0o600)
        return cls(key)

    def seal(self, data_key: bytes) -> str:
        return _wrap(self._aead, data_key, b"walrus-sse-s3")

    def open(self, sealed: str) -> bytes:
        return _unwrap(self._aead, sealed, b"walrus-sse-s3")


def _wrap(aead: AESGCM, data_key: bytes, label: bytes) -> str:
    nonce = os.urandom(12)
    return _b64(nonce + aead.encrypt(nonce, data_key, label))


def _unwrap(aead: AESGCM, sealed: str, label: bytes) -> bytes:
    raw = _unb64(sealed)
    return aead.decrypt(raw[:12], raw[12:], label)


# --- what a request says ----------------------------------------------------
@dataclass(frozen=True)
class CustomerKey:
    key: bytes
    md5: str  # base64, as sent and echoed


def customer_key(headers, prefix: str = "") -> CustomerKey | None:
    """The SSE-C key a request sends (`prefix` COPY_SOURCE: the copy source's), checked
    as S3 checks it; None if it sends none."""
    names = [prefix + n[len("x-amz-"):] if prefix else n
             for n in (CUSTOMER_ALGORITHM, CUSTOMER_KEY, CUSTOMER_KEY_MD5)]
    algorithm, key_text, md5_text = (headers.get(n) for n in names)
    if algorithm is None and key_text is None and md5_text is None:
        return None
    if algorithm is None:
        raise errors.InvalidArgument(
            "Requests specifying Server Side Encryption with Customer provided keys must "
            "provide a valid encryption algorithm.", ArgumentName=names[0])
    if algorithm != ALGORITHM:
        raise errors.InvalidEncryptionAlgorithmError(
            ArgumentName=names[0], ArgumentValue=algorithm)
    if key_text is None:
        raise errors.InvalidArgument(
            "Requests specifying Server Side Encryption with Customer provided keys must "
            "provide an appropriate secret key.", ArgumentName=names[1])
    if md5_text is None:
        raise errors.InvalidArgument(
            "Requests specifying Server Side Encryption with Customer provided keys must "
            "provide the client calculated MD5 of the secret key.",
            ArgumentName=names[2])
    try:
        key = base64.b64decode(key_text.strip(), validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if len(key) != 32:
        raise errors.InvalidArgument("The secret key was invalid for the specified algorithm.",
                                     ArgumentName=names[1])
    if _b64(hashlib.md5(key).digest()) != md5_text.strip():
        raise errors.InvalidArgument(
            "The calculated MD5 hash of the key did not match the hash that was sent.",
            ArgumentName=names[2])
    return CustomerKey(key, md5_text.strip())


def check_algorithm(value: str | None) -> None:
    """x-amz-server-side-encryption: AES256 is served; aws:kms (no KMS here) and anything
    else are S3's answer to a method it does not support."""
    if value is not None and value != ALGORITHM:
        raise errors.InvalidArgument("The encryption method specified is not supported",
                                     ArgumentName=HEADER, ArgumentValue=value)


def wanted(headers, bucket_default: bool) -> CustomerKey | str | None:
    """What a new object asks for: a CustomerKey (SSE-C), S3 (SSE-S3, asked or the
    bucket's default), or None (plaintext)."""
    sse = headers.get(HEADER)
    check_algorithm(sse)
    customer = customer_key(headers)
    if customer is not None:
        if sse is not None:
            raise errors.InvalidArgument(
                "Server Side Encryption with Customer provided key is incompatible with the "
                "encryption method specified", ArgumentName=HEADER, ArgumentValue=sse)
        return customer
    return S3 if sse is not None or bucket_default else None


# --- an object's encryption -------------------------------------------------
@dataclass(frozen=True)
class Encryption:
    mode: str                  # S3 or CUSTOMER
    sealed_key: str            # the data key, sealed by the master or the customer's key
    key_md5: str = ""          # SSE-C: the customer key's MD5 (base64), echoed
    key_check: str = ""        # SSE-C: salt and HMAC-SHA256 of the customer key
    segments: tuple[tuple[int, str], ...] = ()  # (plaintext size, nonce prefix hex)

    def to_json(self) -> str:
        return json.dumps({"mode": self.mode, "key": self.sealed_key, "md5": self.key_md5,
                           "check": self.key_check, "segments": self.segments})

    @classmethod
    def from_json(cls, text: str) -> "Encryption | None":
        if not text:
            return None
        doc = json.loads(text)
        return cls(doc["mode"], doc["key"], doc["md5"], doc["check"],
                   tuple((s[0], s[1]) for s in doc["segments"]))

    def headers(self) -> dict:
        """What S3 answers about it on PUT, GET, HEAD, copy and multipart calls."""
        if self.mode == S3:
            return {HEADER: ALGORITHM}
        return {CUSTOMER_ALGORITHM: ALGORITHM, CUSTOMER_KEY_MD5: self.key_md5}

    def with_segments(self, segments) -> "Encryption":
        return replace(self, segments=tuple(segments))


def _key_check(key: bytes, salt: bytes) -> str:
    return _b64(salt + hmac.new(salt, key, hashlib.sha256).digest())


@dataclass(frozen=True)
class Sealer:
    """A fresh data key, and the Encryption (without segments yet) that records it."""
    encryption: Encryption
    data_key: bytes

    @classmethod
    def new(cls, master: MasterKey, asked: CustomerKey | str) -> "Sealer":
        data_key = AESGCM.generate_key(256)
        if isinstance(asked, CustomerKey):
            sealed = _wrap(AESGCM(asked.key), data_key, b"walrus-sse-c")
            return cls(Encryption(CUSTOMER, sealed, asked.md5,
                                  _key_check(asked.key, os.urandom(16))), data_key)
        return cls(Encryption(S3, master.seal(data_key)), data_key)

    def etag(self, md5_hex: str) -> str:
        """S3's ETag for bytes with this MD5: the MD5 itself under SSE-S3; under SSE-C
        not the MD5 (which would let anyone confirm a guess of the plaintext): an HMAC
        of it under the data key."""
        if self.encryption.mode == S3:
            return md5_hex
        return hmac.new(self.data_key, bytes.fromhex(md5_hex), hashlib.md5).hexdigest()

    async def encrypt(self, chunks: AsyncIterable[bytes], prefix: bytes
                      ) -> AsyncIterator[bytes]:
        """The sealed blob of the plaintext `chunks` (see the module's docstring), a
        sealed chunk at a time. Holds at most one chunk plus what arrived with it."""
        aead = AESGCM(self.data_key)
        pending = b""
        index = 0
        async for piece in chunks:
            data = pending + piece if pending else piece
            # Keep the last (possibly full) chunk back: only the end says it is the last.
            whole = (len(data) - 1) // CHUNK if data else 0
            if not whole:
                pending = bytes(data)
                continue
            view = memoryview(data)
            for i in range(whole):
                yield _seal(aead, prefix, index, view[i * CHUNK:(i + 1) * CHUNK], False)
                index += 1
            pending = bytes(view[whole * CHUNK:])
        yield _seal(aead, prefix, index, pending, True)


def new_prefix() -> bytes:
    return os.urandom(8)


def _nonce(prefix: bytes, index: int) -> bytes:
    return prefix + index.to_bytes(4, "big")


def _aad(prefix: bytes, index: int, last: bool) -> bytes:
    return prefix + index.to_bytes(4, "big") + (b"\x01" if last else b"\x00")


def _seal(aead: AESGCM, prefix: bytes, index: int, plain, last: bool) -> bytes:
    return aead.encrypt(_nonce(prefix, index), plain, _aad(prefix, index, last))


def chunk_count(size: int) -> int:
    return max(1, -(-size // CHUNK))


def sealed_size(size: int) -> int:
    return size + chunk_count(size) * TAG


# --- reading ----------------------------------------------------------------
def unlock(master: MasterKey, enc: Encryption | None, customer: CustomerKey | None) -> bytes | None:
    """The data key of an object (None: plaintext), given the SSE-C key the request sent,
    with S3's errors for a key that is missing, not wanted or wrong."""
    if enc is None or enc.mode == S3:
        if customer is not None:
            raise errors.InvalidRequest("The encryption parameters are not applicable to this "
                                        "object.")
        return None if enc is None else master.open(enc.sealed_key)
    if customer is None:
        raise errors.InvalidRequest("The object was stored using a form of Server Side "
                                    "Encryption. The correct parameters must be provided to "
                                    "retrieve the object.")
    salt = _unb64(enc.key_check)[:16]
    if not hmac.compare_digest(_key_check(customer.key, salt), enc.key_check):
        raise errors.AccessDenied("The provided encryption key does not match the key the "
                                  "object was stored with.")
    return _unwrap(AESGCM(customer.key), enc.sealed_key, b"walrus-sse-c")


class Tampered(OSError):
    """A sealed chunk failed authentication: the blob was changed or damaged."""


def _runs(enc: Encryption, offset: int, length: int):
    """The chunks a plaintext span [offset, offset+length) touches, as runs of at most
    READ_CHUNKS chunks of one segment: (blob offset, prefix, first index, count,
    segment's plaintext size, bytes to skip in the run, bytes to keep)."""
    end = offset + length
    seg_plain = seg_blob = 0
    for size, prefix_hex in enc.segments:
        seg_end = seg_plain + size
        if seg_end > offset:
            lo, hi = max(offset, seg_plain) - seg_plain, min(end, seg_end) - seg_plain
            if hi > lo:
                first, final = lo // CHUNK, (hi - 1) // CHUNK
                for start in range(first, final + 1, READ_CHUNKS):
                    count = min(READ_CHUNKS, final - start + 1)
                    run_lo = start * CHUNK
                    skip = max(lo - run_lo, 0)
                    keep = min(hi, run_lo + count * CHUNK) - run_lo - skip
                    yield (seg_blob + start * SEALED, bytes.fromhex(prefix_hex), start, count,
                           size, skip, keep)
        seg_plain, seg_blob = seg_end, seg_blob + sealed_size(size)
        if seg_plain >= end:
            return


def _read_sealed(file: BinaryIO, run, into: bytearray) -> memoryview:
    """A run's sealed bytes, read into `into` (reused: a fresh megabyte per run costs
    page faults). The segment's last chunk may be short; the next segment's bytes
    follow it."""
    at, _, start, count, size, _, _ = run
    file.seek(at)
    view = memoryview(into)[:min(count * SEALED, sealed_size(size) - start * SEALED)]
    return view[:file.readinto(view)]


def _open_run(aead: AESGCM, run, sealed: memoryview, into: bytearray) -> memoryview:
    """A run's wanted plaintext, decrypted into `into` (reused, as the sealed bytes)."""
    _, prefix, start, count, size, skip, keep = run
    last_index = chunk_count(size) - 1
    out = memoryview(into)
    at = 0
    for n in range(count):
        index = start + n
        piece = sealed[n * SEALED:(n + 1) * SEALED]  # short if the blob was cut: fails
        if len(piece) < TAG:
            raise Tampered("an encrypted chunk is cut short")
        length = len(piece) - TAG
        try:
            aead.decrypt_into(_nonce(prefix, index), piece,
                              _aad(prefix, index, index == last_index), out[at:at + length])
        except InvalidTag:
            raise Tampered("an encrypted chunk failed authentication") from None
        at += length
    return out[skip:skip + keep]


def plaintext(file: BinaryIO, enc: Encryption, key: bytes, offset: int, length: int
              ) -> Iterator[bytes]:
    """`length` bytes of plaintext from `offset`, read and decrypted a run at a time,
    on the caller's thread: the event loop's, as sendfile reads plain blobs there, and
    AES-GCM holds the GIL (a thread for it only made the loop wait for the GIL).
    Each piece is a view of one reused buffer: valid until the next is asked for (a
    transport's write sends or copies it before it returns)."""
    aead = AESGCM(key)
    sealed, plain = bytearray(READ_CHUNKS * SEALED), bytearray(READ_CHUNKS * CHUNK)
    for run in _runs(enc, offset, length):
        yield _open_run(aead, run, _read_sealed(file, run, sealed), plain)

