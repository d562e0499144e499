"""Reading a whole HTTP body, bounded, for the CLC, its Walrus client and the NC.

aiohttp's `StreamReader.read(n)` returns what is buffered (at least one byte),
not n bytes: a body arriving in two TCP segments came back cut at the first.
"""
from __future__ import annotations


async def read_bounded(stream, limit: int) -> bytes:
    """The body up to EOF, or its first `limit + 1` bytes when it is longer than
    `limit`: the caller compares the length with `limit` and names its own error."""
    want = limit + 1
    parts: list[bytes] = []
    got = 0
    while got < want:
        chunk = await stream.read(want - got)
        if not chunk:  # EOF
            break
        parts.append(chunk)
        got += len(chunk)
    return b"".join(parts)
