"""MaxResults / NextToken paging over id-sorted results.

The token names the last id returned, so a page stays correct while
resources are added or removed between calls.
"""
from __future__ import annotations

import base64
import binascii
import json
from typing import Callable, Sequence, TypeVar

from mallee import errors

T = TypeVar("T")


def encode_token(after: str) -> str:
    return base64.urlsafe_b64encode(json.dumps({"after": after}).encode()).decode()


def decode_token(token: str) -> str:
    try:
        return json.loads(base64.urlsafe_b64decode(token.encode()))["after"]
    except (binascii.Error, ValueError, KeyError, TypeError):
        raise errors.InvalidNextToken()


def check_max_results(max_results: int | None, low: int = 5, high: int = 1000) -> None:
    if max_results is not None and not low <= max_results <= high:
        raise errors.InvalidParameterValue(
            f"Value ( {max_results} ) for parameter maxResults is invalid. "
            f"Expecting a value between {low} and {high}.")


def page(items: Sequence[T], key: Callable[[T], str], max_results: int | None,
         next_token: str | None, low: int = 5, high: int = 1000) -> tuple[list[T], str | None]:
    check_max_results(max_results, low, high)
    ordered = sorted(items, key=key)
    if next_token:
        after = decode_token(next_token)
        ordered = [i for i in ordered if key(i) > after]
    if max_results is None or len(ordered) <= max_results:
        return list(ordered), None
    chunk = list(ordered[:max_results])
    return chunk, encode_token(key(chunk[-1]))


def capped_page(items: Sequence[T], key: Callable[[T], str], max_results: int | None,
                next_token: str | None, low: int, high: int) -> tuple[list[T], str | None]:
    """A page where MaxResults above `high` is `high` (EC2's volume and snapshot
    listings: "if you specify a value larger than N, only N items are returned")."""
    if max_results is not None:
        max_results = min(max_results, high)
    return page(items, key, max_results, next_token, low, high)
