"""Serial console logs: the guest's ttyS0, appended to a file in the instance dir.

A guest can print without end, so the NC keeps each log bounded itself
(trim_console, every second): past CONSOLE_LIMIT_BYTES, the newest
CONSOLE_KEEP_BYTES go to `<log>.old` and the log is emptied. Emptying is safe
while the guest writes because the writer holds the file with O_APPEND: QEMU
opens it so for the domain XML's append="on", and virtlogd (libvirt's
default stdio_handler, which opens the file for QEMU on this host; seen with
libvirt 9.0) opens it so too; the next write lands at the new end, never
after a hole. Bytes written between the copy and the truncate are lost (a
few microseconds). virtlogd may also rotate the log itself (`<log>.0`, per
its max_size and max_backups); readers take whichever copies are there.
"""
from __future__ import annotations

import os
from pathlib import Path

from mallee.files import write_atomic

CONSOLE_TAIL_BYTES = 64 * 1024  # what EC2's GetConsoleOutput returns by default
CONSOLE_KEEP_BYTES = 2**20  # kept through a trim
CONSOLE_LIMIT_BYTES = 2 * 2**20  # a log longer than this is trimmed


def trim_console(path: Path, keep: int = CONSOLE_KEEP_BYTES,
                 limit: int = CONSOLE_LIMIT_BYTES) -> bool:
    """Keep the newest `keep` bytes of a log past `limit` in <log>.old, empty the log."""
    path = Path(path)
    try:
        with open(path, "rb") as log:
            size = log.seek(0, os.SEEK_END)
            if size <= limit:
                return False
            log.seek(size - keep)
            tail = log.read()  # to the end as it is now, not just to `size`
            os.truncate(path, 0)
    except FileNotFoundError:
        return False
    write_atomic(_older(path), tail[-keep:], 0o600)
    return True


def read_console_tail(path: Path, max_bytes: int = CONSOLE_TAIL_BYTES) -> bytes:
    """The newest max_bytes of the console; b'' before the guest wrote anything."""
    path = Path(path)
    copies = sorted((p for p in (_older(path), path.with_name(path.name + ".0")) if p.exists()),
                    key=lambda p: p.stat().st_mtime)
    out = b""
    for copy in (path, *reversed(copies)):  # newest first, until there is enough
        out = _tail(copy, max_bytes - len(out)) + out
        if len(out) >= max_bytes:
            break
    return out


def _tail(path: Path, max_bytes: int) -> bytes:
    try:
        with open(path, "rb") as log:
            size = log.seek(0, os.SEEK_END)
            log.seek(max(0, size - max_bytes))
            return log.read(max_bytes)
    except FileNotFoundError:
        return b""


def _older(path: Path) -> Path:
    return path.with_name(path.name + ".old")
