"""Object bytes on the filesystem: one immutable blob file per object or part.

A blob is written under a fresh name, fsynced (file and directory) and only
then referenced by a metadata row; replacing an object is one sqlite
transaction that points the row at the new blob. Readers therefore see the
old bytes or the new ones, never a mix, and a crash can leave only
unreferenced blobs, which `sweep` removes at start-up.
"""
from __future__ import annotations

import asyncio
import os
import uuid
from pathlib import Path
from typing import AsyncIterable, Iterable


class BlobStore:
    def __init__(self, root: Path):
        self.root = root / "blobs"

    def setup(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)

    def path(self, name: str) -> Path:
        return self.root / name[:2] / name

    @staticmethod
    def new_name() -> str:
        return uuid.uuid4().hex

    def _create(self, name: str) -> int:
        path = self.path(name)
        try:
            return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileNotFoundError:
            path.parent.mkdir(parents=True, exist_ok=True)
            return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)

    def _sync(self, fd: int, name: str) -> None:
        os.fsync(fd)
        dir_fd = os.open(self.path(name).parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    async def write(self, chunks: AsyncIterable[bytes]) -> tuple[str, int]:
        """Stream chunks into a new durable blob; (name, size). Nothing is left on failure."""
        name = self.new_name()
        fd = self._create(name)
        size = 0
        try:
            async for chunk in chunks:
                # Page-cache writes are fast; only the fsync waits on the disk.
                view = memoryview(chunk)
                while view:
                    written = os.write(fd, view)
                    view = view[written:]
                size += len(chunk)
            await asyncio.get_running_loop().run_in_executor(None, self._sync, fd, name)
        except BaseException:
            os.close(fd)
            self.delete(name)
            raise
        os.close(fd)
        return name, size

    def _copy(self, sources: Iterable[tuple[str, int, int]], name: str) -> int:
        fd = self._create(name)
        total = 0
        try:
            for source, offset, length in sources:
                with open(self.path(source), "rb") as src:
                    remaining = length
                    while remaining:
                        n = os.copy_file_range(src.fileno(), fd, remaining, offset + length - remaining)
                        if n == 0:
                            raise OSError(f"blob {source} is shorter than expected")
                        remaining -= n
                total += length
            self._sync(fd, name)
        except BaseException:
            os.close(fd)
            self.delete(name)
            raise
        os.close(fd)
        return total

    async def copy(self, sources: list[tuple[str, int, int]]) -> tuple[str, int]:
        """A new blob made of (blob, offset, length) pieces, copied in the kernel."""
        name = self.new_name()
        size = await asyncio.get_running_loop().run_in_executor(None, self._copy, sources, name)
        return name, size

    def delete(self, name: str) -> None:
        try:
            os.unlink(self.path(name))
        except FileNotFoundError:
            pass

    def delete_many(self, names: Iterable[str]) -> None:
        for name in names:
            self.delete(name)

    def sweep(self, referenced: set[str]) -> int:
        """Remove blobs no row references (left by a crash between write and commit)."""
        removed = 0
        for sub in self.root.iterdir() if self.root.exists() else ():
            for entry in os.scandir(sub):
                if entry.name not in referenced:
                    os.unlink(entry.path)
                    removed += 1
        return removed
