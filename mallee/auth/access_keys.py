"""The shape of an access key id, checked before anything looks one up.

AWS access key ids are 16 to 128 characters of [A-Z0-9]; Mallee makes 20.
Anything else is refused at once, so a stranger's megabyte-long "key" never
reaches a database query or a cache.
"""
from __future__ import annotations

import re

_KEY_ID = re.compile(r"[A-Z0-9]{16,128}")


def well_formed(key_id: object) -> bool:
    return isinstance(key_id, str) and _KEY_ID.fullmatch(key_id) is not None
