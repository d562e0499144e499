"""Object bytes on the filesystem: one immutable blob file per object or part.

A blob is written under a fresh name and its data fdatasynced (a new file:
fdatasync also writes the size, which reading the data needs). A large body is
written on an IO thread while the loop receives the next chunks
(walrus.pipeline), with O_DIRECT from a reused aligned buffer (walrus.direct:
no page-cache copy; buffered where the filesystem refuses it), so the disk
works while the body arrives and the last fdatasync has only the tail and the
metadata left to wait for; its directory
entry is made durable by the metadata transaction that first references it
(`Database.write(..., sync_dirs=(blobs.directory(name),))` fsyncs each
directory once per commit group, before BEGIN). Only then does a row point at
it; replacing an object is one sqlite transaction that points the row at the
new blob. Readers therefore see the old bytes or the new ones, never a mix,
and a crash can leave only unreferenced blobs, which `sweep` removes at
start-up. Replaced blobs are unlinked in the background after the commit.

Names are 32 hex digits; the first two, the directory, change every
SHARD_SECONDS rather than per blob, so the blobs of concurrent uploads share
a directory and one directory fsync covers a whole commit group, while over
time the 256 directories fill evenly.

Small blobs live in walrus.db instead (`inline_max` bytes or fewer: the
`[walrus] inline_max_bytes` setting): a write that ends within that size never
touches the filesystem; its bytes go, as a row of `inline_blobs` keyed by the
blob's name, into the very transaction that records the row naming it
(`record`), and leave in the transaction that drops that row (`release`). That
commit (WAL, synchronous=FULL: the WAL is fsynced before COMMIT returns) is the
write's one durability point: no data file, fsync, rename or directory fsync.
Inline names start with INLINE (not a hex digit), so a name alone says where
its bytes are; everything else here takes either kind. What is stored is what
this module is given: an encrypted object's sealed bytes (walrus/sse.py).
"""
from __future__ import annotations

import asyncio
import errno
import hashlib
import io
import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, AsyncIterable, BinaryIO, Callable, Iterable, NamedTuple, \
    TypeVar

from walrus import direct
from walrus.direct import LargeWriter
from walrus.ids import unique_hex
from walrus.pipeline import Pipeline

if TYPE_CHECKING:
    from walrus.db import Database

log = logging.getLogger(__name__)

SMALL_BLOB = 1 << 20   # bodies up to this size are written in one call off the event loop
SHARD_SECONDS = 0.25
IO_THREADS = 32        # blob writes in flight: concurrent fdatasyncs share the journal's commits
IOV_MAX = 1024         # buffers one writev takes (Linux's UIO_MAXIOV)
INLINE = "i"           # first character of the name of a blob kept in walrus.db
T = TypeVar("T")
_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)


class NewBlob(NamedTuple):
    """A blob just made, not yet named by a committed row: a file with durable data,
    or (`data` not None) bytes that `record` writes into the commit."""
    name: str
    size: int
    data: bytes | None = None


def is_inline(name: str) -> bool:
    return name.startswith(INLINE)


class BlobStore:
    def __init__(self, root: Path, db: "Database | None" = None, inline_max: int = 0):
        """`inline_max` > 0 keeps blobs of that many bytes or fewer in `db`."""
        if inline_max > SMALL_BLOB:
            raise ValueError(f"inline blobs are at most {SMALL_BLOB} bytes")
        if inline_max and db is None:
            raise ValueError("inline blobs need the database")
        self.root = root / "blobs"
        self.db = db
        self.inline_max = inline_max
        self._root_text = str(self.root)
        self._io = ThreadPoolExecutor(IO_THREADS, thread_name_prefix="walrus-blob")
        self._doomed: list[str] = []
        self._unlinker: asyncio.Future | None = None

    def setup(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)

    def path(self, name: str) -> str:
        return f"{self._root_text}/{name[:2]}/{name}"

    def open(self, name: str) -> BinaryIO:
        """A blob file's bytes for reading (FileNotFoundError once it has been replaced)."""
        return open(self.path(name), "rb")

    async def read(self, name: str) -> BinaryIO:
        """The blob's bytes, wherever they are, as a seekable file: the blob file itself
        (sendfile can send it), or an in-memory one of an inline blob's bytes.
        FileNotFoundError once it has been replaced."""
        if is_inline(name):
            return io.BytesIO((await self._load([name]))[name])
        return self.open(name)

    async def _load(self, names: list[str]) -> dict[str, bytes]:
        """Inline blobs' bytes, read in one transaction; FileNotFoundError for one that
        is gone (its row was replaced meanwhile), as for a blob file."""
        def load(conn):
            found = {}
            for name in names:
                row = conn.execute("SELECT data FROM inline_blobs WHERE name=?",
                                   (name,)).fetchone()
                if row is None:
                    raise FileNotFoundError(f"inline blob {name}")
                found[name] = bytes(row[0])
            return found
        return await self.db.read(load) if names else {}

    # --- in the metadata transaction (walrus.db) ------------------------------
    @staticmethod
    def record(conn, new: NewBlob | None) -> None:
        """In the transaction whose row names `new`: an inline blob's bytes."""
        if new is not None and new.data is not None:
            conn.execute("INSERT INTO inline_blobs (name, data) VALUES (?, ?)",
                         (new.name, new.data))

    @staticmethod
    def release(conn, names: Iterable[str]) -> list[str]:
        """In the transaction that dropped the rows naming `names`: remove the inline
        ones; returns the blob files, for `delete_later` once it commits."""
        files = []
        for name in names:
            if not name:
                continue  # a delete marker's
            if is_inline(name):
                conn.execute("DELETE FROM inline_blobs WHERE name=?", (name,))
            else:
                files.append(name)
        return files

    def sync_dirs(self, new: NewBlob | None) -> tuple[str, ...]:
        """What the commit naming `new` must fsync first: a blob file's directory."""
        if new is None or new.data is not None:
            return ()
        return (self.directory(new.name),)

    def discard(self, new: NewBlob) -> None:
        """`new` will never be named (its commit failed): remove its file, if any."""
        if new.data is None:
            self.delete(new.name)

    def _inline_name(self) -> str:
        return INLINE + unique_hex(31)

    def _fits_inline(self, size: int) -> bool:
        return self.inline_max > 0 and size <= self.inline_max  # 0: no inline blobs at all

    def directory(self, name: str) -> str:
        return f"{self._root_text}/{name[:2]}"

    @staticmethod
    def new_name() -> str:
        shard = int(time.monotonic() / SHARD_SECONDS) % 256
        return f"{shard:02x}{unique_hex(30)}"

    def _create(self, name: str, extra: int = 0, exclusive: bool = True) -> int:
        flags = (_FLAGS if exclusive else _FLAGS & ~os.O_EXCL) | extra
        try:
            return os.open(self.path(name), flags, 0o600)
        except FileNotFoundError:
            os.makedirs(self.directory(name), exist_ok=True)
            return os.open(self.path(name), flags, 0o600)

    @staticmethod
    def _write_all(fd: int, chunks: list[bytes]) -> None:
        """Write chunks in order, many per system call (writev: no joining copy)."""
        views = [memoryview(c) for c in chunks if c]
        while views:
            done = os.writev(fd, views[:IOV_MAX])
            while views and done >= len(views[0]):
                done -= len(views.pop(0))
            if done:
                views[0] = views[0][done:]

    def _make(self, name: str, fill: Callable[[int], T]) -> T:
        """Create blob `name`, let fill(fd) write it, make its data durable; nothing is
        left if any of it fails. Runs on an IO thread."""
        fd = self._create(name)
        try:
            result = fill(fd)
            os.fdatasync(fd)
        except BaseException:
            os.close(fd)
            self.delete(name)
            raise
        os.close(fd)
        return result

    def _write_small(self, name: str, chunks: list[bytes]) -> None:
        self._make(name, lambda fd: self._write_all(fd, chunks))

    async def write(self, chunks: AsyncIterable[bytes]) -> NewBlob:
        """Stream chunks into a new blob: a file with durable data, or inline bytes if
        they fit. Nothing is left on failure. The caller's commit must `record` it and
        sync `sync_dirs(it)`."""
        loop = asyncio.get_running_loop()
        name = self.new_name()
        buffered: list[bytes] = []
        size = 0
        writer: LargeWriter | None = None

        def append(batch: list[bytes]) -> None:
            nonlocal writer
            if writer is None:
                writer = self._open_large(name)
            writer.write(batch)
        # Past SMALL_BLOB, written on an IO thread while the loop receives more.
        writing = Pipeline(self._io, append)

        def discard() -> None:
            if writer is not None:
                self._close_large(writer)
            self.delete(name)
        try:
            async for chunk in chunks:
                size += len(chunk)
                if size <= SMALL_BLOB:
                    buffered.append(chunk)
                    continue
                if buffered:
                    for piece in buffered:
                        await writing.feed(piece)
                    buffered = []
                await writing.feed(chunk)
            if not writing.started:
                if self._fits_inline(size):  # into walrus.db with the row's commit
                    return NewBlob(self._inline_name(), size, b"".join(buffered))
                # Small body: create, write, fdatasync and close in one trip to a thread.
                await self._settle(loop.run_in_executor(self._io, self._write_small, name, buffered),
                                   name)
                return NewBlob(name, size)
            await writing.finish()
        except BaseException:
            writing.abandon(discard)  # once no write runs, so fd is not closed under it
            raise
        owned, writer = writer, None
        await self._settle(loop.run_in_executor(self._io, self._finish_large, owned), name)
        return NewBlob(name, size)

    def _open_large(self, name: str) -> LargeWriter:
        try:
            return LargeWriter(self._create(name, direct.open_flags()), direct=True)
        except OSError as exc:
            if exc.errno != errno.EINVAL:
                raise
        # No O_DIRECT on this filesystem (the refused open may have made the file).
        return LargeWriter(self._create(name, exclusive=False), direct=False)

    def _finish_large(self, writer: LargeWriter) -> None:
        try:
            writer.finish()
        finally:
            self._close_large(writer)

    @staticmethod
    def _close_large(writer: LargeWriter) -> None:
        writer.release()
        os.close(writer.fd)

    async def _settle(self, work: asyncio.Future[T], name: str) -> T:
        """Await work on a thread; if we are cancelled meanwhile, remove the blob once it ends."""
        try:
            return await asyncio.shield(work)
        except asyncio.CancelledError:
            work.add_done_callback(lambda _: self.delete(name))
            raise
        except BaseException:
            self.delete(name)
            raise

    def _copy(self, sources: Iterable[tuple[str, int, int]], loaded: dict[str, bytes],
              name: str) -> int:
        def fill(fd: int) -> int:
            total = 0
            for source, offset, length in sources:
                if source in loaded:
                    piece = memoryview(loaded[source])[offset:offset + length]
                    if len(piece) != length:
                        raise OSError(f"blob {source} is shorter than expected")
                    self._write_all(fd, [piece])
                    total += length
                    continue
                with self.open(source) as src:
                    remaining = length
                    while remaining:
                        n = os.copy_file_range(src.fileno(), fd, remaining,
                                               offset + length - remaining)
                        if n == 0:
                            raise OSError(f"blob {source} is shorter than expected")
                        remaining -= n
                total += length
            return total
        return self._make(name, fill)

    def _gather(self, sources: Iterable[tuple[str, int, int]], loaded: dict[str, bytes]
                ) -> bytes:
        pieces = []
        for source, offset, length in sources:
            if source in loaded:
                piece = loaded[source][offset:offset + length]
            else:
                with self.open(source) as src:
                    piece = os.pread(src.fileno(), length, offset)
            if len(piece) != length:
                raise OSError(f"blob {source} is shorter than expected")
            pieces.append(piece)
        return b"".join(pieces)

    async def copy(self, sources: list[tuple[str, int, int]]) -> NewBlob:
        """A new blob made of (blob, offset, length) pieces of blobs of either kind:
        inline if it fits, else a file (file pieces copied in the kernel). As with
        `write`, the caller's commit must `record` it and sync `sync_dirs(it)`.
        FileNotFoundError if a source was replaced meanwhile."""
        loop = asyncio.get_running_loop()
        loaded = await self._load(list(dict.fromkeys(s for s, _, _ in sources if is_inline(s))))
        total = sum(length for _, _, length in sources)
        if self._fits_inline(total):
            data = await loop.run_in_executor(self._io, self._gather, sources, loaded)
            return NewBlob(self._inline_name(), total, data)
        name = self.new_name()
        work = loop.run_in_executor(self._io, self._copy, sources, loaded, name)
        return NewBlob(name, await self._settle(work, name))

    async def md5(self, new: NewBlob) -> str:
        """The MD5 (hex) of a new blob's bytes."""
        if new.data is not None:
            return hashlib.md5(new.data).hexdigest()

        def digest():
            md5 = hashlib.md5()
            with self.open(new.name) as f:
                while chunk := f.read(1 << 20):
                    md5.update(chunk)
            return md5.hexdigest()
        return await asyncio.get_running_loop().run_in_executor(self._io, digest)

    def delete(self, name: str) -> None:
        try:
            os.unlink(self.path(name))
        except FileNotFoundError:
            pass

    def delete_many(self, names: Iterable[str]) -> None:
        for name in names:
            self.delete(name)

    def delete_later(self, names: list[str]) -> None:
        """Unlink blobs no row references any more, on a thread (unlink can wait on the
        journal), many per trip. A crash first leaves them to `sweep`."""
        if not names:
            return
        self._doomed.extend(names)
        if self._unlinker is None:
            self._unlinker = asyncio.ensure_future(self._unlink_doomed())

    async def _unlink_doomed(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._doomed:
                names, self._doomed = self._doomed, []
                try:
                    await loop.run_in_executor(self._io, self.delete_many, names)
                except OSError as exc:
                    log.warning("could not remove replaced blobs: %s", exc)
        finally:
            self._unlinker = None

    async def drain(self) -> None:
        """Wait for background unlinks (shutdown, tests)."""
        while self._unlinker is not None:
            await asyncio.wait([self._unlinker])

    async def close(self) -> None:
        await self.drain()
        await asyncio.get_running_loop().run_in_executor(None, self._io.shutdown)

    def sweep(self, referenced: set[str]) -> int:
        """Remove blobs no row references (left by a crash between write and commit)."""
        removed = 0
        for sub in self.root.iterdir() if self.root.exists() else ():
            for entry in os.scandir(sub):
                if entry.name not in referenced:
                    os.unlink(entry.path)
                    removed += 1
        return removed
