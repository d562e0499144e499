"""The instance state machine, written as data.

Every change is a compare-and-swap (the repository's `compare_and_set`: set
the new state only where the state is still the expected one),
so of two racing requests (a terminate and the poll that sees the guest
running, say) exactly one wins and the other sees the new state.
"""
from __future__ import annotations

import time

from cloud_controller.db.instances import InstanceRepository
from mallee import errors

CODES = {"pending": 0, "running": 16, "shutting-down": 32, "terminated": 48,
         "stopping": 64, "stopped": 80}

TRANSITIONS: dict[str, frozenset[str]] = {
    "pending": frozenset({"running", "shutting-down", "terminated"}),
    "running": frozenset({"stopping", "shutting-down", "terminated"}),
    "stopping": frozenset({"stopped", "shutting-down", "terminated"}),
    "stopped": frozenset({"pending", "shutting-down", "terminated"}),
    "shutting-down": frozenset({"terminated"}),
    "terminated": frozenset(),
}

# Terminated instances stay visible this long, as in EC2.
TERMINATED_VISIBLE_SECONDS = 3600


def allowed(current: str, new: str) -> bool:
    return new in TRANSITIONS[current]


def visible_since() -> float:
    """Instances terminated before this time (a time.time()) are no longer listed."""
    return time.time() - TERMINATED_VISIBLE_SECONDS


async def transition(repo: InstanceRepository, instance_id: str, expected: str, new: str, *,
                     reason: tuple[str, str] | None = None, **columns) -> bool:
    """Move one instance from `expected` to `new`; False if someone else moved it first.
    A unit of its own (committed before it returns, so the caller answers with what
    the database holds), or part of the caller's unit when called inside one."""
    if not allowed(expected, new):
        raise errors.IncorrectInstanceState(
            f"The instance '{instance_id}' cannot go from {expected} to {new}.")
    now = time.time()
    sets = {"state": new, "updated_at": now, **columns}
    if new == "terminated":
        sets["terminated_at"] = now
    if reason:
        sets["reason_code"], sets["reason_message"] = reason
    async with repo.db.unit():
        return await repo.compare_and_set(instance_id, expected, **sets)
