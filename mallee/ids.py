"""Resource and request identifiers in AWS's formats."""
from __future__ import annotations

import secrets
import string
import uuid

_UPPER_ALNUM = string.ascii_uppercase + string.digits


def resource_id(prefix: str) -> str:
    """An EC2-style long id: prefix + 17 hex digits (i-0123456789abcdef0)."""
    return f"{prefix}-{secrets.token_hex(9)[:17]}"


def request_id() -> str:
    return str(uuid.uuid4())


def account_id() -> str:
    return "".join(secrets.choice(string.digits) for _ in range(12))


def access_key_id() -> str:
    return "AKIA" + "".join(secrets.choice(_UPPER_ALNUM) for _ in range(16))


def user_id() -> str:
    return "AIDA" + "".join(secrets.choice(_UPPER_ALNUM) for _ in range(17))


def secret_access_key() -> str:
    alphabet = string.ascii_letters + string.digits + "+/"
    return "".join(secrets.choice(alphabet) for _ in range(40))
