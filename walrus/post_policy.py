"""The policy document of a browser upload (S3's POST Object): parsing it, and
checking a form's fields against it. No HTTP and no storage here.

A policy is base64 JSON: `{"expiration": "2030-01-01T00:00:00.000Z",
"conditions": [...]}`. A condition is `{"field": "value"}` (exact match),
`["eq", "$field", "value"]`, `["starts-with", "$field", "prefix"]` (an empty
prefix allows any value) or `["content-length-range", min, max]`. Field names
and operators are case-insensitive, values are not; the two top-level names
are case-sensitive, as on S3. Every field the form sends must be named by a
condition, except the signature's own fields, `file`, `policy` and
`x-ignore-*`; `bucket` is always a field (the bucket the form is posted to),
so a policy must name it too. A condition on a field the form does not send
fails. A starts-with on Content-Type holds for a comma-separated list only when
each of its types starts with the prefix, as on S3.
"""
from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from datetime import datetime, timezone

from walrus import errors, numbers

# The fields no condition needs to name (lower case: form field names are).
UNCHECKED = frozenset({"policy", "x-amz-signature", "signature", "awsaccesskeyid", "file"})
IGNORED_PREFIX = "x-ignore-"
_EXPIRATION = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.[0-9]{1,9})?Z")
_MAX_LENGTH = 2 ** 63 - 1


@dataclass(frozen=True)
class Condition:
    operator: str      # "eq" or "starts-with"
    field: str         # lower case, without the "$"
    value: str
    spelled: str = ""  # the field as the policy wrote it, for the error message

    def text(self) -> str:
        """As S3 quotes a failed condition: ["eq", "$key", "a.txt"]."""
        return json.dumps([self.operator, "$" + (self.spelled or self.field), self.value])

    def holds(self, fields: dict[str, str]) -> bool:
        if self.field not in fields:
            return False
        given = fields[self.field]
        if self.operator == "eq":
            return given == self.value
        if self.field == "content-type":
            # S3 reads a Content-Type as a comma-separated list: each must match, so
            # "image/png,text/html" does not pass a starts-with "image/".
            return all(t.strip().startswith(self.value) for t in given.split(","))
        return given.startswith(self.value)


@dataclass(frozen=True)
class Policy:
    expiration: datetime
    conditions: tuple[Condition, ...]
    min_size: int = 0
    max_size: int | None = None    # None: no content-length-range

    def check(self, fields: dict[str, str], now: datetime) -> None:
        """AccessDenied, with S3's reason, unless `fields` (lower-case names, `bucket`
        included) meet the policy at `now`. The file's size is checked as it streams."""
        if now >= self.expiration:
            raise _denied("Policy expired.")
        for condition in self.conditions:
            if not condition.holds(fields):
                raise _denied(f"Policy Condition failed: {condition.text()}")
        named = {c.field for c in self.conditions}
        extra = [name for name in fields if name not in named and name not in UNCHECKED
                 and not name.startswith(IGNORED_PREFIX)]
        if extra:
            raise _denied(f"Extra input fields: {', '.join(extra)}")


def _denied(reason: str) -> errors.ApiError:
    return errors.AccessDenied(f"Invalid according to Policy: {reason}")


def _invalid(reason: str) -> errors.ApiError:
    return errors.InvalidPolicyDocument(f"Invalid Policy: {reason}")


def parse(encoded: str) -> Policy:
    """The policy of a form's `policy` field, or InvalidPolicyDocument saying why not."""
    try:
        raw = base64.b64decode("".join(encoded.split()), validate=True)
        doc = json.loads(raw.decode("utf-8"))
    except (binascii.Error, ValueError, UnicodeDecodeError, RecursionError):
        raise _invalid("Invalid JSON.")
    if not isinstance(doc, dict):
        raise _invalid("Invalid JSON.")
    if "expiration" not in doc:
        raise _invalid("Policy missing expiration.")
    if "conditions" not in doc:
        raise _invalid("Policy missing conditions.")
    expiration = _expiration(doc["expiration"])
    items = doc["conditions"]
    if not isinstance(items, list):
        raise _invalid("Invalid 'conditions' value: must be a list.")
    conditions, min_size, max_size = [], 0, None
    for item in items:
        if isinstance(item, list) and item and isinstance(item[0], str) \
                and item[0].lower() == "content-length-range":
            low, high = _length_range(item)
            min_size = max(min_size, low)
            max_size = high if max_size is None else min(max_size, high)
        else:
            conditions.append(_condition(item))
    return Policy(expiration, tuple(conditions), min_size, max_size)


def _expiration(value) -> datetime:
    m = _EXPIRATION.fullmatch(value) if isinstance(value, str) else None
    try:
        if m is None:
            raise ValueError(value)
        return datetime(*map(int, m.groups()), tzinfo=timezone.utc)
    except ValueError:
        raise _invalid(f"Invalid 'expiration' value: {json.dumps(value)}")


def _scalar(value) -> str | None:
    """A condition's value as the form field text it must match (S3 takes numbers too)."""
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return json.dumps(value)
    return None


def _condition(item) -> Condition:
    if isinstance(item, dict):
        if len(item) != 1:
            raise _invalid("Invalid Simple-Condition: Simple-Conditions must have exactly "
                           "one property specified.")
        [(name, value)] = item.items()
        text = _scalar(value)
        if text is None:
            raise _invalid(f"Invalid Simple-Condition: value of {name} must be a string.")
        return Condition("eq", name.lower(), text, name)
    if not isinstance(item, list) or len(item) != 3 or not isinstance(item[0], str):
        raise _invalid(f"Invalid Condition: {json.dumps(item)}")
    operator = item[0].lower()
    if operator not in ("eq", "starts-with"):
        raise _invalid(f"Invalid Condition: unknown operation {json.dumps(item[0])}")
    field, value = item[1], _scalar(item[2])
    if not isinstance(field, str) or not field.startswith("$") or len(field) < 2:
        raise _invalid(f"Invalid Condition: the field of {json.dumps(item)} must be '$name'.")
    if value is None:
        raise _invalid(f"Invalid Condition: the value of {json.dumps(item)} must be a string.")
    return Condition(operator, field[1:].lower(), value, field[1:])


def _length_range(item: list) -> tuple[int, int]:
    bounds = item[1:]
    if len(bounds) != 2:
        raise _invalid("Invalid content-length-range condition: it takes a minimum and a "
                       "maximum.")
    low, high = (_length(b) for b in bounds)
    if low is None or high is None or low > high:
        raise _invalid(f"Invalid content-length-range condition: {json.dumps(item)}")
    return low, high


def _length(bound) -> int | None:
    """A content-length-range bound: a non-negative JSON integer, or its digits."""
    if isinstance(bound, str):
        return numbers.decimal(bound)
    if isinstance(bound, int) and not isinstance(bound, bool) and 0 <= bound <= _MAX_LENGTH:
        return bound
    return None
