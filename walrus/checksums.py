"""The x-amz-checksum-* algorithms S3 clients send, computed incrementally, and the
checksums of multipart objects.

CRC32 and SHA come from zlib/hashlib; CRC32C and CRC64NVME (new AWS SDKs' default)
from awscrt, AWS's own C runtime, which botocore uses for them too. A multipart
object's checksum is either COMPOSITE (the algorithm over the parts' checksums,
"-N") or FULL_OBJECT: for a CRC, the whole object's CRC, combined from the parts'
CRCs and sizes without reading the bytes again.
"""
from __future__ import annotations

import base64
import hashlib
import zlib

from awscrt import checksums as crt

from walrus import errors


class _Crc:
    """A CRC with a running integer value, S3's big-endian digest."""

    def __init__(self, step, width: int):
        self._step = step
        self._bytes = width // 8
        self.value = 0

    def update(self, data: bytes) -> None:
        self.value = self._step(data, self.value)

    def digest(self) -> bytes:
        return self.value.to_bytes(self._bytes, "big")


ALGORITHMS = {
    "crc32": lambda: _Crc(zlib.crc32, 32),
    "crc32c": lambda: _Crc(crt.crc32c, 32),
    "crc64nvme": lambda: _Crc(crt.crc64nvme, 64),
    "sha1": hashlib.sha1,
    "sha256": hashlib.sha256,
}
HEADER_PREFIX = "x-amz-checksum-"
# CreateMultipartUpload's choice, kept with the upload (lowercase) until it completes,
# and its checksum type (COMPOSITE or FULL_OBJECT).
ALGORITHM_HEADER = "x-amz-checksum-algorithm"
TYPE_HEADER = "x-amz-checksum-type"
# The CRCs whose values combine: (crc(A), crc(B), len(B)) -> crc(A + B).
_COMBINE = {"crc32": crt.combine_crc32, "crc32c": crt.combine_crc32c,
            "crc64nvme": crt.combine_crc64nvme}
FULL_OBJECT_ALGORITHMS = tuple(_COMBINE)


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


def full_object(algorithm: str, parts: list[tuple[str, int]]) -> str:
    """The whole object's CRC from its parts' (base64 CRC, size), in order."""
    combine = _COMBINE[algorithm]
    value = None
    for checksum, size in parts:
        part = int.from_bytes(base64.b64decode(checksum), "big")
        value = part if value is None else combine(value, part, size)
    width = 8 if algorithm == "crc64nvme" else 4
    return base64.b64encode((value or 0).to_bytes(width, "big")).decode()


def upload_type(algorithm: str, asked: str | None) -> str:
    """The checksum type of an upload created with `algorithm` and x-amz-checksum-type
    `asked`: S3's default is COMPOSITE, except CRC64NVME, which is only FULL_OBJECT;
    SHA checksums cannot be combined, so are only COMPOSITE."""
    kind = (asked or ("FULL_OBJECT" if algorithm == "crc64nvme" else "COMPOSITE")).upper()
    if kind not in ("COMPOSITE", "FULL_OBJECT"):
        raise errors.InvalidRequest("Value for x-amz-checksum-type header is invalid.")
    if (kind == "FULL_OBJECT" and algorithm not in FULL_OBJECT_ALGORITHMS) or \
            (kind == "COMPOSITE" and algorithm == "crc64nvme"):
        raise errors.InvalidRequest(f"The {kind} checksum type cannot be used with the "
                                    f"{algorithm} checksum algorithm.")
    return kind


def response_headers(stored: dict) -> dict:
    """An object's stored x-amz-checksum-* values with x-amz-checksum-type: COMPOSITE
    for a multipart object's (`...-N`), FULL_OBJECT for a single PUT's."""
    out = {k: v for k, v in stored.items() if algorithm_of_header(k)}
    if out:
        composite = any("-" in v for v in out.values())
        out["x-amz-checksum-type"] = "COMPOSITE" if composite else "FULL_OBJECT"
    return out
