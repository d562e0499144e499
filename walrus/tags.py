"""S3 tag sets: parsing (the Tagging XML document and the `x-amz-tagging`
header) and AWS's rules for them. No HTTP and no storage here.

A tag set is a tuple of (key, value) pairs in key order, as S3 returns it.
AWS's rules, checked one tag at a time in the order sent (the first bad tag
decides the error), then the count:

- a key is 1-128 and a value 0-256 UTF-16 code units ("Amazon S3 object tags
  are internally represented in UTF-16"), of Unicode letters, numbers and
  separators and `_ . : / = + - @`: else InvalidTag;
- no two tags share a key: InvalidTag;
- a key may not start with `aws:` (any case; AWS reserves it): InvalidTag;
- at most 10 tags on an object, 50 on a bucket: BadRequest, as S3 answers.

The header is a URL query (`k1=v1&k2=v2`, `+` a space, a key without `=`
holding the empty value); one S3 cannot read (a raw `=` inside a value, bad
percent-encoding, a key given twice) is InvalidArgument with the message S3
gives for it.
"""
from __future__ import annotations

import unicodedata
from urllib.parse import unquote_plus

from walrus import errors, s3xml

Tags = tuple[tuple[str, str], ...]

MAX_OBJECT_TAGS = 10
MAX_BUCKET_TAGS = 50
MAX_KEY_UNITS = 128
MAX_VALUE_UNITS = 256
RESERVED_PREFIX = "aws:"
_SYMBOLS = frozenset("_.:/=+-@")
HEADER = "x-amz-tagging"
_BAD_HEADER = ("The header 'x-amz-tagging' shall be encoded as UTF-8 then URLEncoded URL "
               "query parameters without tag name duplicates.")


def _units(text: str) -> int:
    """Length in UTF-16 code units: an astral character counts twice."""
    return len(text) + sum(1 for c in text if ord(c) > 0xFFFF)


def _allowed(text: str) -> bool:
    return all(c in _SYMBOLS or unicodedata.category(c)[0] in "LNZ" for c in text)


def check(pairs: list[tuple[str, str]], bucket: bool) -> Tags:
    """The tag set `pairs` asks for, in key order, or AWS's error for it."""
    seen: set[str] = set()
    for key, value in pairs:
        if key in seen:
            raise errors.InvalidTag("Cannot provide multiple Tags with the same key",
                                    TagKey=key)
        if not 1 <= _units(key) <= MAX_KEY_UNITS or not _allowed(key):
            raise errors.InvalidTag("The TagKey you have provided is invalid", TagKey=key)
        if _units(value) > MAX_VALUE_UNITS or not _allowed(value):
            raise errors.InvalidTag("The TagValue you have provided is invalid",
                                    TagKey=key, TagValue=value)
        if key[:len(RESERVED_PREFIX)].lower() == RESERVED_PREFIX:
            raise errors.InvalidTag("System tags cannot be added/updated by requester" if bucket
                                    else "Your TagKey cannot be prefixed with aws:",
                                    TagKey=key)
        seen.add(key)
    if bucket and len(pairs) > MAX_BUCKET_TAGS:
        raise errors.BadRequest(f"Bucket tag count cannot be greater than {MAX_BUCKET_TAGS}")
    if not bucket and len(pairs) > MAX_OBJECT_TAGS:
        raise errors.BadRequest(f"Object tags cannot be greater than {MAX_OBJECT_TAGS}")
    return tuple(sorted(pairs))


def from_xml(body: bytes, bucket: bool) -> Tags:
    """PutObjectTagging's or PutBucketTagging's `<Tagging><TagSet><Tag>...` body."""
    doc = s3xml.parse(body, "Tagging")
    if "TagSet" not in doc:
        raise errors.MalformedXML()
    tag_set = doc["TagSet"]
    if tag_set is None:
        return ()  # <TagSet/>: no tags
    if not isinstance(tag_set, dict) or set(tag_set) - {"Tag"}:
        raise errors.MalformedXML()
    pairs = []
    for tag in s3xml.as_list(tag_set.get("Tag")):
        if not isinstance(tag, dict) or set(tag) != {"Key", "Value"}:
            raise errors.MalformedXML()
        key, value = tag["Key"], tag["Value"]
        if not all(v is None or isinstance(v, str) for v in (key, value)):
            raise errors.MalformedXML()
        pairs.append((key or "", value or ""))
    return check(pairs, bucket)


def to_xml(tags: Tags) -> dict:
    """The body of GetObjectTagging and GetBucketTagging."""
    return {"TagSet": {"Tag": [{"Key": k, "Value": v} for k, v in tags]}}


def from_header(text: str | None) -> Tags:
    """The tag set an `x-amz-tagging` header (PutObject, CopyObject with REPLACE,
    CreateMultipartUpload) asks for; no header or an empty one is no tags."""
    if not text:
        return ()
    pairs, seen = [], set()
    for item in text.split("&"):
        if not item:
            continue
        raw_key, eq, raw_value = item.partition("=")
        if "=" in raw_value:
            raise errors.InvalidArgument(_BAD_HEADER, ArgumentName=HEADER, ArgumentValue=text)
        try:
            key = unquote_plus(raw_key, errors="strict")
            value = unquote_plus(raw_value, errors="strict")
        except UnicodeDecodeError:
            raise errors.InvalidArgument(_BAD_HEADER, ArgumentName=HEADER, ArgumentValue=text)
        if key in seen:
            raise errors.InvalidArgument(_BAD_HEADER, ArgumentName=HEADER, ArgumentValue=text)
        seen.add(key)
        pairs.append((key, value))
    return check(pairs, bucket=False)
