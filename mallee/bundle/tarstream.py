"""A tar stream of exactly one file, written and read incrementally.

euca2ools tars the image (Python's tarfile, GNU format, streamed) before
gzip, and the manifest's <digest> is the SHA1 of that tar stream. Writing the
header and trailer ourselves lets the bundler push the image through in
chunks; reading is a small push parser that hands the one file's bytes on as
they arrive and accepts GNU long names and pax headers in front of it.
"""
from __future__ import annotations

import tarfile
from typing import Callable

from mallee.bundle.errors import CorruptImage

BLOCK = tarfile.BLOCKSIZE        # 512
RECORD = tarfile.RECORDSIZE      # 20 blocks, as tarfile and GNU tar pad archives


def _round_up(n: int, to: int) -> int:
    return -(-n // to) * to


def single_file_header(name: str, size: int, mtime: int) -> bytes:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = size, mtime, 0o644
    return info.tobuf(tarfile.GNU_FORMAT, "utf-8", "surrogateescape")


def single_file_trailer(header_len: int, size: int) -> bytes:
    """Data padding, the two zero blocks, then zeros up to a whole record."""
    data_padding = _round_up(size, BLOCK) - size
    archive_len = header_len + size + data_padding + 2 * BLOCK
    return bytes(data_padding + 2 * BLOCK + _round_up(archive_len, RECORD) - archive_len)


class SingleFileExtractor:
    """Feed it a tar stream in pieces; the first regular file's bytes go to `write`."""

    def __init__(self, write: Callable[[bytes], None]):
        self._write = write
        self._header = bytearray()
        self._pending_size: int | None = None   # from a pax header, for the next member
        self._skip = 0                          # bytes of an extension member to pass over
        self._extension = bytearray()           # pax data being collected
        self._collect_pax = False
        self._data_left = 0
        self._padding_left = 0
        self.name: str | None = None
        self.size: int | None = None
        self.done = False                       # the file's data has all been written

    def feed(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            if self.done:
                return  # trailer, or anything after the first file: covered by the digest only
            if self._data_left:
                take = view[:self._data_left]
                self._write(take)
                self._data_left -= len(take)
                view = view[len(take):]
                if not self._data_left:
                    self.done = True
            elif self._skip:
                take = view[:self._skip]
                if self._collect_pax:
                    self._extension += take
                self._skip -= len(take)
                view = view[len(take):]
                if not self._skip:
                    self._end_extension()
            elif self._padding_left:
                take = min(self._padding_left, len(view))
                self._padding_left -= take
                view = view[take:]
            else:
                take = view[:BLOCK - len(self._header)]
                self._header += take
                view = view[len(take):]
                if len(self._header) == BLOCK:
                    self._start_member(bytes(self._header))
                    self._header.clear()

    def _start_member(self, block: bytes) -> None:
        if block == bytes(BLOCK):
            raise CorruptImage("the image tar ends before it holds a file")
        try:
            info = tarfile.TarInfo.frombuf(block, "utf-8", "surrogateescape")
        except tarfile.TarError as err:
            raise CorruptImage(f"the image tar has a bad header ({err})") from None
        padded = _round_up(info.size, BLOCK)
        if info.type in (tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK,
                         tarfile.XHDTYPE, tarfile.XGLTYPE):
            self._collect_pax = info.type == tarfile.XHDTYPE
            self._skip = padded
            if not self._skip:
                self._end_extension()
        elif info.type in tarfile.REGULAR_TYPES:
            self.name = info.name
            self.size = self._pending_size if self._pending_size is not None else info.size
            self._data_left = self.size
            if not self.size:
                self.done = True
        else:
            self._padding_left = padded  # a directory or link in front: pass over it

    def _end_extension(self) -> None:
        if self._collect_pax:
            for record in bytes(self._extension).split(b"\n"):
                _, _, keyword_value = record.partition(b" ")
                keyword, _, value = keyword_value.partition(b"=")
                if keyword == b"size":
                    self._pending_size = int(value)
        self._extension.clear()
        self._collect_pax = False

    def finish(self) -> None:
        if not self.done:
            raise CorruptImage("the image tar ends in the middle of the image file")
