"""Serial console logs: QEMU appends the guest's ttyS0 to a file in the instance dir."""
from __future__ import annotations

import os
from pathlib import Path

CONSOLE_TAIL_BYTES = 64 * 1024  # what EC2's GetConsoleOutput returns by default


def read_console_tail(path: Path, max_bytes: int = CONSOLE_TAIL_BYTES) -> bytes:
    """The newest max_bytes of the console log; b'' before the guest wrote anything."""
    try:
        with open(path, "rb") as log:
            size = log.seek(0, os.SEEK_END)
            log.seek(max(0, size - max_bytes))
            return log.read()
    except FileNotFoundError:
        return b""
