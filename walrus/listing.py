"""ListObjects/ListObjectsV2 over the (bucket, key) index, and ListObjectVersions
over every version, by key and newest first within a key (one walker for both).

Keys come from the index in UTF-8 byte order (Python's str order is the same).
With a delimiter, once a CommonPrefix is emitted the next page query starts
right after every key under it, so a prefix over 100,000 keys costs one
index seek, not a scan, and that query reads a few rows, not a full page.
"""
from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from typing import Awaitable, Callable, Sequence

from walrus import errors

AFTER_JUMP = 4  # rows read after a CommonPrefix; grows fourfold per full page, up to 1,000
Fetch = Callable[[str, bool, int], Awaitable[Sequence]]  # (start, inclusive, limit) -> rows


@dataclass
class Listing:
    contents: list = field(default_factory=list)
    common_prefixes: list[str] = field(default_factory=list)
    truncated: bool = False
    next_marker: str | None = None
    next_version_id: str | None = None  # ListObjectVersions: of the last version listed


def after_prefix(prefix: str) -> str:
    """The smallest string greater than every string that starts with `prefix`."""
    code = ord(prefix[-1]) + 1
    if 0xD800 <= code <= 0xDFFF:  # sqlite cannot store surrogates; skip the range
        code = 0xE000
    return prefix[:-1] + chr(min(code, 0x10FFFF))


async def list_keys(fetch: Fetch, prefix: str = "", delimiter: str = "",
                    start_after: str = "", max_keys: int = 1000) -> Listing:
    async def by_key(start, inclusive, _below, limit):
        return await fetch(start, inclusive, limit)
    return await _walk(by_key, prefix, delimiter, start_after, None, max_keys, versions=False)


VersionFetch = Callable[[str, bool, "int | None", int], Awaitable[Sequence]]
# (start key, inclusive, versions of start older than this seq or None, limit) -> versions


async def list_versions(fetch: VersionFetch, prefix: str = "", delimiter: str = "",
                        key_marker: str = "", seq_below: int | None = None,
                        max_keys: int = 1000) -> Listing:
    """ListObjectVersions: as `list_keys`, over every version of every key (newest
    first within a key), from after (key_marker, the version at `seq_below`), or after
    every version of key_marker when no version marker is given."""
    return await _walk(fetch, prefix, delimiter, key_marker, seq_below, max_keys,
                       versions=True)


async def _walk(fetch: VersionFetch, prefix: str, delimiter: str, start_after: str,
                seq_below: int | None, max_keys: int, versions: bool) -> Listing:
    """Rows (objects, or versions: rows with `seq` and `version_id`) from after
    `start_after` (and, for versions, the version at `seq_below` of that key)."""
    result = Listing()
    if max_keys <= 0:
        return result
    if start_after and start_after >= prefix:
        start, inclusive = start_after, False
        if not start_after.startswith(prefix):
            seq_below = None  # no version of start_after is listed
    else:
        start, inclusive, seq_below = prefix, True, None
    count, last_prefix = 0, None
    # max_keys + 1: the row after a full page only tells whether it is truncated.
    batch = full = min(max_keys, 1000) + 1
    while True:
        page = await fetch(start, inclusive, seq_below, batch)
        if not page:
            return result
        jumped = False
        for row in page:
            key = row.key
            if not key.startswith(prefix):
                return result  # sorted: nothing later can match
            common = None
            if delimiter:
                at = key.find(delimiter, len(prefix))
                if at >= 0:
                    common = key[:at + len(delimiter)]
            if common is not None:
                if common == last_prefix or (start_after and common <= start_after):
                    continue
                if count == max_keys:
                    result.truncated = True
                    return result
                result.common_prefixes.append(common)
                result.next_marker, result.next_version_id = common, None
                last_prefix = common
                count += 1
                start, inclusive, seq_below, jumped = after_prefix(common), True, None, True
                break
            if count == max_keys:
                result.truncated = True
                return result
            result.contents.append(row)
            result.next_marker = key
            if versions:
                result.next_version_id = row.version_id
            count += 1
        if jumped:
            # What follows a common prefix is often the next prefix: read a few rows, not
            # a full page of rows that the next jump would throw away.
            batch = AFTER_JUMP
        else:
            if len(page) < batch:
                return result
            start, inclusive = page[-1].key, False
            seq_below = page[-1].seq if versions else None
            batch = min(batch * 4, full)


def encode_token(marker: str) -> str:
    return base64.urlsafe_b64encode(marker.encode("utf-8", "surrogatepass")).decode()


def decode_token(token: str) -> str:
    try:
        return base64.b64decode(token.encode(), altchars=b"-_", validate=True).decode("utf-8")
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise errors.InvalidArgument("The continuation token provided is incorrect",
                                     ArgumentName="continuation-token")
