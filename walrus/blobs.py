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
"""
from __future__ import annotations

import asyncio
import errno
import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import AsyncIterable, BinaryIO, Callable, Iterable, TypeVar

from walrus import direct
from walrus.direct import LargeWriter
from walrus.ids import unique_hex
from walrus.pipeline import Pipeline

log = logging.getLogger(__name__)

SMALL_BLOB = 1 << 20   # bodies up to this size are written in one call off the event loop
SHARD_SECONDS = 0.25
IO_THREADS = 32        # blob writes in flight: concurrent fdatasyncs share the journal's commits
IOV_MAX = 1024         # buffers one writev takes (Linux's UIO_MAXIOV)
T = TypeVar("T")
_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)


class BlobStore:
    def __init__(self, root: Path):
        self.root = root / "blobs"
        self._root_text = str(self.root)
        self._io = ThreadPoolExecutor(IO_THREADS, thread_name_prefix="walrus-blob")
        self._doomed: list[str] = []
        self._unlinker: asyncio.Future | None = None

    def setup(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)

    def path(self, name: str) -> str:
        return f"{self._root_text}/{name[:2]}/{name}"

    def open(self, name: str) -> BinaryIO:
        """The blob's bytes for reading (FileNotFoundError once it has been replaced)."""
        return open(self.path(name), "rb")

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

    async def write(self, chunks: AsyncIterable[bytes]) -> tuple[str, int]:
        """Stream chunks into a new blob with durable data; (name, size). Nothing is left
        on failure. The caller's commit must sync `directory(name)`."""
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
                # Small body: create, write, fdatasync and close in one trip to a thread.
                await self._settle(loop.run_in_executor(self._io, self._write_small, name, buffered),
                                   name)
                return name, size
            await writing.finish()
        except BaseException:
            writing.abandon(discard)  # once no write runs, so fd is not closed under it
            raise
        owned, writer = writer, None
        await self._settle(loop.run_in_executor(self._io, self._finish_large, owned), name)
        return name, size

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

    def _copy(self, sources: Iterable[tuple[str, int, int]], name: str) -> int:
        def fill(fd: int) -> int:
            total = 0
            for source, offset, length in sources:
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

    async def copy(self, sources: list[tuple[str, int, int]]) -> tuple[str, int]:
        """A new blob made of (blob, offset, length) pieces, copied in the kernel. As with
        `write`, the caller's commit must sync `directory(name)`."""
        name = self.new_name()
        work = asyncio.get_running_loop().run_in_executor(self._io, self._copy, sources, name)
        return name, await self._settle(work, name)

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
