"""The x-amz-checksum-* algorithms S3 clients send, computed incrementally.

CRC32 and SHA come from zlib/hashlib; CRC32C and CRC64NVME have no C
implementation in the standard library, so they use a table-driven reflected
CRC here: slow (tens of MB/s) but only used when a client asks for them.
"""
from __future__ import annotations

import base64
import hashlib
import zlib


def _table(poly: int, width: int) -> list[int]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ poly if crc & 1 else crc >> 1
        table.append(crc)
    return table


class _ReflectedCrc:
    def __init__(self, poly: int, width: int):
        self._table = _table(poly, width)
        self._mask = (1 << width) - 1
        self._width = width
        self.value = self._mask

    def update(self, data: bytes) -> None:
        crc, table = self.value, self._table
        for byte in data:
            crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
        self.value = crc

    def digest(self) -> bytes:
        return (self.value ^ self._mask).to_bytes(self._width // 8, "big")


class _Crc32:
    def __init__(self):
        self.value = 0

    def update(self, data: bytes) -> None:
        self.value = zlib.crc32(data, self.value)

    def digest(self) -> bytes:
        return self.value.to_bytes(4, "big")


ALGORITHMS = {
    "crc32": _Crc32,
    "crc32c": lambda: _ReflectedCrc(0x82F63B78, 32),
    "crc64nvme": lambda: _ReflectedCrc(0x9A6C9329AC4BC9B5, 64),
    "sha1": hashlib.sha1,
    "sha256": hashlib.sha256,
}
HEADER_PREFIX = "x-amz-checksum-"
# CreateMultipartUpload's choice, kept with the upload (lowercase) until it completes.
ALGORITHM_HEADER = "x-amz-checksum-algorithm"


def new(algorithm: str):
    return ALGORITHMS[algorithm]()


def b64(hasher) -> str:
    return base64.b64encode(hasher.digest()).decode()


def algorithm_of_header(name: str) -> str | None:
    name = name.lower()
    if name.startswith(HEADER_PREFIX) and name[len(HEADER_PREFIX):] in ALGORITHMS:
        return name[len(HEADER_PREFIX):]
    return None


def composite(algorithm: str, part_values: list[str]) -> str:
    """S3's checksum of a multipart object: the algorithm over the parts' binary
    checksums, in order, then `-` and the part count."""
    hasher = new(algorithm)
    for value in part_values:
        hasher.update(base64.b64decode(value))
    return f"{b64(hasher)}-{len(part_values)}"


def response_headers(stored: dict) -> dict:
    """An object's stored x-amz-checksum-* values with x-amz-checksum-type: COMPOSITE
    for a multipart object's (`...-N`), FULL_OBJECT for a single PUT's."""
    out = {k: v for k, v in stored.items() if algorithm_of_header(k)}
    if out:
        composite = any("-" in v for v in out.values())
        out["x-amz-checksum-type"] = "COMPOSITE" if composite else "FULL_OBJECT"
    return out
