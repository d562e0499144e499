"""Resource and request identifiers in AWS's formats."""
from __future__ import annotations

import itertools
import os
import secrets
import string
import uuid

_UPPER_ALNUM = string.ascii_uppercase + string.digits


def resource_id(prefix: str) -> str:
    """An EC2-style long id: prefix + 17 hex digits (i-0123456789abcdef0)."""
    return f"{prefix}-{secrets.token_hex(9)[:17]}"


_ID_BITS = (1 << 128) - 1
_request_base = 0
_request_seq = itertools.count()


def _new_request_base() -> None:
    global _request_base, _request_seq
    _request_base, _request_seq = int.from_bytes(os.urandom(16), "big"), itertools.count()


_new_request_base()
os.register_at_fork(after_in_child=_new_request_base)


def request_id() -> str:
    """A UUID (version 4 in form) unique to this request: a random 128-bit base drawn
    once per process, plus a counter. Request ids name log lines, they guard nothing,
    so they need not be unpredictable, and uuid4's read of the kernel's random source
    was a system call on the event loop for every request (one that lets go of the
    GIL: about 7% of the loop's samples in a 4 KiB PUT run)."""
    return str(uuid.UUID(int=(_request_base + next(_request_seq)) & _ID_BITS, version=4))


def account_id() -> str:
    return "".join(secrets.choice(string.digits) for _ in range(12))


def access_key_id() -> str:
    return "AKIA" + "".join(secrets.choice(_UPPER_ALNUM) for _ in range(16))


def user_id() -> str:
    return "AIDA" + "".join(secrets.choice(_UPPER_ALNUM) for _ in range(17))


def secret_access_key() -> str:
    alphabet = string.ascii_letters + string.digits + "+/"
    return "".join(secrets.choice(alphabet) for _ in range(40))
