"""walrus.direct: large blobs written and read past the page cache are exact for any
chunking and size (unaligned tails, spans at odd offsets), and go on buffered when
a direct write or read is refused (EINVAL), as on a filesystem without O_DIRECT."""
import errno
import fcntl
import os
import random
import time

import pytest

from walrus import direct


def _write(path, chunks, want_direct=True):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | direct.open_flags(), 0o600)
    writer = direct.LargeWriter(fd, direct=want_direct)
    try:
        for i in range(0, len(chunks), 3):
            writer.write(chunks[i:i + 3])
        size = writer.finish()
    finally:
        writer.release()
        os.close(fd)
    return writer, size


@pytest.mark.parametrize("size", [1, direct.ALIGN - 1, direct.BUFFER, direct.BUFFER + 1,
                                  2 * direct.BUFFER + direct.ALIGN * 3 + 17])
def test_written_direct_reads_back_exactly(tmp_path, size):
    data = os.urandom(size)
    cuts = sorted(random.Random(size).sample(range(1, size), min(size - 1, 40))) if size > 1 else []
    chunks = [data[a:b] for a, b in zip([0, *cuts], [*cuts, size])]
    writer, written = _write(tmp_path / "blob", chunks)
    assert written == size and writer.direct  # this host's /tmp takes O_DIRECT
    assert (tmp_path / "blob").read_bytes() == data
    with open(tmp_path / "blob", "rb") as f:
        reader = direct.Reader(f.fileno())
        try:
            assert reader.direct
            for offset in {0, 1, size // 3, max(0, size - direct.ALIGN - 5), size - 1}:
                length = min(direct.READ_SPAN, size - offset)
                assert reader.read(offset, length) == data[offset:offset + length]
            assert reader.read(size, 10) == b""
        finally:
            reader.close()


def test_a_refused_direct_write_goes_on_buffered(tmp_path, monkeypatch):
    data = os.urandom(3 * direct.BUFFER + 1234)
    real = os.pwrite
    refused = []

    def pwrite(fd, buf, offset):
        if _is_direct(fd):
            refused.append(offset)
            raise OSError(errno.EINVAL, "Invalid argument")
        return real(fd, buf, offset)
    monkeypatch.setattr(os, "pwrite", pwrite)
    writer, written = _write(tmp_path / "blob", [data[i:i + 100_000]
                                                 for i in range(0, len(data), 100_000)])
    assert refused == [0] and not writer.direct
    assert written == len(data) and (tmp_path / "blob").read_bytes() == data


def _is_direct(fd) -> bool:
    return bool(fcntl.fcntl(fd, fcntl.F_GETFL) & direct.open_flags())


def test_a_refused_direct_read_goes_on_buffered(tmp_path, monkeypatch):
    data = os.urandom(direct.BUFFER + 99)
    (tmp_path / "blob").write_bytes(data)
    with open(tmp_path / "blob", "rb") as f:
        reader = direct.Reader(f.fileno())
        try:
            def preadv(*_):
                raise OSError(errno.EINVAL, "Invalid argument")
            monkeypatch.setattr(os, "preadv", preadv)
            assert reader.read(77, 5000) == data[77:5077]
            assert not reader.direct
        finally:
            reader.close()


def test_reader_file_reads_runs_in_order_and_after_seeks(tmp_path):
    data = os.urandom(2 * direct.READ_SPAN + 12345)
    (tmp_path / "blob").write_bytes(data)
    with open(tmp_path / "blob", "rb") as f:
        sealed = direct.ReaderFile(direct.Reader(f.fileno()))
        try:
            got, run = bytearray(), bytearray(1 << 20)
            while True:
                n = sealed.readinto(memoryview(run))
                got += run[:n]
                if n < len(run):
                    break
            assert bytes(got) == data  # read ahead on a thread, span after span
            for at in (len(data) - 10, 5, direct.READ_SPAN - 3):
                sealed.seek(at)
                view = memoryview(bytearray(100))
                n = sealed.readinto(view)
                assert bytes(view[:n]) == data[at:at + 100]
        finally:
            sealed.close()


def test_a_reader_closes_only_once_its_reads_have_ended(tmp_path):
    (tmp_path / "blob").write_bytes(os.urandom(3 * direct.READ_SPAN))
    with open(tmp_path / "blob", "rb") as f:
        reader = direct.Reader(f.fileno())
        reads = [direct.readers.submit(reader.read, i * direct.READ_SPAN, direct.READ_SPAN)
                 for i in range(3)]
        direct.close_after(reader, reads)  # as a GET whose client left does
        assert all(len(r.result()) == direct.READ_SPAN for r in reads)
        deadline = time.monotonic() + 5  # the last read's done-callback closes it
        while _is_open(reader.fd) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not _is_open(reader.fd)


def _is_open(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True
