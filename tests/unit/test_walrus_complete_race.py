"""CompleteMultipartUpload racing UploadPart and Abort (issue 11, defect 16): the parts
list the object is built from is the one its commit sees, so a part replaced (or an
upload aborted) while the parts are being joined never yields an object from a stale
list, and a replaced part's blob is never dropped while the upload still names it."""
import asyncio
import hashlib

import pytest

from walrus import errors
from walrus.acl import Acl, Principal
from walrus.blobs import BlobStore
from walrus.db import Database
from walrus.store import Store

ALICE = Principal("111111111111", "alice", "admin", "AKIAALICE")


class Body:
    """What Store.put and put_part read: an async byte stream with the MD5 it had."""
    checksum = None

    def __init__(self, data: bytes):
        self.data = data
        self.etag = hashlib.md5(data).hexdigest()

    async def __aiter__(self):
        yield self.data


def _with_store(tmp_path, test) -> None:
    """Run `await test(store)` on a fresh store with alice's bucket "b"."""
    async def main():
        db = Database(tmp_path / "walrus.db")
        await db.open()
        blobs = BlobStore(tmp_path)
        blobs.setup()
        store = Store(db, blobs, 100, 1 << 40)
        try:
            await store.create_bucket(ALICE, "b", "mallee", Acl(ALICE.account_id, "alice"))
            await test(store)
        finally:
            await store.close()
            await db.close()
    asyncio.run(main())


async def _upload_with_part(store: Store, data: bytes):
    upload = await store.create_upload("b", "k", ALICE, {}, Acl(ALICE.account_id, ""))
    return upload, await store.put_part(upload, 1, Body(data))


def _racing(store: Store, during_copy):
    """Run `during_copy()` after complete() has read the parts, before it commits."""
    copy = store.blobs.copy

    async def copy_then_race(sources):
        result = await copy(sources)
        store.blobs.copy = copy
        await during_copy()
        return result
    store.blobs.copy = copy_then_race


def test_part_replaced_while_completing_fails_the_complete(tmp_path):
    async def test(store):
        upload, old = await _upload_with_part(store, b"old")
        _racing(store, lambda: store.put_part(upload, 1, Body(b"new")))
        with pytest.raises(errors.InvalidPart):
            await store.complete(upload, [(1, old.etag)])
        assert await store.get("b", "k") is None
        # The upload and its current part survive: the client can complete again.
        [part] = await store.parts(upload.upload_id)
        assert part.etag == hashlib.md5(b"new").hexdigest()
        obj = await store.complete(upload, [(1, part.etag)])
        with await store.open(obj) as content:
            assert content.file.read() == b"new"
    _with_store(tmp_path, test)


def test_abort_while_completing_leaves_no_object(tmp_path):
    async def test(store):
        upload, part = await _upload_with_part(store, b"data")
        _racing(store, lambda: store.abort(upload))
        with pytest.raises(errors.NoSuchUpload):
            await store.complete(upload, [(1, part.etag)])
        assert await store.get("b", "k") is None
    _with_store(tmp_path, test)


def test_get_racing_an_overwrite_checks_the_new_objects_acl(tmp_path):
    """Dispatch read a public object; a PUT made it private (and removed the old blob)
    before the GET opened it: the GET serves the new version only if its ACL allows."""
    from types import SimpleNamespace

    from walrus.acl import ANONYMOUS, canned
    from walrus.api.objects import get_object

    async def test(store):
        public = await store.put("b", "k", Body(b"public"), ALICE, {},
                                 canned("public-read", ALICE.account_id, "alice"))
        await store.put("b", "k", Body(b"private"), ALICE, {},
                        canned("private", ALICE.account_id, "alice"))
        await store.blobs.drain()  # the public version's blob is gone
        ctx = SimpleNamespace(store=store, obj=public, who=ANONYMOUS, query={}, headers={},
                              bucket=await store.bucket("b"), key="k")
        with pytest.raises(errors.AccessDenied):
            await get_object(ctx)
    _with_store(tmp_path, test)
