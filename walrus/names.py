"""Naming rules for buckets and keys (AWS's current rules for new buckets,
plus the legacy path-style leniency Eucalyptus allowed: uppercase and
underscores are refused, as AWS refuses them today)."""
from __future__ import annotations

import ipaddress
import re

from walrus import errors

_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
MAX_KEY_BYTES = 1024


def bucket_name_problem(name: str) -> str | None:
    """Why `name` is not a valid bucket name, or None when it is."""
    if not 3 <= len(name) <= 63:
        return "Bucket names must be between 3 and 63 characters long."
    if not _BUCKET_RE.match(name):
        return ("Bucket names may contain only lowercase letters, digits, dots and hyphens, "
                "and must begin and end with a letter or digit.")
    if ".." in name or ".-" in name or "-." in name:
        return "Bucket names must not contain two adjacent periods or a period next to a hyphen."
    try:
        ipaddress.IPv4Address(name)
        return "Bucket names must not be formatted as an IP address."
    except ValueError:
        pass
    if name.startswith("xn--") or name.endswith("-s3alias") or name.endswith("--ol-s3"):
        return "Bucket names must not use a reserved prefix or suffix."
    return None


def check_bucket_name(name: str) -> None:
    problem = bucket_name_problem(name)
    if problem:
        raise errors.InvalidBucketName(problem, BucketName=name)


def looks_like_bucket(name: str) -> bool:
    """Loose test for routing: could this first path segment be a bucket we serve?"""
    return 1 <= len(name) <= 255 and "/" not in name


def check_key(key: str) -> None:
    if not key:
        raise errors.InvalidArgument("An object key must not be empty.")
    if len(key.encode("utf-8", "surrogatepass")) > MAX_KEY_BYTES:
        raise errors.KeyTooLongError(Size=len(key.encode("utf-8", "surrogatepass")),
                                     MaxSizeAllowed=MAX_KEY_BYTES)
    if "\x00" in key:
        raise errors.InvalidArgument("Object keys must not contain NUL characters.")
