"""Writing a large blob with O_DIRECT: the body's bytes go from one reused, aligned
buffer to the disk, not through the page cache.

Why: a buffered write copies every byte into a newly allocated page-cache page,
and the kernel writes those pages back later (our fdatasyncs). On a VM whose
memory the host backs lazily, as the benchmark hosts are, each page never used
before costs a fault in the host too: 64 MiB written buffered took 170-180 ms
of CPU there, against 10 ms with O_DIRECT from a reused buffer (the copy into
it included), so on two cores the write, not the MD5, decided a large PUT's
speed. Large objects are written once and rarely read back at once, which is
why object stores write them direct (MinIO does); small bodies stay buffered.

Durability is unchanged: a direct write returns when the device has the data,
and the final fdatasync flushes the device's cache and the file's size and
extents, as before. Writes go out ALIGN-aligned from an aligned buffer; the
tail that is not a multiple of ALIGN is written buffered (O_DIRECT cleared),
before that fdatasync. Where the filesystem refuses O_DIRECT (tmpfs before
Linux 6.6, some FUSE) or a direct write is refused (EINVAL: an alignment the
device wants bigger), the blob is written buffered instead, as before.
"""
from __future__ import annotations

import errno
import fcntl
import mmap
import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor

ALIGN = 4096            # file offsets, lengths and the buffer's address; enough for 512e and 4Kn
BUFFER = 4 << 20        # bytes per direct write or read
KEEP = 4                # idle buffers kept (each stays faulted in: the point of reusing it)
SYNC_EVERY = 8 << 20    # buffered fallback: flush as the body arrives, not all at the end
_O_DIRECT = getattr(os, "O_DIRECT", 0)

READ_THREADS = 8        # large GETs' reads in flight (one ahead per GET)
readers = ThreadPoolExecutor(READ_THREADS, thread_name_prefix="walrus-read")

_idle: list[mmap.mmap] = []
_lock = threading.Lock()


def _take() -> mmap.mmap:
    with _lock:
        if _idle:
            return _idle.pop()
    return mmap.mmap(-1, BUFFER)  # page-aligned


def _give(buf: mmap.mmap) -> None:
    with _lock:
        if len(_idle) < KEEP:
            _idle.append(buf)
            return
    buf.close()


def open_flags() -> int:
    return _O_DIRECT


class LargeWriter:
    """Appends chunks to an open blob file (`fd`, opened with `open_flags()` added
    when `direct`); `finish` writes what is buffered and makes the data durable. Used
    from one thread at a time."""

    def __init__(self, fd: int, direct: bool):
        self.fd = fd
        self.direct = direct and bool(_O_DIRECT)
        self._buf = _take() if self.direct else None
        self._view = memoryview(self._buf) if self._buf is not None else None
        self._used = 0      # bytes in the buffer
        self._offset = 0    # bytes in the file
        self._unsynced = 0  # buffered mode

    def write(self, chunks: list[bytes]) -> None:
        if not self.direct:
            self._write_buffered(chunks)
            return
        view = self._view
        for i, chunk in enumerate(chunks):
            data = memoryview(chunk)
            while data:
                n = min(len(data), BUFFER - self._used)
                view[self._used:self._used + n] = data[:n]
                self._used += n
                data = data[n:]
                if self._used == BUFFER:
                    self._flush(BUFFER)
                    if not self.direct:  # refused: the rest goes buffered
                        self._write_buffered([data, *chunks[i + 1:]])
                        return

    def _flush(self, length: int) -> None:
        """Write the buffer's first `length` bytes (a multiple of ALIGN) at the offset."""
        done = 0
        while done < length:
            try:
                done += os.pwrite(self.fd, self._view[done:length], self._offset + done)
            except OSError as exc:
                if exc.errno != errno.EINVAL:
                    raise
                self._fall_back()
                _pwrite_all(self.fd, self._view[done:self._used], self._offset + done)
                self._offset += self._used
                self._used = 0
                return
        self._offset += length
        self._view[:self._used - length] = self._view[length:self._used]
        self._used -= length

    def _fall_back(self) -> None:
        """Go on buffered (a direct write was refused)."""
        _clear_direct(self.fd)
        self.direct = False

    def _write_buffered(self, chunks: list[bytes]) -> None:
        for chunk in chunks:
            _pwrite_all(self.fd, memoryview(chunk), self._offset)
            self._offset += len(chunk)
            self._unsynced += len(chunk)
        if self._unsynced >= SYNC_EVERY:
            os.fdatasync(self.fd)
            self._unsynced = 0

    def finish(self) -> int:
        """Write the rest, fdatasync; the blob's size."""
        if self.direct and self._used:
            aligned = self._used - self._used % ALIGN
            if aligned:
                self._flush(aligned)
            if self._used:  # the unaligned tail
                _clear_direct(self.fd)
                _pwrite_all(self.fd, self._view[:self._used], self._offset)
                self._offset += self._used
                self._used = 0
        os.fdatasync(self.fd)
        return self._offset

    def release(self) -> None:
        """Give the buffer back (once no write runs). The caller closes `fd`."""
        buf, self._buf = self._buf, None
        if self._view is not None:
            self._view.release()
            self._view = None
        if buf is not None:
            _give(buf)


def _clear_direct(fd: int) -> None:
    fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~_O_DIRECT)


def _pwrite_all(fd: int, data: memoryview, offset: int) -> None:
    while data:
        n = os.pwrite(fd, data, offset)
        data = data[n:]
        offset += n



READ_SPAN = BUFFER - ALIGN  # the most one `Reader.read` returns (its aligned span fits BUFFER)


class Reader:
    """Spans of an open blob read past the page cache (O_DIRECT), as it was written:
    a large GET neither fills the page cache nor waits on it. Opens its own
    descriptor on the same file (through /proc/self/fd, so a blob replaced and
    unlinked since it was opened still reads); buffered reads where O_DIRECT is
    refused. `read` may run on several threads at once."""

    def __init__(self, fd: int):
        try:
            self.fd = os.open(f"/proc/self/fd/{fd}", os.O_RDONLY | _O_DIRECT | os.O_CLOEXEC)
            self.direct = bool(_O_DIRECT)
        except OSError:
            self.fd, self.direct = os.dup(fd), False

    def read(self, offset: int, length: int) -> bytes:
        """Up to `length` (<= READ_SPAN) bytes from `offset`: fewer only at the end."""
        if self.direct:
            start = offset - offset % ALIGN
            end = -(-(offset + length) // ALIGN) * ALIGN
            buf = _take()
            try:
                view = memoryview(buf)
                try:
                    got = os.preadv(self.fd, [view[:end - start]], start)
                except OSError as exc:
                    if exc.errno != errno.EINVAL:
                        raise
                    _clear_direct(self.fd)  # an alignment this device refuses
                    self.direct = False
                else:
                    return bytes(view[offset - start:min(got, offset - start + length)])
                finally:
                    view.release()
            finally:
                _give(buf)
        return os.pread(self.fd, length, offset)

    def close(self) -> None:
        os.close(self.fd)


def close_after(reader: Reader, reads: list[Future]) -> None:
    """Close `reader` once none of `reads` (its reads still queued or running) runs."""
    left = [len(reads)]
    lock = threading.Lock()

    def one_done(_) -> None:
        with lock:
            left[0] -= 1
            last = left[0] == 0
        if last:
            reader.close()
    if not reads:
        reader.close()
    for future in reads:
        future.add_done_callback(one_done)


class ReaderFile:
    """A Reader as the seek/readinto file the SSE decryption reads sealed runs from,
    on the event loop: READ_SPAN at a time, the next span read on a reader thread
    while the loop decrypts this one, so the loop waits on the disk only when it
    decrypts faster than the disk reads. `close` closes the Reader once no read
    runs."""

    def __init__(self, reader: Reader):
        self._reader = reader
        self._pos = 0
        self._span: tuple[int, bytes] = (0, b"")
        self._ahead: tuple[int, Future] | None = None

    def seek(self, pos: int) -> None:
        self._pos = pos

    def readinto(self, view) -> int:
        done = 0
        while done < len(view):
            at, data = self._span
            if not at <= self._pos < at + len(data):
                at, data = self._fetch(self._pos)
                if not data:
                    break
            start = self._pos - at
            n = min(len(view) - done, len(data) - start)
            view[done:done + n] = data[start:start + n]
            done += n
            self._pos += n
        return done

    def _fetch(self, pos: int) -> tuple[int, bytes]:
        ahead, self._ahead = self._ahead, None
        if ahead is not None and ahead[0] == pos:
            data = ahead[1].result()
        else:
            if ahead is not None:
                ahead[1].result()  # a span we no longer want: let its read end first
            data = self._reader.read(pos, READ_SPAN)
        self._span = (pos, data)
        if len(data) == READ_SPAN:
            following = pos + READ_SPAN
            self._ahead = (following, readers.submit(self._reader.read, following, READ_SPAN))
        return self._span

    def close(self) -> None:
        if self._ahead is None:
            self._reader.close()
        else:
            self._ahead[1].add_done_callback(lambda _: self._reader.close())
            self._ahead = None
