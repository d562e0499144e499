"""walrus.pipeline: chunks reach the thread in order, in batches, with at most LIMIT
bytes held; a failing batch's error reaches the feeder; `abandon` waits for the batch
that runs (the blob store closes its file then). And a large body hashed and written
through it has the MD5 and bytes it was sent with."""
import asyncio
import hashlib
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from multidict import CIMultiDict

from walrus.blobs import SMALL_BLOB, BlobStore
from walrus.body import RequestBody
from walrus.pipeline import Pipeline


def test_chunks_arrive_in_order_batched_and_bounded():
    seen: list[bytes] = []
    batches: list[int] = []
    gate = threading.Event()

    def work(batch):
        gate.wait()  # a slow stage: the feeder must stop at the limit
        batches.append(sum(map(len, batch)))
        seen.extend(batch)

    async def main():
        with ThreadPoolExecutor(1) as pool:
            pipe = Pipeline(pool, work, batch=100, limit=400)
            chunks = [bytes([i]) * 50 for i in range(40)]
            feeder = asyncio.ensure_future(_feed(pipe, chunks))
            await asyncio.sleep(0.2)
            assert not feeder.done()  # held back: one batch running, the limit queued
            assert pipe._size <= 400 + 50
            gate.set()
            await feeder
            await pipe.finish()
            return chunks
    chunks = asyncio.run(main())
    assert seen == chunks
    assert all(size >= 100 for size in batches[:-1])


async def _feed(pipe, chunks):
    for chunk in chunks:
        await pipe.feed(chunk)


def test_a_failing_batch_raises_in_the_feeder():
    def work(batch):
        raise OSError("disk full")

    async def main():
        with ThreadPoolExecutor(1) as pool:
            pipe = Pipeline(pool, work, batch=10, limit=20)
            with pytest.raises(OSError, match="disk full"):
                for _ in range(10):
                    await pipe.feed(b"x" * 10)
                await pipe.finish()
    asyncio.run(main())


def test_abandon_calls_back_only_after_the_running_batch():
    running, release = threading.Event(), threading.Event()
    order: list[str] = []

    def work(batch):
        running.set()
        release.wait()
        order.append("batch ended")

    async def main():
        with ThreadPoolExecutor(1) as pool:
            pipe = Pipeline(pool, work, batch=10, limit=10)
            await pipe.feed(b"x" * 10)
            await asyncio.get_running_loop().run_in_executor(None, running.wait)
            pipe.abandon(lambda: order.append("then"))
            assert order == []
            release.set()
    asyncio.run(main())
    assert order == ["batch ended", "then"]


def test_small_body_is_hashed_inline():
    calls = []

    async def main():
        with ThreadPoolExecutor(1) as pool:
            pipe = Pipeline(pool, lambda b: calls.append(threading.get_ident()), batch=100)
            await pipe.feed(b"x" * 10)
            await pipe.finish(inline=True)
    asyncio.run(main())
    assert calls == [threading.get_ident()]


class _Content:
    def __init__(self, chunks):
        self._chunks = chunks

    async def iter_any(self):
        for chunk in self._chunks:
            await asyncio.sleep(0)
            yield chunk


class _Request:
    def __init__(self, chunks, headers):
        self.headers = CIMultiDict(headers)
        self.content = _Content(chunks)


@pytest.mark.parametrize("size", [100, SMALL_BLOB + 1, 20 * SMALL_BLOB + 12345])
def test_body_written_and_hashed_beside_the_loop_is_exact(tmp_path, size):
    data = os.urandom(size)
    chunks = [data[i:i + 256 * 1024] for i in range(0, size, 256 * 1024)]
    body = RequestBody(_Request(chunks, {"Content-Length": str(size)}))

    async def main():
        blobs = BlobStore(tmp_path)
        blobs.setup()
        try:
            new = await blobs.write(body)
        finally:
            await blobs.close()
        assert new.data is None  # no inline blobs without the setting: a file
        with blobs.open(new.name) as f:
            return new.size, f.read()
    written, stored = asyncio.run(main())
    assert written == size and stored == data
    assert body.etag == hashlib.md5(data).hexdigest()
