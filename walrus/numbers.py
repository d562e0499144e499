"""Numbers from the wire: ASCII digits only, and bounded in length.

int() is too generous for protocol fields: it takes '٥' and other Unicode digits,
signs, spaces and underscores ('1_0'), and refuses strings of 4,300+ digits with an
error of its own; str.isdigit() takes '²', which int() then refuses. Every number
Walrus reads from a header, a query parameter, an XML body or an aws-chunked
header goes through here, so a malformed one is None for its caller to answer
with S3's error (or to ignore, for Range and the conditional dates).
"""
from __future__ import annotations

import re

# 19 decimal digits hold every int64, which is what S3 takes (5 TiB objects need 13).
MAX_DECIMAL_DIGITS = 19
# 16 hex digits are 64 bits: far past any chunk S3 accepts.
MAX_HEX_DIGITS = 16

_DECIMAL = re.compile(r"[0-9]{1,%d}" % MAX_DECIMAL_DIGITS)
_HEX = re.compile(r"[0-9a-fA-F]{1,%d}" % MAX_HEX_DIGITS)


def decimal(text: str | None) -> int | None:
    """The value of 1-19 ASCII decimal digits; None for anything else."""
    if text is None or not _DECIMAL.fullmatch(text):
        return None
    return int(text)


def hexadecimal(text: str | None) -> int | None:
    """The value of 1-16 ASCII hex digits (an aws-chunked chunk size); None otherwise."""
    if text is None or not _HEX.fullmatch(text):
        return None
    return int(text, 16)
