"""Bodies are read whole, bounded, however they are split on the wire: the CLC's
manifest read from Walrus and the NC's manifest fetch (defect 9 of issue 11)."""
import asyncio

import aiohttp
import pytest
from aiohttp import web

from cloud_controller.services.storage import ObjectStore
from mallee import errors
from mallee.auth import Credential
from mallee.bodies import read_bounded
from node_controller.imagecache import fetch
from node_controller.imagecache.errors import ImageCacheError

BODY = bytes(range(256)) * 120  # 30,720 bytes


async def split_server(body: bytes):
    """A server that sends `body` in two flushes 0.2 s apart (a slow second segment)."""
    async def handler(request):
        response = web.StreamResponse(headers={"Content-Length": str(len(body))})
        await response.prepare(request)
        await response.write(body[:1000])
        await asyncio.sleep(0.2)
        await response.write(body[1000:])
        await response.write_eof()
        return response

    app = web.Application()
    app.router.add_get("/{tail:.*}", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    return runner, f"http://127.0.0.1:{port}"


def run_against_split_server(body, use):
    async def go():
        runner, base = await split_server(body)
        try:
            return await use(base)
        finally:
            await runner.cleanup()
    return asyncio.run(go())


def test_the_clc_reads_a_whole_manifest_from_walrus():
    cred = Credential("AKIAIOSFODNN7EXAMPLE", "s" * 40, "123456789012", "a", "AIDA1", "u")

    async def use(base):
        return await ObjectStore(base, "mallee").get(cred, "bucket", "image.manifest.xml")
    assert run_against_split_server(BODY, use) == (200, BODY)


def test_the_clc_still_refuses_a_manifest_over_its_limit():
    cred = Credential("AKIAIOSFODNN7EXAMPLE", "s" * 40, "123456789012", "a", "AIDA1", "u")

    async def use(base):
        return await ObjectStore(base, "mallee").get(cred, "b", "k", limit=len(BODY) - 1)
    with pytest.raises(errors.InvalidManifest):
        run_against_split_server(BODY, use)


def test_the_node_fetches_a_whole_manifest():
    async def use(base):
        async with aiohttp.ClientSession() as session:
            return await fetch.fetch_manifest(session, base + "/b/m.xml?X-Amz-Signature=x")
    assert run_against_split_server(BODY, use) == BODY


def test_the_node_refuses_a_manifest_over_its_limit(monkeypatch):
    monkeypatch.setattr(fetch, "MAX_MANIFEST_BYTES", len(BODY) - 1)

    async def use(base):
        async with aiohttp.ClientSession() as session:
            return await fetch.fetch_manifest(session, base + "/b/m.xml")
    with pytest.raises(ImageCacheError, match="larger than"):
        run_against_split_server(BODY, use)


def test_read_bounded_stops_one_past_the_limit():
    async def go():
        stream = aiohttp.StreamReader(_Protocol(), 2**16, loop=asyncio.get_running_loop())
        for piece in (b"abc", b"defg", b"hij"):
            stream.feed_data(piece)
        stream.feed_eof()
        return await read_bounded(stream, 5)
    assert asyncio.run(go()) == b"abcdef"


class _Protocol:
    """The little a StreamReader asks of its protocol (flow control)."""
    _reading_paused = False

    def pause_reading(self):
        pass

    def resume_reading(self, resume_parser=True):
        pass
