"""mallee.files: what a crash or another user of the host may see."""
from __future__ import annotations

import os
import stat

from mallee.files import write_atomic


def test_write_atomic_makes_the_rename_durable(tmp_path, monkeypatch):
    """Issue 11 #12: the new name is in the directory only once the directory
    is synced; without it an acknowledged spec.json can vanish in a crash."""
    synced = []
    real_fsync = os.fsync

    def fsync(fd):
        synced.append(stat.S_ISDIR(os.fstat(fd).st_mode))
        real_fsync(fd)
    monkeypatch.setattr(os, "fsync", fsync)
    write_atomic(tmp_path / "spec.json", "{}")
    assert synced == [False, True]  # the file's data, then the directory's entry
