"""Naming rules for buckets and keys.

Two bucket rule sets, as Eucalyptus's objectstorage.bucket_naming_restrictions:
"extended" (Eucalyptus's default: 1-255 letters, digits, '.', '-', '_'; such
names work path-style only) and "dns-compliant" (AWS's rules for new buckets).
"""
from __future__ import annotations

import ipaddress
import re

from walrus import errors

_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_EXTENDED_RE = re.compile(r"^[A-Za-z0-9._-]{1,255}$")
NAMING_RULES = ("extended", "dns-compliant")
MAX_KEY_BYTES = 1024


def bucket_name_problem(name: str, rules: str = "dns-compliant") -> str | None:
    """Why `name` is not a valid bucket name under `rules`, or None when it is."""
    if rules not in NAMING_RULES:
        raise ValueError(f"bucket naming rules are one of {', '.join(NAMING_RULES)}, "
                         f"not {rules!r}")
    if rules == "extended":
        if not _EXTENDED_RE.match(name) or name in (".", ".."):
            return ("Bucket names must be 1 to 255 letters, digits, periods, hyphens and "
                    "underscores.")
        return _not_an_address(name)
    if not 3 <= len(name) <= 63:
        return "Bucket names must be between 3 and 63 characters long."
    if not _BUCKET_RE.match(name):
        return ("Bucket names may contain only lowercase letters, digits, dots and hyphens, "
                "and must begin and end with a letter or digit.")
    if ".." in name or ".-" in name or "-." in name:
        return "Bucket names must not contain two adjacent periods or a period next to a hyphen."
    problem = _not_an_address(name)
    if problem:
        return problem
    if name.startswith("xn--") or name.endswith("-s3alias") or name.endswith("--ol-s3"):
        return "Bucket names must not use a reserved prefix or suffix."
    return None


def _not_an_address(name: str) -> str | None:
    try:
        ipaddress.IPv4Address(name)
        return "Bucket names must not be formatted as an IP address."
    except ValueError:
        return None


def check_bucket_name(name: str, rules: str = "dns-compliant") -> None:
    problem = bucket_name_problem(name, rules)
    if problem:
        raise errors.InvalidBucketName(problem, BucketName=name)


def check_key(key: str) -> None:
    if not key:
        raise errors.InvalidArgument("An object key must not be empty.")
    if len(key.encode("utf-8", "surrogatepass")) > MAX_KEY_BYTES:
        raise errors.KeyTooLongError(Size=len(key.encode("utf-8", "surrogatepass")),
                                     MaxSizeAllowed=MAX_KEY_BYTES)
    if "\x00" in key:
        raise errors.InvalidArgument("Object keys must not contain NUL characters.")
