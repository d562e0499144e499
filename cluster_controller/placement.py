"""The CC's side of a placement policy's `rebalance` (docs/placement.md).

Every [cc] rebalance_seconds (0: never) the policy gets a read-only view of
the cluster and proposes actions; this module carries them out on real nodes:

- Power(node, on/off): the node's power state, which the scheduler honours (a
  node marked off takes no instances). With [cc] power_command set, that argv
  ({node}: the node's name, {endpoint}, {action}: on|off) runs first, off the
  event loop and bounded by [cc] power_command_timeout_seconds; if it fails the
  failure is logged and the state stays as it was. A node that runs instances
  is never powered off. The state is kept, durably, in the CC's data directory
  (power.json): it is a decision, not something a poll can tell.
- Migrate(instance, node): refused, with the reason logged and counted, until
  live migration exists. A simulation may give a `migrate` coroutine instead.
"""
from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Awaitable, Callable

from cluster_controller.launches import LaunchTracker
from cluster_controller.nodes import Node, NodeRegistry
from mallee.files import write_json_atomic
from mallee.placement import Migrate, Policy, Power

log = logging.getLogger(__name__)

NO_LIVE_MIGRATION = "live migration is not available on real nodes"


class PowerStates:
    """The nodes marked off, kept in one JSON file ({"off": [endpoint, ...]})."""

    def __init__(self, path: Path):
        self.path = path
        try:
            self.off = set(json.loads(path.read_text())["off"])
        except FileNotFoundError:
            self.off = set()

    def apply(self, nodes: list[Node]) -> None:
        for node in nodes:
            node.power = "off" if node.endpoint in self.off else "on"

    def record(self, node: Node) -> None:
        (self.off.add if node.power == "off" else self.off.discard)(node.endpoint)
        write_json_atomic(self.path, {"off": sorted(self.off)})


class Rebalancer:
    def __init__(self, policy: Policy, registry: NodeRegistry, launches: LaunchTracker,
                 power: PowerStates, power_command: tuple[str, ...] = (),
                 command_timeout: float = 30.0,
                 migrate: Callable[[Migrate], Awaitable[None]] | None = None):
        self.policy = policy
        self.registry = registry
        self.launches = launches
        self.power = power
        self.power_command = power_command
        self.command_timeout = command_timeout
        self.migrate = migrate
        self.counts = {"rebalances": 0, "migrations_refused": 0, "powered_on": 0,
                       "powered_off": 0, "power_failures": 0, "policy_errors": 0}
        self.last_refusal: str | None = None
        self._refused: set[Migrate] = set()  # logged once each

    def describe(self) -> dict:
        return {"policy": type(self.policy).__name__, **self.counts,
                "last_refusal": self.last_refusal}

    async def run(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                await self.rebalance()
            except Exception:  # e.g. power.json not writable: the next round tries again
                log.exception("rebalance round failed")

    async def rebalance(self) -> None:
        """One round: ask the policy, then carry out (or refuse) what it proposes."""
        self.counts["rebalances"] += 1
        try:
            actions = list(self.policy.rebalance(self.launches.view()))
        except Exception:  # a plug-in's bug must not stop the CC
            self.counts["policy_errors"] += 1
            log.exception("placement policy %s: rebalance failed", type(self.policy).__name__)
            return
        for action in actions:
            if isinstance(action, Power):
                await self._power(action)
            elif isinstance(action, Migrate):
                await self._migrate(action)
            else:
                self.counts["policy_errors"] += 1
                log.warning("placement policy %s proposed %r: not a Migrate or Power",
                            type(self.policy).__name__, action)

    async def _migrate(self, action: Migrate) -> None:
        if self.migrate is not None:
            await self.migrate(action)
            return
        self.counts["migrations_refused"] += 1
        self.last_refusal = (f"migration of {action.instance_id} to {action.to_node} refused: "
                             f"{NO_LIVE_MIGRATION}")
        if action not in self._refused:
            self._refused.add(action)
            log.warning("%s", self.last_refusal)

    async def _power(self, action: Power, by: str | None = None) -> str | None:
        """Carry out one Power action (the policy's, or `by` an admin); None when the
        node is in that state now, else why not (logged)."""
        by = by or f"policy {type(self.policy).__name__}"
        node = next((n for n in self.registry.nodes if n.endpoint == action.node), None)
        want = "on" if action.on else "off"
        if node is None:
            return _refused(f"power {want} of {action.node} refused: no such node in this "
                            "cluster")
        if node.power == want:
            return None
        if not action.on:
            node.power = "off"  # it takes nothing from now on, while the command runs
            running = [g.instance_id for v in self.launches.view().nodes
                       if v.endpoint == node.endpoint for g in v.guests]
            if running:
                node.power = "on"
                return _refused(f"power off of {node.endpoint} refused: it runs "
                                f"{', '.join(running)}")
        error = await self._command(node, want)
        if error is not None:
            if not action.on:
                node.power = "on"  # as it was
            self.counts["power_failures"] += 1
            return _refused(f"power {want} of {node.endpoint} failed, its state is "
                            f"unchanged: {error}")
        node.power = want
        self.power.record(node)
        self.counts[f"powered_{want}"] += 1
        log.info("%s powered %s (%s)", node.endpoint, want, by)
        if action.on:
            self.registry.wake()
        return None

    async def set_power(self, node: str, on: bool) -> str | None:
        """An admin's `mallee admin node-power`: as a policy's Power action."""
        return await self._power(Power(node, on), by="admin")

    async def _command(self, node: Node, action: str) -> str | None:
        """Run [cc] power_command for this node; None when it succeeded (or there is none)."""
        if not self.power_command:
            return None
        argv = command_argv(self.power_command, node.resource.get("name", node.endpoint),
                            node.endpoint, action)
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT)
        except OSError as err:
            return f"{argv[0]}: {err.strerror or err}"
        try:
            out, _ = await asyncio.wait_for(proc.communicate(), self.command_timeout)
        except asyncio.TimeoutError:
            proc.kill()
            await proc.wait()
            return f"{' '.join(argv)} did not finish in {self.command_timeout:g} s (killed)"
        if proc.returncode != 0:
            tail = out.decode(errors="replace").strip().splitlines()[-1:] or [""]
            return f"{' '.join(argv)} exited {proc.returncode}: {tail[0]}"
        return None


def _refused(reason: str) -> str:
    log.warning("%s", reason)
    return reason


def command_argv(template: tuple[str, ...], node: str, endpoint: str, action: str) -> list[str]:
    """The power command's argv for one node (KeyError: a placeholder it does not know)."""
    return [part.format(node=node, endpoint=endpoint, action=action) for part in template]
