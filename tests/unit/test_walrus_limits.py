"""A body that grows past its size limit stops with EntityTooLarge and leaves no blob,
whether it was still buffered (small) or already streaming to its file."""
import asyncio

import pytest
from multidict import CIMultiDict

from walrus import errors
from walrus.blobs import SMALL_BLOB, BlobStore
from walrus.body import RequestBody
from walrus.store import check_size


class _Content:
    def __init__(self, chunks):
        self._chunks = chunks

    async def iter_any(self):
        for chunk in self._chunks:
            yield chunk


class _Request:
    """What RequestBody reads of an aiohttp request: headers and the body stream."""
    def __init__(self, chunks, headers):
        self.headers = CIMultiDict(headers)
        self.content = _Content(chunks)


@pytest.mark.parametrize("limit", [1000, 2 * SMALL_BLOB])
def test_streamed_body_over_the_limit_stops_and_leaves_nothing(tmp_path, limit):
    chunks = [b"x" * (64 * 1024)] * (limit // (64 * 1024) + 2)
    body = RequestBody(_Request(chunks, {"Transfer-Encoding": "chunked"}), max_size=limit)
    assert body.length is None  # nothing declared: only the stream can tell

    async def main():
        blobs = BlobStore(tmp_path)
        blobs.setup()
        try:
            with pytest.raises(errors.EntityTooLarge) as e:
                await blobs.write(body)
            assert e.value.extra == {"MaxSizeAllowed": limit}
        finally:
            await blobs.close()
        return [p for p in blobs.root.rglob("*") if p.is_file()]
    assert asyncio.run(main()) == []


def test_check_size_is_the_limit_inclusive():
    check_size(None, 10)
    check_size(10, 10)
    with pytest.raises(errors.EntityTooLarge) as e:
        check_size(11, 10)
    assert e.value.extra == {"ProposedSize": 11, "MaxSizeAllowed": 10}
