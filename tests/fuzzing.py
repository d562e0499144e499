"""Hypothesis strategies for requests, driven by botocore's service models.

`values_for(shape)` makes type-correct values of an operation's input shape
whose contents are hostile: empty, huge and unicode strings, ids of the wrong
kind, negative and huge numbers. botocore's own serializer then writes them
as the wire does, and `hostile_pairs` adds what no SDK sends: wrong types,
unknown, duplicate and badly encoded parameters.
"""
from __future__ import annotations

import datetime

from hypothesis import strategies as st

NASTY_STRINGS = [
    "", " ", "x" * 5000, "\x00", "\x0b", "\uffff", "é\u202e", "../../etc/passwd", "%zz%00",
    "i-00000000", "i-ffffffffffffffff", "sg-1", "ami-00000000", "vol-1", "eipalloc-1",
    "default", "-1", "0", "99999999999999999999", "²", "true", "<x>&amp;</x>", "' OR 1=1 --",
    "a" * 256, "tag:Name", "*",
]
NASTY_INTEGERS = [0, -1, 1, 65535, 65536, 2**31, 2**63 - 1, -(2**63)]


def _string(shape) -> st.SearchStrategy:
    options = [st.sampled_from(NASTY_STRINGS), st.text(max_size=40)]  # no surrogates
    if shape.enum:
        options.insert(0, st.sampled_from(list(shape.enum)))
    return st.one_of(*options)


def values_for(shape, depth: int = 0, required: bool = False) -> st.SearchStrategy:
    """required: always give the structure's required members (S3: a missing
    one changes which operation the request is, not how hostile it is)."""
    kind = shape.type_name
    if kind == "structure":
        if depth > 3:
            return st.just({})
        members = {name: values_for(member, depth + 1, required)
                   for name, member in shape.members.items()}
        needed = set(shape.required_members) if required else set()
        return st.fixed_dictionaries({n: v for n, v in members.items() if n in needed},
                                     optional={n: v for n, v in members.items()
                                               if n not in needed})
    if kind == "list":
        return st.lists(values_for(shape.member, depth + 1, required), max_size=3)
    if kind == "map":
        return st.dictionaries(_string(shape.key), values_for(shape.value, depth + 1, required),
                               max_size=2)
    if kind == "string":
        return _string(shape)
    if kind in ("integer", "long"):
        return st.one_of(st.sampled_from(NASTY_INTEGERS), st.integers(-10, 10**6))
    if kind in ("float", "double"):
        return st.floats(allow_nan=False, allow_infinity=False, width=32)
    if kind == "boolean":
        return st.booleans()
    if kind == "timestamp":
        return st.datetimes(min_value=datetime.datetime(1970, 1, 2),
                            max_value=datetime.datetime(2200, 1, 1))
    if kind == "blob":
        return st.binary(max_size=64)
    raise ValueError(f"no strategy for shape type {kind}")


@st.composite
def hostile_pairs(draw, pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The serialized parameters, changed as no SDK would change them."""
    pairs = list(pairs)
    change = draw(st.sampled_from(["none", "unknown", "duplicate", "wrong-type", "drop-index"]))
    if change == "unknown":
        pairs.append((draw(st.sampled_from(["Foo", "Filter.1.Bogus", "X", "Action.1"])), "1"))
    elif change == "duplicate" and len(pairs) > 2:
        pairs.append(pairs[draw(st.integers(2, len(pairs) - 1))])
    elif change == "wrong-type" and len(pairs) > 2:
        index = draw(st.integers(2, len(pairs) - 1))
        pairs[index] = (pairs[index][0], draw(st.sampled_from(["abc", "", "1.5", "²", "-"])))
    elif change == "drop-index" and len(pairs) > 2:
        index = draw(st.integers(2, len(pairs) - 1))
        name = pairs[index][0]
        pairs[index] = (name.replace(".1", ".0").replace(".2", ".-1"), pairs[index][1])
    return pairs


class LoopWatchdog:
    """Measures how long an event loop (running in another thread) is held.

    A task sleeps TICK and notes, per tick, the CPU time the loop's thread
    spent meanwhile, less what the garbage collector took there (`worst_busy`:
    a callback computing that long held every other request; a collection of
    the whole test process's heap is the test's cost, not the server's), and
    how late it woke (`worst_late`: also counts a blocking call, but includes
    waiting for the GIL or a core, which the in-process test client and a
    loaded host cause without any stall)."""

    TICK = 0.01

    def __init__(self, loop):
        self.loop = loop
        self.worst_busy = self.worst_late = 0.0
        self._future = None
        self._thread = None
        self._gc_cpu = 0.0  # CPU seconds the collector spent on the loop's thread
        self._gc_started = None

    def _on_gc(self, phase: str, info: dict) -> None:
        import threading
        import time
        if threading.get_ident() != self._thread:
            return
        if phase == "start":
            self._gc_started = time.thread_time()
        elif self._gc_started is not None:
            self._gc_cpu += time.thread_time() - self._gc_started
            self._gc_started = None

    async def _watch(self) -> None:
        import asyncio
        import threading
        import time
        self._thread = threading.get_ident()
        while True:
            start, cpu, gc_cpu = self.loop.time(), time.thread_time(), self._gc_cpu
            await asyncio.sleep(self.TICK)
            busy = time.thread_time() - cpu - (self._gc_cpu - gc_cpu)
            self.worst_busy = max(self.worst_busy, busy)
            self.worst_late = max(self.worst_late, self.loop.time() - start - self.TICK)

    def start(self) -> "LoopWatchdog":
        import asyncio
        import gc
        gc.callbacks.append(self._on_gc)
        self._future = asyncio.run_coroutine_threadsafe(self._watch(), self.loop)
        return self

    def stop(self) -> None:
        import gc
        gc.callbacks.remove(self._on_gc)
        self.loop.call_soon_threadsafe(self._future.cancel)

    def check(self, what: str) -> None:
        assert self.worst_busy < 0.1, f"{what}'s event loop was held {self.worst_busy * 1000:.0f} ms"
        assert self.worst_late < 1.0, f"{what}'s event loop woke {self.worst_late:.2f} s late"
