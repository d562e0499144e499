"""Streaming GETs of a bundle's manifest and parts from presigned Walrus URLs."""
from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import aiohttp

from mallee.bodies import read_bounded
from node_controller.imagecache.errors import ImageCacheError

CHUNK = 2**20
MAX_MANIFEST_BYTES = 4 * 2**20
TIMEOUT = aiohttp.ClientTimeout(total=None, connect=15, sock_read=60)


def _where(url: str) -> str:
    """The URL without its query: presigned signatures stay out of logs and errors."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


async def _check(response: aiohttp.ClientResponse, what: str, url: str) -> None:
    if response.status != 200:
        hint = " (the presigned URL may have expired)" if response.status == 403 else ""
        raise ImageCacheError(f"cannot download {what} from {_where(url)}: "
                              f"HTTP {response.status}{hint}")


async def fetch_manifest(session: aiohttp.ClientSession, url: str) -> bytes:
    try:
        async with session.get(url, timeout=TIMEOUT) as response:
            await _check(response, "the bundle manifest", url)
            body = await read_bounded(response.content, MAX_MANIFEST_BYTES)
    except aiohttp.ClientError as err:
        raise ImageCacheError(f"cannot download the bundle manifest from {_where(url)}: "
                              f"{err}") from None
    if len(body) > MAX_MANIFEST_BYTES:
        raise ImageCacheError(f"the manifest at {_where(url)} is larger than "
                              f"{MAX_MANIFEST_BYTES} bytes")
    return body


async def stream_part(session: aiohttp.ClientSession, url: str,
                      filename: str) -> AsyncIterator[bytes]:
    try:
        async with session.get(url, timeout=TIMEOUT) as response:
            await _check(response, f"bundle part {filename}", url)
            async for chunk in response.content.iter_chunked(CHUNK):
                yield chunk
    except aiohttp.ClientError as err:
        raise ImageCacheError(f"download of bundle part {filename} from {_where(url)} "
                              f"failed: {err}") from None
