"""A newc cpio archive written in Python, as the kernel's initramfs wants it.

Built in memory rather than with `cpio` over a staging dir so that no root
privileges are needed (owners are 0 and /dev/console is a device node in the
archive only) and the result is byte-for-byte reproducible (fixed mtimes,
sorted entries).
"""
from __future__ import annotations

import stat
from dataclasses import dataclass


@dataclass(frozen=True)
class Entry:
    path: str  # without leading slash
    mode: int  # full st_mode: type bits | permissions
    data: bytes = b""  # file contents, or a symlink's target
    rdev: tuple[int, int] = (0, 0)  # (major, minor) of a device node


def directory(path: str, perm: int = 0o755) -> Entry:
    return Entry(path, stat.S_IFDIR | perm)


def regular(path: str, data: bytes, perm: int = 0o644) -> Entry:
    return Entry(path, stat.S_IFREG | perm, data)


def char_device(path: str, major: int, minor: int, perm: int = 0o600) -> Entry:
    return Entry(path, stat.S_IFCHR | perm, rdev=(major, minor))


def newc_archive(entries: list[Entry]) -> bytes:
    """Entries in path order (parents before children), then the trailer."""
    out = bytearray()
    for inode, entry in enumerate(sorted(entries, key=lambda e: e.path), start=1):
        nlink = 2 if stat.S_ISDIR(entry.mode) else 1
        _append(out, entry.path, inode, entry.mode, nlink, entry.data, entry.rdev)
    _append(out, "TRAILER!!!", 0, 0, 1, b"", (0, 0))
    return bytes(out)


def _append(
    out: bytearray, name: str, inode: int, mode: int, nlink: int, data: bytes, rdev: tuple[int, int]
) -> None:
    encoded_name = name.encode() + b"\0"
    fields = (inode, mode, 0, 0, nlink, 0, len(data), 0, 0, rdev[0], rdev[1], len(encoded_name), 0)
    out += b"070701" + b"".join(b"%08X" % value for value in fields)
    out += encoded_name
    _pad4(out)
    out += data
    _pad4(out)


def _pad4(out: bytearray) -> None:
    out += b"\0" * (-len(out) % 4)
