"""Taps that would not go when their instance was unplugged.

The port's state (rules, lease, set membership, metadata) is dropped at
once; the tap is only a link on the bridge with no rules letting it through.
Until it is really gone its address is not given to another port: the CC may
reuse the address for another account's guest, and a frame from the old tap
must never pass as the new guest. Removal is retried in the background, a
bounded number of times; one that never goes keeps its address blocked and
is logged.
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Leftover:
    instance_id: str
    tap: str
    private_ip: str | None  # None: never plugged (the launch failed before)


class LeftoverTaps:
    def __init__(self, remove: Callable[[str], None], lock: threading.RLock,
                 interval: Callable[[], float], max_retries: int):
        self._remove = remove  # raises while the tap is still there
        self._lock = lock  # the data plane's: the retry and plug() never interleave
        self._interval = interval
        self._max_retries = max_retries
        self._taps: dict[str, Leftover] = {}
        self._timer: threading.Timer | None = None
        self._retries = 0

    def add(self, leftover: Leftover) -> None:
        with self._lock:
            self._taps[leftover.instance_id] = leftover
            self._retries = 0
            self._schedule()

    def holder(self, ip: str) -> Leftover | None:
        """The old port still holding ip, after one more try at removing it."""
        with self._lock:
            for leftover in [t for t in self._taps.values() if t.private_ip == ip]:
                if not self._try(leftover):
                    return leftover
            return None

    def all(self) -> list[Leftover]:
        with self._lock:
            return list(self._taps.values())

    def forget(self) -> None:
        """The namespace went with its links (teardown)."""
        with self._lock:
            self._taps.clear()
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None

    def _try(self, leftover: Leftover) -> bool:
        try:
            self._remove(leftover.tap)
        except Exception as exc:  # noqa: BLE001 - still there; the caller decides
            log.debug("tap %s still there: %s", leftover.tap, exc)
            return False
        self._taps.pop(leftover.instance_id, None)
        log.info("leftover tap %s of %s removed", leftover.tap, leftover.instance_id)
        return True

    def _schedule(self) -> None:
        if self._timer is None and self._taps:
            self._timer = threading.Timer(self._interval(), self._retry)
            self._timer.daemon = True
            self._timer.start()

    def _retry(self) -> None:
        with self._lock:
            self._timer = None
            for leftover in list(self._taps.values()):
                self._try(leftover)
            self._retries += 1
            if not self._taps:
                return
            if self._retries < self._max_retries:
                self._schedule()
            else:
                log.error("tap(s) %s would not go after %d retries; their addresses stay "
                          "blocked", ", ".join(t.tap for t in self._taps.values()), self._retries)
