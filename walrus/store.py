"""The bucket store's rules: buckets, objects and multipart uploads on top of
the metadata database and the blobs (walrus/blobs.py: files, or rows of
walrus.db for small ones). No HTTP here.

Every change that makes bytes visible is: write a blob with durable data (or
hold a small one's bytes), then one transaction (committed with its group,
after a blob file's directory is fsynced) that records an inline blob's
bytes, re-checks its preconditions, swaps the row and adjusts the owner's
usage; the inline blobs a transaction replaced go in it, the files after it
commits (`Store._commit`, the one way every such change is written). The
commit of a new blob runs to its end even if the request is cancelled, so a
blob is removed only when no committed row can name it.
"""
from __future__ import annotations

import asyncio
import hashlib
import io
import json
import operator
import os
import re
import time
import uuid
from collections import deque
from dataclasses import dataclass
from functools import partial
from typing import Awaitable, BinaryIO, Callable, Iterator, NamedTuple

from mallee.faults import crash_point
from walrus import checksums, direct, errors, objectlock, sse
from walrus.acl import Acl, Principal
from walrus.blobs import SMALL_BLOB, BlobStore, NewBlob
from walrus.db import Database
from walrus.ids import unique_hex
from walrus.objectlock import NO_LOCK, Lock
from walrus.tags import Tags

# S3's size limits: one PutObject, UploadPart or CopyObject carries at most 5 GiB;
# an object of up to 5 TiB is made by completing a multipart upload.
MAX_SINGLE_PUT = 5 * 1024 ** 3
MAX_PART_SIZE = 5 * 1024 ** 3
MAX_COPY_SOURCE = 5 * 1024 ** 3
MAX_OBJECT_SIZE = 5 * 1024 ** 4
MIN_PART_SIZE = 5 * 1024 * 1024
MAX_PART_NUMBER = 10000
OPEN_TRIES = 5  # replaced objects followed by one GET before it gives up
DIRECT_ABOVE = SMALL_BLOB  # larger objects are read past the page cache, as they were written
READ_AHEAD = 2  # a large GET's spans being read while one is sent
NULL_VERSION = "null"
# A version id: the version's place in its key's history (12 hex digits) and 20 random
# ones, so a ListObjectVersions marker whose version was deleted meanwhile still says
# where to go on from.
_VERSION_ID = re.compile(r"[0-9a-f]{32}")


@dataclass(frozen=True)
class Bucket:
    name: str
    owner_id: str
    owner_name: str
    region: str
    created: float
    acl: Acl
    versioning: str = ""  # "" (never versioned), "Enabled" or "Suspended"


@dataclass(frozen=True)
class Object:
    bucket: str
    key: str
    blob: str
    size: int
    etag: str            # without quotes
    last_modified: float
    owner_id: str
    owner_name: str
    headers: dict        # stored response headers: Content-Type, x-amz-meta-*, ...
    acl: Acl
    id: str = ""         # this row's own id: its tags are keyed by it, not by (bucket, key)
    tag_count: int = 0   # read by `get` (x-amz-tagging-count); listings leave it 0
    tags: Tags | None = None  # read only when asked for (`get(..., with_tags=True)`)
    version_id: str = NULL_VERSION
    seq: int = 0             # place in the key's history, larger is newer
    is_marker: bool = False  # a delete marker (no bytes; `blob` is "")
    is_latest: bool = True
    lock: Lock = NO_LOCK     # Object Lock retention and legal hold of this version
    encryption: str = ""     # how its blob is sealed (walrus/sse.py's Encryption), '': plain


class Listed(NamedTuple):
    """An object or version as a listing shows it: the columns it writes, read without
    the metadata and ACL (JSON) an `Object` carries, which a 1,000-entry page would
    otherwise decode and throw away."""
    key: str
    version_id: str
    seq: int
    etag: str
    size: int
    last_modified: float
    owner_id: str
    owner_name: str
    is_marker: bool = False  # (listings' pages hold 0/1 here and below, as sqlite gives)
    is_latest: bool = True


_LISTED = "key, version_id, seq, etag, size, last_modified, owner_id, owner_name"


_new_listed = tuple.__new__  # Listed from a 10-column row, without NamedTuple's __new__


class ObjectContent:
    """An object's bytes, open for reading: `obj` is the version they belong to (a newer
    one than asked for if the object was replaced meanwhile). A context manager."""

    def __init__(self, obj: "Object", file: BinaryIO):
        self.obj = obj
        # A real file, which asyncio's loop.sendfile can send in the kernel, or an
        # inline blob's bytes in memory (`in_memory`).
        self.file = file
        self._sealed: direct.ReaderFile | None = None

    @property
    def in_memory(self) -> bool:
        return isinstance(self.file, io.BytesIO)

    def span(self, offset: int, length: int) -> bytes:
        """`length` bytes from `offset` of in-memory content, at once."""
        data = self.file.getvalue()[offset:offset + length]
        if len(data) != length:
            raise OSError(f"blob {self.obj.blob} is shorter than its object")
        return data

    def chunks(self, offset: int, length: int, size: int = 1 << 20) -> Iterator[bytes]:
        """`length` bytes from `offset`, for transports that cannot sendfile."""
        self.file.seek(offset)
        remaining = length
        while remaining:
            chunk = self.file.read(min(size, remaining))
            if not chunk:
                raise OSError(f"blob {self.obj.blob} is shorter than its object")
            remaining -= len(chunk)
            yield chunk

    async def send(self, offset: int, length: int,
                   write: Callable[[bytes], Awaitable[None]]) -> None:
        """write() the span piece by piece, read past the page cache (walrus.direct, as
        large blobs are written) on reader threads, READ_AHEAD pieces ahead of the one
        being written."""
        reader = direct.Reader(self.file.fileno())
        spans = iter([(at, min(direct.READ_SPAN, offset + length - at))
                      for at in range(offset, offset + length, direct.READ_SPAN)])
        reads: deque = deque()

        def read_ahead() -> None:
            while len(reads) < READ_AHEAD:
                span = next(spans, None)
                if span is None:
                    return
                reads.append((span[1], direct.readers.submit(reader.read, *span)))
        read_ahead()
        try:
            while reads:
                n, future = reads[0]
                data = await asyncio.wrap_future(future)
                reads.popleft()
                if len(data) != n:
                    raise OSError(f"blob {self.obj.blob} is shorter than its object")
                read_ahead()
                await write(data)
        finally:
            direct.close_after(reader, [future for _, future in reads])

    def sealed_file(self):
        """The blob as a seek/readinto file for decrypting: read past the page cache when
        large (walrus.direct), else the open file itself."""
        if self.obj.size <= DIRECT_ABOVE:
            return self.file
        if self._sealed is None:
            self._sealed = direct.ReaderFile(direct.Reader(self.file.fileno()))
        return self._sealed

    def close(self) -> None:
        if self._sealed is not None:
            self._sealed.close()
        self.file.close()

    def __enter__(self) -> "ObjectContent":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


@dataclass(frozen=True)
class Deleted:
    """What a DeleteObject(s) did to one key: the version asked for (None: the key), and
    whether a delete marker was made (its id) or was the version removed."""
    key: str
    version_id: str | None = None
    delete_marker: bool = False
    marker_version_id: str | None = None
    refused: bool = False  # the version is locked (Object Lock): nothing was done


@dataclass(frozen=True)
class Upload:
    upload_id: str
    bucket: str
    key: str
    initiated: float
    owner_id: str
    owner_name: str
    headers: dict
    acl: Acl
    tags: Tags = ()      # x-amz-tagging of the create, the object's tags once completed
    encryption: str = ""  # the parts' data key (walrus/sse.py's Encryption), '': plain


@dataclass(frozen=True)
class Part:
    number: int
    blob: str
    size: int
    etag: str
    last_modified: float
    checksum: str = ""   # "algorithm:base64" the part was sent with, or ""
    encryption: str = ""  # its blob's sealed segments (JSON list), '': plain


def _bucket(row) -> Bucket:
    return Bucket(row["name"], row["owner_id"], row["owner_name"], row["region"],
                  row["created"], Acl.from_json(row["acl"]), row["versioning"])


def _object(row, tags: Tags | None = None, is_latest: bool = True) -> Object:
    names = row.keys()
    return Object(row["bucket"], row["key"], row["blob"], row["size"], row["etag"],
                  row["last_modified"], row["owner_id"], row["owner_name"],
                  json.loads(row["headers"]), Acl.from_json(row["acl"]), row["id"],
                  row["tag_count"] if "tag_count" in names else 0, tags,
                  row["version_id"], row["seq"],
                  bool(row["is_marker"]) if "is_marker" in names else False, is_latest,
                  _lock(row), row["encryption"])


def _lock(row) -> Lock:
    if not row["lock_mode"] and not row["legal_hold"]:
        return NO_LOCK
    return Lock(row["lock_mode"], row["lock_until"], row["legal_hold"])


def check_version_id(version_id: str) -> None:
    """InvalidArgument, as S3 answers, for a versionId no version of ours can have."""
    if version_id != NULL_VERSION and not _VERSION_ID.fullmatch(version_id):
        raise errors.InvalidArgument("Invalid version id specified", ArgumentName="versionId",
                                     ArgumentValue=version_id)


def _new_version_id(seq: int) -> str:
    return f"{seq:012x}{unique_hex(20)}"


def seq_of_version_id(version_id: str) -> int | None:
    """Where a (perhaps deleted) version stood in its key's history, from its id."""
    return int(version_id[:12], 16) if _VERSION_ID.fullmatch(version_id) else None


_COLUMNS = ("bucket, key, blob, size, etag, last_modified, owner_id, owner_name, headers, "
            "acl, id, version_id, seq, lock_mode, lock_until, legal_hold, encryption")


def _current(conn, bucket: str, key: str):
    return conn.execute("SELECT * FROM objects WHERE bucket=? AND key=?",
                        (bucket, key)).fetchone()


def _next_seq(conn, bucket: str, key: str, current) -> int:
    row = conn.execute("SELECT seq FROM versions WHERE bucket=? AND key=? ORDER BY seq DESC "
                       "LIMIT 1", (bucket, key)).fetchone()
    return max(current["seq"] if current else -1, row[0] if row else -1) + 1


def _demote(conn, bucket: str, key: str) -> None:
    """The current object becomes a noncurrent version (a newer one is coming)."""
    conn.execute(f"INSERT INTO versions ({_COLUMNS}, is_marker) SELECT {_COLUMNS}, 0 "
                 "FROM objects WHERE bucket=? AND key=?", (bucket, key))
    conn.execute("DELETE FROM objects WHERE bucket=? AND key=?", (bucket, key))


def _promote(conn, bucket: str, key: str) -> None:
    """After a version of `key` was removed: if no current object is left and the newest
    remaining version is not a delete marker, it is the current object again."""
    if _current(conn, bucket, key) is not None:
        return
    row = conn.execute("SELECT seq, is_marker FROM versions WHERE bucket=? AND key=? "
                       "ORDER BY seq DESC LIMIT 1", (bucket, key)).fetchone()
    if row is None or row["is_marker"]:
        return
    conn.execute(f"INSERT INTO objects ({_COLUMNS}) SELECT {_COLUMNS} FROM versions "
                 "WHERE bucket=? AND key=? AND seq=?", (bucket, key, row["seq"]))
    conn.execute("DELETE FROM versions WHERE bucket=? AND key=? AND seq=?",
                 (bucket, key, row["seq"]))


def _remove_version(conn, bucket: str, key: str, version_id: str):
    """Remove one version (object or marker) of `key`, wherever it is; returns its row
    (None if there is no such version). Its tags go with it; the caller frees its blob
    and bytes."""
    row = conn.execute("DELETE FROM objects WHERE bucket=? AND key=? AND version_id=? "
                       "RETURNING *, 0 AS is_marker", (bucket, key, version_id)).fetchone()
    if row is None:
        row = conn.execute("DELETE FROM versions WHERE bucket=? AND key=? AND version_id=? "
                           "RETURNING *", (bucket, key, version_id)).fetchone()
    if row is not None:
        _drop_owned(conn, [row["id"]])
    return row


def _upload(row) -> Upload:
    return Upload(row["upload_id"], row["bucket"], row["key"], row["initiated"], row["owner_id"],
                  row["owner_name"], json.loads(row["headers"]), Acl.from_json(row["acl"]),
                  tuple((k, v) for k, v in json.loads(row["tags"])), row["encryption"])


def _new_id() -> str:
    return unique_hex()


def _read_tags(conn, table: str, column: str, owner: str) -> Tags:
    return tuple((r[0], r[1]) for r in conn.execute(
        f"SELECT key, value FROM {table} WHERE {column}=? ORDER BY key", (owner,)))


def _write_tags(conn, table: str, column: str, owner: str, tags: Tags,
                fresh: bool = False) -> None:
    """Replace the tags of `owner` (an object id or a bucket name) with `tags`; a
    `fresh` owner (a row id just made) has none to replace, and no tags cost nothing."""
    if not fresh:
        conn.execute(f"DELETE FROM {table} WHERE {column}=?", (owner,))
    if not tags:
        return
    conn.executemany(f"INSERT INTO {table} ({column}, key, value) VALUES (?,?,?)",
                     [(owner, k, v) for k, v in tags])


def _drop_owned(conn, object_ids) -> None:
    """What belongs to removed object rows: their tags and their parts list."""
    ids = [(i,) for i in object_ids]
    conn.executemany("DELETE FROM object_tags WHERE object_id=?", ids)
    conn.executemany("DELETE FROM object_parts WHERE object_id=?", ids)


_OBJECT_WITH_COUNT = ("SELECT o.*, (SELECT count(*) FROM object_tags t WHERE t.object_id=o.id)"
                      " AS tag_count FROM objects o WHERE o.bucket=? AND o.key=?")
_VERSION_WITH_COUNT = ("SELECT v.*, (SELECT count(*) FROM object_tags t WHERE t.object_id=v.id)"
                       " AS tag_count FROM versions v WHERE v.bucket=? AND v.key=?")


def _missing(key: str, version_id: str | None) -> Exception:
    if version_id is None:
        return errors.NoSuchKey(Key=key)
    return errors.NoSuchVersion(Key=key, VersionId=version_id)


def _version_row_id(conn, bucket: str, key: str, version_id: str | None) -> str | None:
    """The row id (tags' owner) of a version that is not a marker; the current one
    without `version_id`."""
    if version_id is None:
        row = conn.execute("SELECT id FROM objects WHERE bucket=? AND key=?",
                           (bucket, key)).fetchone()
    else:
        row = conn.execute("SELECT id FROM objects WHERE bucket=? AND key=? AND version_id=?"
                           " UNION ALL SELECT id FROM versions WHERE bucket=? AND key=? AND "
                           "version_id=? AND NOT is_marker",
                           (bucket, key, version_id, bucket, key, version_id)).fetchone()
    return row[0] if row else None


def _part(row) -> Part:
    return Part(row["part_number"], row["blob"], row["size"], row["etag"], row["last_modified"],
                row["checksum"], row["encryption"])


def _add_usage(conn, account_id: str, delta: int, quota: int) -> None:
    row = conn.execute("SELECT bytes FROM usage WHERE account_id=?", (account_id,)).fetchone()
    current = row["bytes"] if row else 0
    if delta > 0 and quota and current + delta > quota:
        raise errors.QuotaExceeded(
            f"Storing {delta} more bytes would exceed the account's quota of {quota} bytes "
            f"({current} bytes in use).")
    conn.execute("INSERT INTO usage VALUES (?, ?) ON CONFLICT(account_id) DO UPDATE "
                 "SET bytes = bytes + excluded.bytes", (account_id, delta))


def _require_bucket(conn, name: str) -> Bucket:
    row = conn.execute("SELECT * FROM buckets WHERE name=?", (name,)).fetchone()
    if row is None:
        raise errors.NoSuchBucket(BucketName=name)
    return _bucket(row)


def _has_setting(conn, name: str, kind: str) -> bool:
    return conn.execute("SELECT 1 FROM bucket_settings WHERE bucket=? AND kind=?",
                        (name, kind)).fetchone() is not None


def _bucket_owner(conn, name: str) -> str:
    """The bucket's owner, re-checked inside a write transaction (cheaper than a Bucket)."""
    row = conn.execute("SELECT owner_id FROM buckets WHERE name=?", (name,)).fetchone()
    if row is None:
        raise errors.NoSuchBucket(BucketName=name)
    return row[0]


def _bucket_state(conn, name: str) -> tuple[str, str]:
    """The bucket's owner and versioning status, re-checked inside a write transaction."""
    row = conn.execute("SELECT owner_id, versioning FROM buckets WHERE name=?",
                       (name,)).fetchone()
    if row is None:
        raise errors.NoSuchBucket(BucketName=name)
    return row[0], row[1]


def check_size(size: int | None, limit: int) -> None:
    """EntityTooLarge, as S3 answers, for a known size over `limit`."""
    if size is not None and size > limit:
        raise errors.EntityTooLarge(ProposedSize=size, MaxSizeAllowed=limit)


def multipart_etag(part_etags: list[str]) -> str:
    digest = hashlib.md5(b"".join(bytes.fromhex(e) for e in part_etags)).hexdigest()
    return f"{digest}-{len(part_etags)}"


def _locked_version(conn, bucket: str, key: str, version_id: str, now: float,
                    bypass: bool) -> bool:
    """Whether Object Lock forbids removing this version now."""
    row = conn.execute("SELECT lock_mode, lock_until, legal_hold FROM objects WHERE bucket=? "
                       "AND key=? AND version_id=? UNION ALL SELECT lock_mode, lock_until, "
                       "legal_hold FROM versions WHERE bucket=? AND key=? AND version_id=?",
                       (bucket, key, version_id, bucket, key, version_id)).fetchone()
    return row is not None and objectlock.deletion_refused(_lock(row), now, bypass)


def _delete_one(conn, bucket: str, key: str, version_id: str | None, versioning: str,
                now: float, who: Principal, bypass: bool = False
                ) -> tuple[list[str], int, Deleted]:
    """One key of a DeleteObject(s) (or a lifecycle expiry), in the caller's transaction:
    the blobs it freed, the bytes it gave back and what it did. The caller adjusts the
    bucket owner's usage and frees the blobs after the commit. A version Object Lock
    keeps is not removed (`refused`); `bypass` is the owner's GOVERNANCE bypass."""
    freed, total = [], 0

    def gone(row):
        nonlocal total
        if row is not None:
            if row["blob"]:
                freed.append(row["blob"])
            total += row["size"]
    if version_id is not None:
        if _locked_version(conn, bucket, key, version_id, now, bypass):
            return freed, total, Deleted(key, version_id, refused=True)
        row = _remove_version(conn, bucket, key, version_id)
        gone(row)
        if row is not None:
            _promote(conn, bucket, key)
        marker = bool(row is not None and row["is_marker"])
        return freed, total, Deleted(key, version_id, marker, version_id if marker else None)
    if not versioning:
        row = conn.execute("DELETE FROM objects WHERE bucket=? AND key=? "
                           "RETURNING blob, size, id", (bucket, key)).fetchone()
        if row:
            gone(row)
            _drop_owned(conn, [row["id"]])
        return freed, total, Deleted(key)
    if versioning == "Suspended":
        gone(_remove_version(conn, bucket, key, NULL_VERSION))
    current = _current(conn, bucket, key)
    seq = _next_seq(conn, bucket, key, current)
    if current:
        _demote(conn, bucket, key)
    marker_id = _new_version_id(seq) if versioning == "Enabled" else NULL_VERSION
    conn.execute(f"INSERT INTO versions ({_COLUMNS}, is_marker) "
                 "VALUES (?,?,'',0,'',?,?,?,'{}',?,?,?,?,'',0,'','',1)",
                 (bucket, key, now, who.account_id, who.account_name,
                  Acl(who.account_id, who.account_name).to_json(), _new_id(), marker_id, seq))
    return freed, total, Deleted(key, None, True, marker_id)


class Store:
    def __init__(self, db: Database, blobs: BlobStore, max_buckets: int, max_bytes: int):
        self.db = db
        self.blobs = blobs
        self.max_buckets = max_buckets
        self.max_bytes = max_bytes
        # Buckets by name, as last read. Walrus is its database's only writer and every
        # bucket change goes through `_bucket_changed`; `_bucket_epoch` keeps a read that
        # raced a change from caching what it saw. Writes re-check the bucket anyway.
        self._buckets: dict[str, Bucket] = {}
        self._bucket_epoch = 0
        # Each bucket's configuration documents by kind (None: has none), as last read.
        self._settings: dict[str, dict[str, str | None]] = {}

    def _bucket_changed(self, name: str) -> None:
        self._bucket_epoch += 1
        self._buckets.pop(name, None)
        self._settings.pop(name, None)

    async def close(self) -> None:
        """Finish background blob work (the database is its owner's to close)."""
        await self.blobs.close()

    async def sweep_orphans(self) -> int:
        """Remove blob files no row names (a write killed before its commit), and inline
        blobs no row names (none should be: each comes and goes with its row)."""
        def referenced(conn):
            names = {r[0] for r in conn.execute("SELECT blob FROM objects")}
            names |= {r[0] for r in conn.execute("SELECT blob FROM versions WHERE blob != ''")}
            names |= {r[0] for r in conn.execute("SELECT blob FROM parts")}
            return names
        removed = self.blobs.sweep(await self.db.read(referenced))
        return removed + await self.db.write(lambda conn: conn.execute(
            "DELETE FROM inline_blobs WHERE name NOT IN (SELECT blob FROM objects UNION ALL "
            "SELECT blob FROM versions UNION ALL SELECT blob FROM parts)").rowcount)

    async def _commit(self, fn, new: NewBlob | None = None, crash_at: str = ""):
        """Commit fn(conn), which returns (the blobs its change freed, its result), and
        return its result: `new`, the blob its row names, is recorded in the same
        transaction (inline bytes) or made durable before it (a file's directory); if
        fn fails, `new` is discarded. Freed inline blobs go in the transaction, freed
        files once it commits (after the crash point `crash_at`). Runs to its end even
        if the caller is cancelled."""
        def change(conn):
            self.blobs.record(conn, new)
            freed, result = fn(conn)
            return self.blobs.release(conn, freed), result

        async def settle():
            try:
                files, result = await self.db.write(change, sync_dirs=self.blobs.sync_dirs(new))
            except BaseException:
                if new is not None:
                    self.blobs.discard(new)
                raise
            if crash_at:
                crash_point(crash_at)
            self.blobs.delete_later(files)
            return result
        task = asyncio.ensure_future(settle())
        task.add_done_callback(lambda t: t.cancelled() or t.exception())
        return await asyncio.shield(task)

    # --- totals, for the metrics -------------------------------------------
    async def totals(self) -> tuple[int, int, int]:
        """(bytes stored, objects, buckets): the usage rows (one per account), the
        trigger-kept object count (migration 0011) and the buckets table; no object scan."""
        def read(conn):
            stored = conn.execute("SELECT coalesce(sum(bytes), 0) FROM usage").fetchone()[0]
            objects = conn.execute("SELECT objects FROM object_totals").fetchone()[0]
            buckets = conn.execute("SELECT count(*) FROM buckets").fetchone()[0]
            return stored, objects, buckets
        return await self.db.read(read)

    # --- quotas -----------------------------------------------------------
    async def check_room(self, account_id: str, incoming: int | None) -> None:
        """Refuse early, before streaming, an upload that cannot fit."""
        if not self.max_bytes or not incoming:
            return
        row = await self.db.one("SELECT bytes FROM usage WHERE account_id=?", account_id)
        if (row["bytes"] if row else 0) + incoming > self.max_bytes:
            raise errors.QuotaExceeded(
                f"This upload of {incoming} bytes would exceed the account's quota of "
                f"{self.max_bytes} bytes.")

    # --- buckets ----------------------------------------------------------
    async def bucket(self, name: str) -> Bucket:
        cached = self._buckets.get(name)
        if cached is not None:
            return cached
        epoch = self._bucket_epoch
        row = await self.db.one("SELECT * FROM buckets WHERE name=?", name)
        if row is None:
            raise errors.NoSuchBucket(BucketName=name)
        found = _bucket(row)
        if epoch == self._bucket_epoch:
            if len(self._buckets) >= 10000:
                self._buckets.clear()
            self._buckets[name] = found
        return found

    async def bucket_count(self) -> int:
        return (await self.db.one("SELECT count(*) AS n FROM buckets"))["n"]

    async def create_bucket(self, who: Principal, name: str, region: str, acl: Acl,
                            settings: dict[str, str] | None = None,
                            object_lock: bool = False) -> Bucket:
        """A new bucket. `settings`: configuration documents by kind the bucket starts
        with (the ownership controls CreateBucket may name), written in the same
        transaction; with `object_lock` (x-amz-bucket-object-lock-enabled) it is
        versioned from the start and has its Object Lock configuration (no rule yet)."""
        now = time.time()
        versioning = "Enabled" if object_lock else ""

        def create(conn):
            row = conn.execute("SELECT owner_id FROM buckets WHERE name=?", (name,)).fetchone()
            if row is not None:
                if row["owner_id"] == who.account_id:
                    raise errors.BucketAlreadyOwnedByYou(BucketName=name)
                raise errors.BucketAlreadyExists(BucketName=name)
            owned = conn.execute("SELECT count(*) FROM buckets WHERE owner_id=?",
                                 (who.account_id,)).fetchone()[0]
            if self.max_buckets and owned >= self.max_buckets:
                raise errors.TooManyBuckets(
                    f"This account already has {owned} buckets, the most allowed.")
            conn.execute("INSERT INTO buckets (name, owner_id, owner_name, region, created, acl,"
                         " versioning) VALUES (?,?,?,?,?,?,?)",
                         (name, who.account_id, who.account_name, region, now, acl.to_json(),
                          versioning))
            documents = dict(settings or {})
            if object_lock:
                documents[objectlock.KIND] = objectlock.enabled_document()
            for kind, document in documents.items():
                conn.execute("INSERT INTO bucket_settings VALUES (?,?,?)", (name, kind, document))
        try:
            await self.db.write(create)
        finally:
            self._bucket_changed(name)
        return Bucket(name, who.account_id, who.account_name, region, now, acl, versioning)

    async def delete_bucket(self, name: str) -> None:
        def delete(conn):
            bucket = _require_bucket(conn, name)
            if conn.execute("SELECT 1 FROM objects WHERE bucket=? LIMIT 1", (name,)).fetchone() \
                    or conn.execute("SELECT 1 FROM versions WHERE bucket=? LIMIT 1",
                                    (name,)).fetchone():
                # Any version or marker counts; S3 says so when the bucket keeps versions
                # (`aws s3 rb --force` leaves them: it deletes current objects only).
                message = None if not bucket.versioning else \
                    f"{errors.BucketNotEmpty.default_message}. You must delete all versions " \
                    "in the bucket."
                raise errors.BucketNotEmpty(message, BucketName=name)
            uploads = [r[0] for r in conn.execute(
                "SELECT upload_id FROM uploads WHERE bucket=?", (name,))]
            blobs = []
            for upload_id in uploads:
                blobs += self._drop_upload(conn, upload_id)
            conn.execute("DELETE FROM bucket_tags WHERE bucket=?", (name,))
            conn.execute("DELETE FROM bucket_settings WHERE bucket=?", (name,))
            conn.execute("DELETE FROM buckets WHERE name=?", (name,))
            return blobs, None
        try:
            await self._commit(delete)
        finally:
            self._bucket_changed(name)

    async def list_buckets(self, who: Principal) -> list[Bucket]:
        rows = await self.db.all("SELECT * FROM buckets WHERE owner_id=? ORDER BY name",
                                 who.account_id)
        return [_bucket(r) for r in rows]

    async def set_bucket_acl(self, name: str, acl: Acl) -> None:
        try:
            await self.db.write(lambda c: c.execute("UPDATE buckets SET acl=? WHERE name=?",
                                                    (acl.to_json(), name)))
        finally:
            self._bucket_changed(name)

    async def set_bucket_versioning(self, name: str, status: str) -> None:
        """PutBucketVersioning: "Enabled" or "Suspended" (never back to unversioned); a
        bucket with Object Lock stays Enabled."""
        def write(conn):
            _require_bucket(conn, name)
            if status != "Enabled" and _has_setting(conn, name, objectlock.KIND):
                raise errors.InvalidBucketState(
                    "An Object Lock configuration is present on this bucket, so the "
                    "versioning state cannot be changed.")
            conn.execute("UPDATE buckets SET versioning=? WHERE name=?", (status, name))
        try:
            await self.db.write(write)
        finally:
            self._bucket_changed(name)

    async def bucket_tags(self, name: str) -> Tags:
        """The bucket's tags (none: an empty tuple), NoSuchBucket if it is gone."""
        def read(conn):
            _require_bucket(conn, name)
            return _read_tags(conn, "bucket_tags", "bucket", name)
        return await self.db.read(read)

    async def set_bucket_tags(self, name: str, tags: Tags) -> None:
        """Replace the bucket's tag set (PutBucketTagging; () for DeleteBucketTagging)."""
        def write(conn):
            _require_bucket(conn, name)
            _write_tags(conn, "bucket_tags", "bucket", name, tags)
        await self.db.write(write)

    async def bucket_setting(self, name: str, kind: str) -> str | None:
        """A bucket's configuration document of `kind` (cors, lifecycle, policy, ...) as
        stored, None when it has none or is gone. Read on many requests (CORS on every
        one with an Origin, lifecycle on every PUT and GET), so cached until the bucket
        changes; `_bucket_epoch` keeps a read that raced a change from being cached."""
        kinds = self._settings.get(name)
        if kinds is not None and kind in kinds:
            return kinds[kind]
        epoch = self._bucket_epoch
        row = await self.db.one("SELECT document FROM bucket_settings WHERE bucket=? AND kind=?",
                                name, kind)
        document = row["document"] if row else None
        if epoch == self._bucket_epoch:
            if len(self._settings) >= 10000:
                self._settings.clear()
            self._settings.setdefault(name, {})[kind] = document
        return document

    async def bucket_settings(self, name: str, kinds: tuple[str, ...]) -> tuple[str | None, ...]:
        """Two or more kinds of `bucket_setting` at once: every request reads the access
        settings, so once cached they cost one dictionary look-up."""
        cached = self._settings.get(name)
        if cached is not None:
            try:
                return operator.itemgetter(*kinds)(cached)
            except KeyError:
                pass
        return tuple([await self.bucket_setting(name, kind) for kind in kinds])

    async def set_bucket_setting(self, name: str, kind: str, document: str | None) -> None:
        """Replace the bucket's `kind` document (None: the Delete call of that kind).
        Object Lock needs versioning Enabled (AWS lets an existing versioned bucket turn
        it on; it is never turned off)."""
        def write(conn):
            bucket = _require_bucket(conn, name)
            if kind == objectlock.KIND and bucket.versioning != "Enabled":
                raise errors.InvalidBucketState("Versioning must be 'Enabled' on the bucket "
                                                "to apply a Object Lock configuration")
            conn.execute("DELETE FROM bucket_settings WHERE bucket=? AND kind=?", (name, kind))
            if document is not None:
                conn.execute("INSERT INTO bucket_settings VALUES (?,?,?)",
                             (name, kind, document))
        try:
            await self.db.write(write)
        finally:
            self._bucket_changed(name)

    async def buckets_with_setting(self, kind: str) -> list[tuple[str, str]]:
        """Every (bucket, document) with a `kind` document, by bucket name."""
        return [(r[0], r[1]) for r in await self.db.all(
            "SELECT bucket, document FROM bucket_settings WHERE kind=? ORDER BY bucket", kind)]

    async def lifecycle_candidates(self, bucket: str, prefix: str, kind: str, cutoff: float,
                                   after: str, limit: int) -> list[dict]:
        """Rows a lifecycle rule may act on, by key from after `after`, at most `limit`:
        kind "current" (objects last modified before `cutoff`), "noncurrent" (versions
        that became noncurrent before `cutoff`, with `newer`: how many noncurrent
        versions of the key are newer), "marker" (delete markers that are their key's
        only version), "upload" (uploads initiated before `cutoff`). With tags."""
        hi = prefix + "\U0010ffff"
        if kind == "current":
            sql = ("SELECT key, version_id, id, size, last_modified FROM objects WHERE "
                   "bucket=? AND key>=? AND key<? AND key>? AND last_modified<=? "
                   "ORDER BY key LIMIT ?")
        elif kind == "noncurrent":
            sql = ("SELECT * FROM (SELECT v.key, v.version_id, v.id, v.size, v.is_marker, "
                   "coalesce((SELECT w.last_modified FROM versions w WHERE w.bucket=v.bucket "
                   "AND w.key=v.key AND w.seq>v.seq ORDER BY w.seq LIMIT 1), (SELECT "
                   "o.last_modified FROM objects o WHERE o.bucket=v.bucket AND o.key=v.key))"
                   " AS since, (SELECT count(*) FROM versions w WHERE w.bucket=v.bucket AND "
                   "w.key=v.key AND w.seq>v.seq) - (CASE WHEN EXISTS (SELECT 1 FROM objects "
                   "o WHERE o.bucket=v.bucket AND o.key=v.key) THEN 0 ELSE 1 END) AS newer "
                   "FROM versions v WHERE v.bucket=? AND v.key>=? AND v.key<? AND v.key>?) "
                   "WHERE since IS NOT NULL AND since<=? ORDER BY key LIMIT ?")
        elif kind == "marker":
            sql = ("SELECT v.key, v.version_id, v.id, 0 AS size, v.last_modified FROM versions"
                   " v WHERE v.bucket=? AND v.key>=? AND v.key<? AND v.key>? AND v.is_marker "
                   "AND v.last_modified<=? AND NOT EXISTS (SELECT 1 FROM versions w WHERE "
                   "w.bucket=v.bucket AND w.key=v.key AND w.seq!=v.seq) AND NOT EXISTS "
                   "(SELECT 1 FROM objects o WHERE o.bucket=v.bucket AND o.key=v.key) "
                   "ORDER BY v.key LIMIT ?")
        else:
            sql = ("SELECT key, upload_id AS version_id, '' AS id, 0 AS size FROM uploads "
                   "WHERE bucket=? AND key>=? AND key<? AND key>? AND initiated<=? "
                   "ORDER BY key LIMIT ?")

        def read(conn):
            rows = [dict(r) for r in conn.execute(sql, (bucket, prefix, hi, after, cutoff,
                                                        limit))]
            for row in rows:
                row["tags"] = _read_tags(conn, "object_tags", "object_id", row["id"]) \
                    if row["id"] else ()
            return rows
        return await self.db.read(read)

    async def lifecycle_apply(self, bucket: str, actions: list[tuple[str, str, str]]) -> int:
        """Apply lifecycle actions in one transaction, each re-checked there, through the
        delete paths of DeleteObject(s): ("current", key, row id) expires the current
        object if it is still that row (a delete marker on a versioned bucket, else it is
        removed); ("noncurrent", key, version id) removes a version still noncurrent;
        ("marker", key, version id) a delete marker still its key's only version;
        ("upload", key, upload id) aborts an upload. Blobs go after the commit. Returns
        how many acted."""
        now = time.time()

        def apply(conn):
            owner_id, versioning = _bucket_state(conn, bucket)
            owner_name = conn.execute("SELECT owner_name FROM buckets WHERE name=?",
                                      (bucket,)).fetchone()[0]
            who = Principal(owner_id, owner_name)
            freed, total, done = [], 0, 0
            for kind, key, ident in actions:
                if kind == "upload":
                    if conn.execute("SELECT 1 FROM uploads WHERE upload_id=? AND bucket=?",
                                    (ident, bucket)).fetchone():
                        freed += self._drop_upload(conn, ident)
                        done += 1
                    continue
                current = _current(conn, bucket, key)
                if kind == "current":
                    if current is None or current["id"] != ident:
                        continue
                    version_id = None
                elif kind == "noncurrent":
                    newest = conn.execute("SELECT version_id FROM versions WHERE bucket=? AND"
                                          " key=? ORDER BY seq DESC LIMIT 1",
                                          (bucket, key)).fetchone()
                    if current is None and newest is not None and newest[0] == ident:
                        continue  # it became the current marker: not noncurrent
                    if conn.execute("SELECT 1 FROM versions WHERE bucket=? AND key=? AND "
                                    "version_id=?", (bucket, key, ident)).fetchone() is None:
                        continue
                    version_id = ident
                else:
                    rows = conn.execute("SELECT version_id, is_marker FROM versions WHERE "
                                        "bucket=? AND key=?", (bucket, key)).fetchall()
                    if current is not None or len(rows) != 1 or rows[0][0] != ident \
                            or not rows[0][1]:
                        continue
                    version_id = ident
                blobs, size, result = _delete_one(conn, bucket, key, version_id, versioning,
                                                  now, who)
                if result.refused:
                    continue  # Object Lock keeps it; a later pass may remove it
                freed += blobs
                total += size
                done += 1
            _add_usage(conn, owner_id, -total, 0)
            return freed, done
        return await self._commit(apply)

    # --- objects ----------------------------------------------------------
    async def get(self, bucket: str, key: str, with_tags: bool = False,
                  version_id: str | None = None) -> Object | None:
        """The object's row with its tag count, and with its tags if asked, all read in
        one transaction (so they belong to the same version of the object).

        Without `version_id`: the current object, or the delete marker that is the key's
        latest version (`is_marker`), or None. With one: that version (object or marker)
        or None."""
        def read(conn):
            row = conn.execute(_OBJECT_WITH_COUNT, (bucket, key)).fetchone()
            latest = True
            if version_id is None and row is None:
                row = conn.execute(_VERSION_WITH_COUNT + " ORDER BY v.seq DESC LIMIT 1",
                                   (bucket, key)).fetchone()
                if row is None or not row["is_marker"]:
                    return None  # (a noncurrent object under no marker cannot be)
            elif version_id is not None and (row is None or row["version_id"] != version_id):
                current = row
                row = conn.execute(_VERSION_WITH_COUNT + " AND v.version_id=?",
                                   (bucket, key, version_id)).fetchone()
                if row is None:
                    return None
                latest = current is None and row["is_marker"] and conn.execute(
                    "SELECT max(seq) FROM versions WHERE bucket=? AND key=?",
                    (bucket, key)).fetchone()[0] == row["seq"]
            return _object(row, _read_tags(conn, "object_tags", "object_id", row["id"])
                           if with_tags else None, latest)
        return await self.db.read(read)

    async def object_tags(self, bucket: str, key: str, version_id: str | None = None
                          ) -> Tags:
        """An object version's tags (GetObjectTagging), NoSuchKey/NoSuchVersion if it is
        gone."""
        obj = await self.get(bucket, key, with_tags=True, version_id=version_id)
        if obj is None or obj.is_marker:
            raise _missing(key, version_id)
        return obj.tags

    async def set_object_tags(self, bucket: str, key: str, tags: Tags,
                              version_id: str | None = None) -> None:
        """Replace an object version's tags (PutObjectTagging; () for
        DeleteObjectTagging); without `version_id`, the current object's."""
        def write(conn):
            object_id = _version_row_id(conn, bucket, key, version_id)
            if object_id is None:
                raise _missing(key, version_id)
            _write_tags(conn, "object_tags", "object_id", object_id, tags)
        await self.db.write(write)

    async def change_lock(self, bucket: str, key: str, version_id: str | None,
                          change: Callable[[Lock], Lock]) -> Lock:
        """PutObjectRetention/PutObjectLegalHold: the version's lock becomes
        change(its lock), read and written in one transaction (`change` raises to refuse).
        Without `version_id`, the current object's. Returns the new lock."""
        def write(conn):
            for table in ("objects", "versions"):
                where = "bucket=? AND key=?" + ("" if version_id is None else
                                                 " AND version_id=?")
                if table == "versions":
                    if version_id is None:
                        break
                    where += " AND NOT is_marker"
                args = (bucket, key) if version_id is None else (bucket, key, version_id)
                row = conn.execute(f"SELECT lock_mode, lock_until, legal_hold FROM {table} "
                                   f"WHERE {where}", args).fetchone()
                if row is not None:
                    new = change(_lock(row))
                    conn.execute(f"UPDATE {table} SET lock_mode=?, lock_until=?, legal_hold=? "
                                 f"WHERE {where}", (new.mode, new.until, new.legal_hold, *args))
                    return new
            raise _missing(key, version_id)
        return await self.db.write(write)

    async def object_parts(self, object_id: str, after: int = 0, limit: int = 10000
                           ) -> list["Part"]:
        """The parts a completed upload made this object row of (none for a single PUT,
        or for an object completed before Walrus kept them), from part `after` on."""
        rows = await self.db.all("SELECT * FROM object_parts WHERE object_id=? AND "
                                 "part_number>? ORDER BY part_number LIMIT ?",
                                 object_id, after, limit)
        return [Part(r["part_number"], "", r["size"], "", 0.0, r["checksum"]) for r in rows]

    async def open(self, obj: Object, pinned: bool = False) -> ObjectContent:
        """The bytes of `obj` for reading. A PUT may replace the object (and remove its
        blob) between the caller's read of the row and this open: then the current
        version's bytes are returned, or NoSuchKey if the object is gone. A `pinned`
        version (asked for by its id) is never exchanged: NoSuchVersion if it is gone."""
        for _ in range(OPEN_TRIES):
            try:
                return ObjectContent(obj, await self.blobs.read(obj.blob))
            except FileNotFoundError:
                fresh = await self.get(obj.bucket, obj.key,
                                       version_id=obj.version_id if pinned else None)
                if fresh is None or fresh.is_marker:
                    raise _missing(obj.key, obj.version_id if pinned else None)
                if fresh.blob == obj.blob:
                    raise  # a committed row names a missing blob: not a race, a lost file
                obj = fresh
        raise errors.InternalError("The object changed too often while being read; retry.")

    async def _commit_object(self, bucket: str, key: str, new: NewBlob, size: int, etag: str,
                             owner: Principal, headers: dict, acl: Acl, tags: Tags,
                             extra=None, lock: Lock = NO_LOCK,
                             parts: tuple["Part", ...] = (), encryption: str = "") -> Object:
        """Point (bucket, key) at the new blob `new` (of plaintext `size`), as a new row with its own id and `tags`;
        charge the bucket owner. Unversioned, the replaced row goes with its tags; on an
        Enabled bucket it stays as a noncurrent version and the new one gets a version
        id; on a Suspended bucket the new one is the `null` version, replacing the old
        `null` version (current or not). `lock` is the new version's Object Lock,
        `parts` the parts a completed upload made it of."""
        now = time.time()
        object_id = _new_id()
        made = {}

        def commit(conn):
            owner_id, versioning = _bucket_state(conn, bucket)
            freed = []
            if extra is not None:  # e.g. release an upload's parts before charging the object
                freed += extra(conn)
            current = _current(conn, bucket, key)
            if not versioning:
                version_id, seq = NULL_VERSION, 0
                delta = size
                if current:
                    freed.append(current["blob"])
                    delta -= current["size"]
                    _drop_owned(conn, [current["id"]])
            else:
                seq = _next_seq(conn, bucket, key, current)
                delta = size
                if versioning == "Enabled":
                    version_id = _new_version_id(seq)
                else:
                    version_id = NULL_VERSION
                    replaced = _remove_version(conn, bucket, key, NULL_VERSION)
                    if replaced is not None:
                        freed += [replaced["blob"]] if replaced["blob"] else []
                        delta -= replaced["size"]
                        current = _current(conn, bucket, key)
                if current:
                    _demote(conn, bucket, key)
            _add_usage(conn, owner_id, delta, self.max_bytes)
            conn.execute(f"INSERT OR REPLACE INTO objects ({_COLUMNS}) "
                         "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                         (bucket, key, new.name, size, etag, now, owner.account_id,
                          owner.account_name, json.dumps(headers), acl.to_json(), object_id,
                          version_id, seq, lock.mode, lock.until, lock.legal_hold, encryption))
            _write_tags(conn, "object_tags", "object_id", object_id, tags, fresh=True)
            conn.executemany("INSERT INTO object_parts VALUES (?,?,?,?)",
                             [(object_id, p.number, p.size, p.checksum) for p in parts])
            made.update(version_id=version_id, seq=seq)
            return freed, None
        await self._commit(commit, new)
        return Object(bucket, key, new.name, size, etag, now, owner.account_id, owner.account_name,
                      headers, acl, object_id, len(tags), tags, made["version_id"],
                      made["seq"], lock=lock, encryption=encryption)

    async def _write_sealed(self, body, sealer: "sse.Sealer | None"
                            ) -> tuple[NewBlob, int, str, str]:
        """Stream `body` (plaintext with `size` and `etag` once read: a RequestBody or a
        `_Plain`) into a new blob, sealed by `sealer` if given: (blob, plaintext size,
        ETag, the blob's segments as stored in a part row or '')."""
        if sealer is None:
            new = await self.blobs.write(body)
            return new, new.size, body.etag, ""
        prefix = sse.new_prefix()
        new = await self.blobs.write(sealer.encrypt(body, prefix))
        return new, body.size, sealer.etag(body.etag), json.dumps([[body.size, prefix.hex()]])

    async def put(self, bucket: str, key: str, body, owner: Principal, headers: dict,
                  acl: Acl, tags: Tags = (), lock: Lock = NO_LOCK,
                  sealer: "sse.Sealer | None" = None) -> Object:
        """Stream `body` (a walrus.body.RequestBody) into the object, encrypted with
        `sealer`'s data key if given."""
        new, size, etag, segments = await self._write_sealed(body, sealer)
        crash_point("walrus.put.blob_written")
        if body.checksum:
            headers = {**headers, f"x-amz-checksum-{body.checksum[0]}": body.checksum[1]}
        obj = await self._commit_object(bucket, key, new, size, etag, owner, headers, acl,
                                        tags, lock=lock, encryption=_sealed_as(sealer, segments))
        crash_point("walrus.put.committed")
        return obj

    async def copy(self, source: Object, bucket: str, key: str, owner: Principal,
                   headers: dict, acl: Acl, tags: Tags, lock: Lock = NO_LOCK,
                   source_key: bytes | None = None, sealer: "sse.Sealer | None" = None
                   ) -> Object:
        """Copy `source` (read with its tags, for a COPY tagging directive) to bucket/key,
        with `tags` as the new object's tags. An encrypted source is read with its data
        key `source_key`; the copy is sealed by `sealer` if given."""
        if source.size > MAX_COPY_SOURCE:
            raise errors.InvalidRequest(
                "The specified copy source is larger than the maximum allowable size for a "
                f"copy source: {MAX_COPY_SOURCE}")
        if source.encryption or sealer is not None:
            new, size, etag, segments = await self._rewrite(source, 0, source.size,
                                                            source_key, sealer)
            return await self._commit_object(bucket, key, new, size, etag, owner, headers,
                                             acl, tags, lock=lock,
                                             encryption=_sealed_as(sealer, segments))
        if source.bucket == bucket and source.key == key and source.is_latest \
                and source.version_id == NULL_VERSION:
            # Same bytes, new metadata, and the `null` version stays the `null` version:
            # keep the blob and swap only the row (an Enabled bucket makes a new version).
            now = time.time()

            def update(conn):
                if _bucket_state(conn, bucket)[1] == "Enabled":
                    return False
                cur = conn.execute(
                    "UPDATE objects SET headers=?, acl=?, last_modified=?, owner_id=?,"
                    " owner_name=? WHERE bucket=? AND key=? AND blob=? AND version_id=? "
                    "RETURNING id",
                    (json.dumps(headers), acl.to_json(), now, owner.account_id,
                     owner.account_name, bucket, key, source.blob, NULL_VERSION))
                row = cur.fetchone()
                if row is not None:
                    _write_tags(conn, "object_tags", "object_id", row["id"], tags)
                return True
            if await self.db.write(update):
                return Object(bucket, key, source.blob, source.size, source.etag, now,
                              owner.account_id, owner.account_name, headers, acl, source.id,
                              len(tags), tags, NULL_VERSION, source.seq)
        new = await self.blobs.copy([(source.blob, 0, source.size)])
        return await self._commit_object(bucket, key, new, new.size, source.etag, owner, headers,
                                         acl, tags, lock=lock)

    async def _rewrite(self, source: Object, offset: int, length: int,
                       source_key: bytes | None, sealer: "sse.Sealer | None"
                       ) -> tuple[NewBlob, int, str, str]:
        """A new blob of `length` bytes of `source`'s plaintext from `offset`, decrypted
        (if sealed) and sealed again by `sealer` (if given), a run of chunks at a time;
        as `_write_sealed`."""
        with await self.open(source, pinned=True) as content:
            return await self._write_sealed(_Plain(content, source_key, offset, length),
                                            sealer)

    async def set_object_acl(self, bucket: str, key: str, acl: Acl,
                             version_id: str | None = None) -> None:
        """PutObjectAcl of the current object, or of the version `version_id`."""
        def update(conn):
            if version_id is None:
                cur = conn.execute("UPDATE objects SET acl=? WHERE bucket=? AND key=?",
                                   (acl.to_json(), bucket, key))
            else:
                cur = conn.execute("UPDATE objects SET acl=? WHERE bucket=? AND key=? AND "
                                   "version_id=?", (acl.to_json(), bucket, key, version_id))
                if cur.rowcount == 0:
                    cur = conn.execute("UPDATE versions SET acl=? WHERE bucket=? AND key=? AND"
                                       " version_id=? AND NOT is_marker",
                                       (acl.to_json(), bucket, key, version_id))
            if cur.rowcount == 0:
                raise _missing(key, version_id)
        await self.db.write(update)

    async def delete(self, bucket: str, items: list[tuple[str, str | None]],
                     who: Principal, bypass: bool = False) -> list["Deleted"]:
        """DeleteObject(s): each (key, version id or None). Missing keys and versions are
        fine, as in S3. Without a version id an unversioned bucket drops the object; a
        versioned one adds a delete marker (Enabled: a new version; Suspended: the `null`
        version, replacing the old one). With one, that version (object or marker) goes,
        and the newest remaining version, if an object, is current again, unless Object
        Lock keeps it (`refused`; `bypass`: the owner's GOVERNANCE bypass)."""
        now = time.time()

        def delete(conn):
            owner_id, versioning = _bucket_state(conn, bucket)
            freed, total, results = [], 0, []
            for key, version_id in items:
                blobs, size, result = _delete_one(conn, bucket, key, version_id, versioning,
                                                  now, who, bypass)
                freed += blobs
                total += size
                results.append(result)
            _add_usage(conn, owner_id, -total, 0)
            return freed, results
        return await self._commit(delete, crash_at="walrus.delete.committed")

    async def list_page(self, bucket: str, start: str, inclusive: bool, limit: int
                        ) -> list[Listed]:
        """Current objects (no markers, no noncurrent versions) from `start`, by key."""
        op = ">=" if inclusive else ">"

        def read(conn):
            cursor = conn.cursor()
            cursor.row_factory = None  # plain tuples, made into Listed without a call
            return list(map(partial(_new_listed, Listed), cursor.execute(
                f"SELECT {_LISTED}, 0, 1 FROM objects WHERE bucket=? AND key {op} ? "
                "ORDER BY key LIMIT ?", (bucket, start, limit))))
        return await self.db.read(read)

    async def version_seq(self, bucket: str, key: str, version_id: str) -> int | None:
        """Where version `version_id` of `key` stands (a ListObjectVersions marker). A
        version id other than `null` says it itself (every one is made from its row's
        seq, which never changes), so only `null` is looked up: a page of a version
        listing costs no extra read."""
        if version_id != NULL_VERSION:
            return seq_of_version_id(version_id)
        row = await self.db.one(
            "SELECT seq FROM objects WHERE bucket=? AND key=? AND version_id=? UNION ALL "
            "SELECT seq FROM versions WHERE bucket=? AND key=? AND version_id=?",
            bucket, key, version_id, bucket, key, version_id)
        return row[0] if row else seq_of_version_id(version_id)

    async def version_page(self, bucket: str, start: str, inclusive: bool,
                           seq_below: int | None, limit: int) -> list[Listed]:
        """Every version (objects and markers) in (key, newest first) order: those of
        `start` older than `seq_below` if given, then those of the keys after `start`
        (from `start` itself if `inclusive`): the current objects' and the versions'
        index range reads, merged by sqlite as it reads them."""
        rest = (f"SELECT {_LISTED}, 0, 0 FROM objects WHERE bucket=?1 AND key=?2 AND seq<?4 "
                f"UNION ALL SELECT {_LISTED}, is_marker, 0 FROM versions WHERE bucket=?1 "
                "AND key=?2 AND seq<?4 UNION ALL ") if seq_below is not None else ""
        op = ">" if seq_below is not None or not inclusive else ">="
        # One merge of the index walks in sqlite, reading `limit` rows in all: the rest
        # of `start`'s versions (none of them its latest, listed before), then the
        # versions of the keys after it. A current object is its key's latest; a key's
        # first row from `versions` is its latest only when the key has no current
        # object (a marker is).
        sql = (f"{rest}SELECT {_LISTED}, 0, 1 FROM objects WHERE bucket=?1 AND key {op} ?2 "
               f"UNION ALL SELECT {_LISTED}, is_marker, 0 FROM versions WHERE bucket=?1 "
               f"AND key {op} ?2 ORDER BY key, seq DESC LIMIT ?3")

        def read(conn):
            cursor = conn.cursor()
            cursor.row_factory = None  # plain tuples, made into Listed without a call
            out: list[Listed] = []
            last_key = start if seq_below is not None else None
            args = (bucket, start, limit) if seq_below is None else (bucket, start, limit, seq_below)
            for row in cursor.execute(sql, args):
                if row[0] != last_key:
                    last_key = row[0]
                    if not row[9]:
                        row = (*row[:9], 1)
                out.append(_new_listed(Listed, row))
            return out
        return await self.db.read(read)

    # --- multipart --------------------------------------------------------
    async def create_upload(self, bucket: str, key: str, owner: Principal, headers: dict,
                            acl: Acl, tags: Tags = (), encryption: str = "") -> Upload:
        upload_id = uuid.uuid4().hex + uuid.uuid4().hex
        now = time.time()

        def create(conn):
            _require_bucket(conn, bucket)
            conn.execute("INSERT INTO uploads (upload_id, bucket, key, initiated, owner_id, "
                         "owner_name, headers, acl, tags, encryption) VALUES "
                         "(?,?,?,?,?,?,?,?,?,?)",
                         (upload_id, bucket, key, now, owner.account_id, owner.account_name,
                          json.dumps(headers), acl.to_json(), json.dumps(tags), encryption))
        await self.db.write(create)
        return Upload(upload_id, bucket, key, now, owner.account_id, owner.account_name,
                      headers, acl, tags, encryption)

    async def upload(self, bucket: str, key: str, upload_id: str) -> Upload:
        row = await self.db.one("SELECT * FROM uploads WHERE upload_id=?", upload_id)
        if row is None or row["bucket"] != bucket or row["key"] != key:
            raise errors.NoSuchUpload(UploadId=upload_id)
        return _upload(row)

    async def _commit_part(self, upload: Upload, number: int, new: NewBlob, size: int,
                           etag: str, checksum: str = "", encryption: str = "") -> Part:
        now = time.time()

        def commit(conn):
            if conn.execute("SELECT 1 FROM uploads WHERE upload_id=?",
                            (upload.upload_id,)).fetchone() is None:
                raise errors.NoSuchUpload(UploadId=upload.upload_id)
            owner_id = _bucket_owner(conn, upload.bucket)
            old = conn.execute("SELECT blob, size FROM parts WHERE upload_id=? AND part_number=?",
                               (upload.upload_id, number)).fetchone()
            _add_usage(conn, owner_id, size - (old["size"] if old else 0), self.max_bytes)
            conn.execute("INSERT OR REPLACE INTO parts (upload_id, part_number, blob, size, "
                         "etag, last_modified, checksum, encryption) VALUES (?,?,?,?,?,?,?,?)",
                         (upload.upload_id, number, new.name, size, etag, now, checksum,
                          encryption))
            return [old["blob"]] if old else [], None
        await self._commit(commit, new)
        return Part(number, new.name, size, etag, now, checksum, encryption)

    async def put_part(self, upload: Upload, number: int, body,
                       sealer: "sse.Sealer | None" = None) -> Part:
        """UploadPart; an encrypted upload's parts are sealed by its data key (`sealer`)."""
        new, size, etag, segments = await self._write_sealed(body, sealer)
        checksum = f"{body.checksum[0]}:{body.checksum[1]}" if body.checksum else ""
        return await self._commit_part(upload, number, new, size, etag, checksum, segments)

    async def copy_part(self, upload: Upload, number: int, source: Object, offset: int,
                        length: int, source_key: bytes | None = None,
                        sealer: "sse.Sealer | None" = None) -> Part:
        check_size(length, MAX_PART_SIZE)
        if source.encryption or sealer is not None:
            new, size, etag, segments = await self._rewrite(source, offset, length,
                                                            source_key, sealer)
            return await self._commit_part(upload, number, new, size, etag,
                                           encryption=segments)
        new = await self.blobs.copy([(source.blob, offset, length)])
        try:
            etag = await self.blobs.md5(new)
        except BaseException:
            self.blobs.discard(new)
            raise
        return await self._commit_part(upload, number, new, new.size, etag)

    async def parts(self, upload_id: str, after: int = 0, limit: int = 10000) -> list[Part]:
        rows = await self.db.all(
            "SELECT * FROM parts WHERE upload_id=? AND part_number>? ORDER BY part_number "
            "LIMIT ?", upload_id, after, limit)
        return [_part(r) for r in rows]

    async def uploads(self, bucket: str, key_marker: str, id_marker: str, limit: int
                      ) -> list[Upload]:
        rows = await self.db.all(
            "SELECT * FROM uploads WHERE bucket=? AND (key>? OR (key=? AND upload_id>?)) "
            "ORDER BY key, initiated, upload_id LIMIT ?",
            bucket, key_marker, key_marker, id_marker, limit)
        return [_upload(r) for r in rows]

    @staticmethod
    def _drop_upload(conn, upload_id: str) -> list[str]:
        upload = conn.execute("SELECT bucket FROM uploads WHERE upload_id=?",
                              (upload_id,)).fetchone()
        owner = conn.execute("SELECT owner_id FROM buckets WHERE name=?",
                             (upload["bucket"],)).fetchone()
        rows = conn.execute("DELETE FROM parts WHERE upload_id=? RETURNING blob, size",
                            (upload_id,)).fetchall()
        conn.execute("DELETE FROM uploads WHERE upload_id=?", (upload_id,))
        if owner:
            _add_usage(conn, owner["owner_id"], -sum(r["size"] for r in rows), 0)
        return [r["blob"] for r in rows]

    async def abort(self, upload: Upload) -> None:
        def abort(conn):
            if conn.execute("SELECT 1 FROM uploads WHERE upload_id=?",
                            (upload.upload_id,)).fetchone() is None:
                raise errors.NoSuchUpload(UploadId=upload.upload_id)
            return self._drop_upload(conn, upload.upload_id), None
        await self._commit(abort)

    async def complete(self, upload: Upload, requested: list[tuple],
                       lock: Lock = NO_LOCK, sent: tuple[str, str] | None = None) -> Object:
        """Join the requested parts (checked against what was uploaded) into the object.

        The parts are checked once to fail fast and copied, then checked again inside
        the commit: an UploadPart that replaced a part meanwhile fails the complete with
        InvalidPart (its ETag no longer matches the request), an Abort with NoSuchUpload,
        so the object is never made from a parts list that is no longer the upload's.
        `sent` is the (x-amz-checksum-* header, value) the request vouched for: the
        object's checksum must be that one (BadDigest; a composite's with or without
        its "-N")."""
        if not requested:
            raise errors.MalformedXML("CompleteMultipartUpload needs at least one part.")
        for _ in range(OPEN_TRIES):
            chosen = _choose_parts(await self.parts(upload.upload_id), requested,
                                   upload.upload_id)
            headers = _completed_headers(upload, chosen)
            if sent is not None and \
                    headers.get(sent[0], "").partition("-")[0] != sent[1].partition("-")[0]:
                raise errors.BadDigest(f"The {sent[0][len(checksums.HEADER_PREFIX):].upper()}"
                                       " you specified did not match the calculated "
                                       "checksum.")
            try:
                new = await self.blobs.copy([(p.blob, 0, _stored_size(p)) for p in chosen])
                size = sum(p.size for p in chosen)
            except FileNotFoundError:
                continue  # a part was replaced and its old blob removed while we copied
            crash_point("walrus.complete.joined")
            obj = await self._commit_object(
                upload.bucket, upload.key, new, size, multipart_etag([p.etag for p in chosen]),
                Principal(upload.owner_id, upload.owner_name), headers,
                upload.acl, upload.tags,
                extra=lambda conn: self._finish_upload(conn, upload, requested), lock=lock,
                parts=tuple(chosen), encryption=_completed_encryption(upload, chosen))
            crash_point("walrus.complete.committed")
            return obj
        raise errors.InternalError("The upload's parts changed too often while completing; "
                                   "retry.")

    def _finish_upload(self, conn, upload: Upload, requested: list[tuple]
                       ) -> list[str]:
        """In the commit: the upload still exists and its parts are still the requested
        ones; then drop it. Returns the blobs to remove."""
        if conn.execute("SELECT 1 FROM uploads WHERE upload_id=?",
                        (upload.upload_id,)).fetchone() is None:
            raise errors.NoSuchUpload(UploadId=upload.upload_id)
        rows = conn.execute("SELECT * FROM parts WHERE upload_id=?",
                            (upload.upload_id,)).fetchall()
        _choose_parts([_part(r) for r in rows], requested, upload.upload_id)
        return self._drop_upload(conn, upload.upload_id)


def _sealed_as(sealer: "sse.Sealer | None", segments: str) -> str:
    """An object row's encryption: the sealer's record with the blob's segments."""
    if sealer is None:
        return ""
    return sealer.encryption.with_segments(json.loads(segments)).to_json()


def _stored_size(part: Part) -> int:
    """The bytes of a part's blob: its size, or its sealed size if encrypted."""
    return sse.sealed_size(part.size) if part.encryption else part.size


def _completed_encryption(upload: Upload, chosen: list[Part]) -> str:
    """A completed object's encryption: the upload's data key, and the parts' segments
    in the order their blobs were joined."""
    if not upload.encryption:
        return ""
    record = sse.Encryption.from_json(upload.encryption)
    return record.with_segments(s for p in chosen for s in json.loads(p.encryption)).to_json()


class _Plain:
    """An object's plaintext (a span of it) as an upload body: async chunks, then its
    `size` and MD5 `etag`, as `_write_sealed` reads a RequestBody."""

    def __init__(self, content: ObjectContent, key: bytes | None, offset: int, length: int):
        self._content, self._key = content, key
        self._offset, self._length = offset, length
        self._md5 = hashlib.md5()
        self.size = 0

    async def __aiter__(self):
        enc = sse.Encryption.from_json(self._content.obj.encryption)
        if enc is None:
            source = self._content.chunks(self._offset, self._length)
        else:
            # Its pieces are views of one reused buffer: copied, as the blob writer
            # may hold a piece while the next is decrypted.
            source = map(bytes, sse.plaintext(self._content.file, enc, self._key,
                                              self._offset, self._length))
        for chunk in source:
            self._md5.update(chunk)
            self.size += len(chunk)
            yield chunk
            await asyncio.sleep(0)  # the blob writer awaits only at the end: let others run

    @property
    def etag(self) -> str:
        return self._md5.hexdigest()


def _completed_headers(upload: Upload, chosen: list[Part]) -> dict:
    """The object's headers: the upload's, with S3's checksum of a multipart object when
    the upload was created with x-amz-checksum-algorithm and every part came with that
    checksum: COMPOSITE (the checksum of the parts' checksums, "-N") or FULL_OBJECT (the
    CRC of the whole object, combined from the parts')."""
    headers = {k: v for k, v in upload.headers.items() if k not in objectlock.HEADERS}
    algorithm = headers.pop(checksums.ALGORITHM_HEADER, None)
    kind = headers.pop(checksums.TYPE_HEADER, "COMPOSITE")
    if algorithm and all(p.checksum.startswith(algorithm + ":") for p in chosen):
        values = [p.checksum.partition(":")[2] for p in chosen]
        headers[checksums.HEADER_PREFIX + algorithm] = \
            checksums.full_object(algorithm, list(zip(values, (p.size for p in chosen)))) \
            if kind == "FULL_OBJECT" else checksums.composite(algorithm, values)
    return headers


def _choose_parts(stored: list[Part], requested: list[tuple], upload_id: str) -> list[Part]:
    """The stored parts a CompleteMultipartUpload names, in order, as S3 checks them:
    each (number, ETag) or (number, ETag, "algorithm:base64" checksum the request gave
    for the part, or "")."""
    by_number = {p.number: p for p in stored}
    chosen: list[Part] = []
    last = 0
    for number, etag, *checksum in requested:
        if number <= last:
            raise errors.InvalidPartOrder(UploadId=upload_id)
        last = number
        part = by_number.get(number)
        if part is None or etag.strip('"').lower() != part.etag or \
                (checksum and checksum[0] and checksum[0] != part.checksum):
            raise errors.InvalidPart(UploadId=upload_id, PartNumber=number, ETag=etag)
        chosen.append(part)
    for part in chosen[:-1]:
        if part.size < MIN_PART_SIZE:
            raise errors.EntityTooSmall(ProposedSize=part.size, MinSizeAllowed=MIN_PART_SIZE,
                                        PartNumber=part.number, ETag=part.etag)
    check_size(sum(p.size for p in chosen), MAX_OBJECT_SIZE)
    return chosen
