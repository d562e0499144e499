"""One fast XML writer for every protocol the cloud speaks (EC2, awsQuery, S3).

Responses are plain dicts: a key is a tag, a dict value is an element with
children, None leaves the element out, True/False become "true"/"false",
datetimes become ISO 8601. A key starting with "@" is an attribute of its
parent and "#text" its text. Lists are written one of two ways, chosen by the protocol: EC2 wraps
them (`<x><item>..</item></x>`, `lists="item"`), S3 repeats the element
(`<x>..</x><x>..</x>`, `lists="repeat"`).

xmltodict reads XML elsewhere in the project; writing uses this emitter
because xmltodict.unparse cost 0.4 ms per instance item, which made a
1,000-instance DescribeInstances spend 400 ms in serialization alone.
"""
from __future__ import annotations

import functools
import math
import re
import time
from datetime import datetime, timezone
from xml.sax.saxutils import escape, quoteattr

DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>\n'
# What XML 1.0 cannot carry, even as a character reference: C0 controls but tab,
# LF and CR; lone surrogates (which UTF-8 cannot encode either); U+FFFE, U+FFFF.
# One stored NUL made DescribeImages unparsable for everyone, and error messages
# echo what clients send, so the whole document is cleaned once: one C-speed
# pass, a few per cent of a 1,000-instance response.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
REPLACEMENT = "\ufffd"
# In an ASCII document only these can be wrong; a search for each byte (memchr) is a
# twentieth of the regex's cost over a 1,000-entry listing.
_CONTROL_BYTES = tuple(bytes([c]) for c in range(32) if c not in (9, 10, 13))


@functools.lru_cache(maxsize=4096)
def _second(whole: int) -> str:
    """A listing's objects were often written within the same seconds."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole))


def iso8601(when: datetime | float | int) -> str:
    """UTC with milliseconds and a Z, as EC2 and S3 both write times."""
    if not isinstance(when, datetime):
        # A timestamp, as datetime.fromtimestamp rounds it (to the microsecond, half
        # to even), at a third of its cost: a 1,000-entry listing writes 1,000 times.
        frac, whole = math.modf(when)
        micros = round(frac * 1e6)
        if micros >= 1_000_000:
            whole, micros = whole + 1, micros - 1_000_000
        elif micros < 0:
            whole, micros = whole - 1, micros + 1_000_000
        return f"{_second(int(whole))}.{micros // 1000:03d}Z"
    return when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _plain(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return iso8601(value)
    return value if isinstance(value, str) else str(value)


def _text(value) -> str:
    return escape(_plain(value))


class Raw(str):
    """Whole elements already written (and escaped) by the caller, written as they are:
    for the many same-shaped entries of a listing, where the general writer's per-child
    work would be most of the response's cost."""


class _Writer:
    def __init__(self, wrap_lists: bool):
        self.out: list[str] = []
        self.wrap_lists = wrap_lists

    def element(self, tag: str, value) -> None:
        out = self.out
        if value is None:
            return
        if type(value) is Raw:
            out.append(value)
        elif isinstance(value, dict):
            attrs = "".join(f" {k[1:]}={quoteattr(_plain(v))}"  # quoteattr escapes
                            for k, v in value.items() if k[:1] == "@" and v is not None)
            children = [(k, v) for k, v in value.items() if k[:1] not in ("@", "#")]
            text = value.get("#text")
            if not children:
                out.append(f"<{tag}{attrs}>{'' if text is None else _text(text)}</{tag}>")
                return
            out.append(f"<{tag}{attrs}>")
            for key, child in children:
                self.element(key, child)
            out.append(f"</{tag}>")
        elif isinstance(value, (list, tuple)):
            if not self.wrap_lists:
                for child in value:
                    self.element(tag, child)
                return
            if not value:
                out.append(f"<{tag}></{tag}>")
                return
            out.append(f"<{tag}>")
            for child in value:
                self.element("item", child)
            out.append(f"</{tag}>")
        else:
            out.append(f"<{tag}>{_text(value)}</{tag}>")


def document(root: str, body: dict, lists: str = "item") -> bytes:
    """A whole document: the declaration, then `root` holding `body`."""
    if lists not in ("item", "repeat"):
        raise ValueError(f"lists must be 'item' or 'repeat', not {lists!r}")
    writer = _Writer(wrap_lists=lists == "item")
    writer.out.append(DECLARATION)
    writer.element(root, body)
    text = "".join(writer.out)
    if text.isascii():
        data = text.encode()
        if not any(c in data for c in _CONTROL_BYTES):
            return data
    return _NOT_XML.sub(REPLACEMENT, text).encode()
