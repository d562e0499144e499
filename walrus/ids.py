"""Unique ids for Walrus's own rows, versions and blob files, made without a
system call on most requests.

uuid4 and os.urandom read the kernel's random source on every call; on the event
loop that is a system call that lets go of the GIL, and a small PUT made three of
them. So ids are cut from a pool of kernel randomness read 4 KiB at a time: one
read serves about a hundred ids, and the ids stay as unpredictable as uuid4's
(a seeded PRNG would let a caller who saw enough version ids foretell the next).
"""
from __future__ import annotations

import os

_POOL_BYTES = 4096
_pool = b""
_at = 0


def unique_hex(digits: int = 32) -> str:
    """`digits` random lowercase hex digits."""
    global _pool, _at
    need = (digits + 1) // 2
    if _at + need > len(_pool):
        _pool, _at = os.urandom(max(_POOL_BYTES, need)), 0
    chunk, _at = _pool[_at:_at + need], _at + need
    return chunk.hex()[:digits]
