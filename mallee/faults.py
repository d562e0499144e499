"""Crash points: where the kill -9 suite stops a real process dead.

`MALLEE_CRASH_AT=name[@n][,name[@n]...]` makes the process SIGKILL itself
the n-th time (default: the first) it reaches `crash_point(name)`: no
finally blocks, no flush, no reply, exactly what a power cut or the OOM
killer does at that instruction. Unset (always, outside tests/faults), a
crash point is one dict lookup. The names are listed in docs/faults.md.
"""
from __future__ import annotations

import logging
import os
import signal

log = logging.getLogger(__name__)

VARIABLE = "MALLEE_CRASH_AT"


def _parse(text: str) -> dict[str, int]:
    armed = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, _, count = item.partition("@")
        armed[name] = int(count or 1)
    return armed


_armed = _parse(os.environ.get(VARIABLE, ""))


def crash_point(name: str) -> None:
    if name not in _armed:
        return
    _armed[name] -= 1
    if _armed[name] > 0:
        return
    log.warning("crash point %s reached: killing this process (%s)", name, VARIABLE)
    for handler in logging.getLogger().handlers:  # the one line that says why it died
        handler.flush()
    os.kill(os.getpid(), signal.SIGKILL)
