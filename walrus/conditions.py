"""HTTP preconditions and byte ranges as S3 evaluates them (RFC 7232/7233 with
S3's precedence: a true If-Match overrides a false If-Unmodified-Since, a
false If-None-Match overrides a true If-Modified-Since)."""
from __future__ import annotations

import re
from datetime import timezone
from email.utils import parsedate_to_datetime

from walrus import errors, numbers

# ASCII digits only: `\d` also matches '٠' and other Unicode digits, which S3 ignores.
_RANGE_RE = re.compile(r"bytes=([0-9]*)-([0-9]*)")


def _date(text: str | None) -> float | None:
    if not text:
        return None
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, OverflowError):  # OverflowError: a huge year or offset
        return None  # an unparseable date is ignored, as S3 does
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return when.timestamp()


def _etag_in(header: str, etag: str) -> bool:
    tags = [t.strip().removeprefix("W/").strip('"') for t in header.split(",")]
    return "*" in tags or etag in tags


def check(headers, etag: str, last_modified: float, prefix: str = "") -> None:
    """Raise PreconditionFailed (412) or NotModified (304) when a condition says so.

    `prefix` is "x-amz-copy-source-" for CopyObject's source conditions, which
    fail with 412 in every case.
    """
    modified = int(last_modified)  # HTTP dates have whole seconds
    if_match = headers.get(prefix + "If-Match")
    if_none_match = headers.get(prefix + "If-None-Match")
    if_unmodified = _date(headers.get(prefix + "If-Unmodified-Since"))
    if_modified = _date(headers.get(prefix + "If-Modified-Since"))
    if if_match is not None:
        if not _etag_in(if_match, etag):
            raise errors.PreconditionFailed(Condition="If-Match")
    elif if_unmodified is not None and modified > if_unmodified:
        raise errors.PreconditionFailed(Condition="If-Unmodified-Since")
    not_modified = errors.PreconditionFailed if prefix else errors.NotModified
    if if_none_match is not None:
        if _etag_in(if_none_match, etag):
            raise not_modified(Condition="If-None-Match")
    elif if_modified is not None and modified <= if_modified:
        raise not_modified(Condition="If-Modified-Since")


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """(first, last) inclusive for a satisfiable single range; None for the whole
    object (no header, or syntax S3 ignores); InvalidRange when unsatisfiable."""
    if not header:
        return None
    m = _RANGE_RE.fullmatch(header.strip().replace(" ", ""))
    if not m or (m[1] == "" and m[2] == ""):
        return None
    # A number past int64 (or past int()'s 4,300 digits) makes the header unparsable:
    # ignored like any other Range S3 cannot read, so the whole object is returned.
    first, last = numbers.decimal(m[1] or "0"), numbers.decimal(m[2]) if m[2] else None
    if first is None or (m[2] and last is None):
        return None
    if m[1] == "":
        if last == 0 or size == 0:
            raise errors.InvalidRange(RangeRequested=header, ActualObjectSize=size)
        return max(0, size - last), size - 1
    if last is not None and last < first:
        return None
    if first >= size:
        raise errors.InvalidRange(RangeRequested=header, ActualObjectSize=size)
    return first, size - 1 if last is None else min(last, size - 1)
