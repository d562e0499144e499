"""Unique ids for Walrus's own rows, versions and blob files, made without a system call.

uuid4 and os.urandom read the kernel's random source on every call; on the event
loop that is a system call that lets go of the GIL, and a small PUT made three of
them. These ids need to be unique, not secret (every request is still authorized),
so they come from one generator seeded once from os.urandom: 128 bits (or as many
as asked for) are as unlikely to collide as uuid4's 122.
"""
from __future__ import annotations

import os
import random

_random = random.Random(os.urandom(32))


def unique_hex(digits: int = 32) -> str:
    """`digits` random lowercase hex digits."""
    return f"{_random.getrandbits(digits * 4):0{digits}x}"
