"""Files written so that a crash leaves the old content or the new, never a
part: write a temporary file beside it, fsync, rename over it, fsync the
directory (until then the rename itself may be lost)."""
from __future__ import annotations

import json
import os
from pathlib import Path


def write_atomic(path: Path, data: bytes | str, mode: int = 0o644) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data.encode() if isinstance(data, str) else data)
        f.flush()
        os.fsync(f.fileno())
    os.chmod(tmp, mode)  # O_CREAT's mode is filtered by the umask
    os.replace(tmp, path)
    fsync_path(path.parent)


def fsync_path(path: Path) -> None:
    """A file's data, or a directory's names (made, renamed), made durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_json_atomic(path: Path, data, mode: int = 0o644) -> None:
    write_atomic(path, json.dumps(data), mode)


SQLITE_SIBLINGS = ("-wal", "-shm", "-journal")


def private_file(path: Path) -> Path:
    """Make (or fix) a file only its owner may read or write, 0600 from its
    creation on, before anything is in it: for a sqlite database call it
    before connecting (sqlite gives its -wal, -shm and -journal files the
    database file's mode; ones left from before are fixed here too)."""
    path = Path(path)
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
    for each in (path, *(path.with_name(path.name + s) for s in SQLITE_SIBLINGS)):
        try:
            os.chmod(each, 0o600)
        except FileNotFoundError:
            pass
    return path


def private_dir(path: Path, mode: int = 0o700) -> Path:
    """Make (or fix) a directory others cannot list; 0o711 lets QEMU's user
    through to the files in it that libvirt hands to it."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True, mode=mode)
    os.chmod(path, mode)  # mkdir's mode is filtered by the umask, and ignored if it existed
    return path
