"""The CC's part of a launch: pick a node, hand the instance to it, and place
it again elsewhere when a node fails it.

One instance id is at most one domain: a launch moves to another node only
on that node's definite answer (a refusal, or a report that it failed). A
run_instance that got no answer (timed out, say) may have started the guest,
so the launch stays bound to that node until the node's polls tell: listed,
it landed; not listed by a node that answers, it is sent there again (the
NC's run is idempotent on the id). A node that stays silent past the grace
fails the launch with the reason, and is never replaced by another node's
domain; should it come back with the guest, the guest is ended there.

Soft state only. After a CC restart the NCs' reports are the truth, and the
CLC sends any launch it has not seen land again (run is idempotent).

An EBS-backed instance's volumes (its spec's "volumes": the root and those it
had when it was stopped) are exported by the SC to the initiator of the node
it is sent to, just before it is sent (docs/ebs.md): the node gets each
export's portal, target and CHAP account with the spec. A node that refuses or
fails the launch has its exports ended before the next node is tried.
"""
from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field, replace

from cluster_controller.nodes import Node, NodeRegistry
from cluster_controller.scheduler import Candidate, Demand, Scheduler
from mallee.placement import Guest, View
from mallee.errors import ApiError
from mallee.faults import crash_point
from mallee.iscsi import node_initiator
from mallee.rpc import Unreachable

log = logging.getLogger(__name__)


@dataclass
class Launch:
    spec: dict
    node: str | None = None
    tried: set[str] = field(default_factory=set)
    failed: str | None = None  # why no node could run it
    unconfirmed_since: float | None = None  # run_instance got no answer (monotonic time)

    @property
    def instance_id(self) -> str:
        return self.spec["instance_id"]

    @property
    def demand(self) -> Demand:
        return Demand(self.spec["cpu"], self.spec["memory_mb"], self.spec["disk_gb"])


def reported(node: Node) -> dict[str, dict]:
    return {i["instance_id"]: i for i in node.resource.get("instances", [])}


_ROOM = (("cores_free", "cores_total", "cpu"),  # (free, total) in a report, per unit of a spec
         ("memory_free_mb", "memory_total_mb", "memory_mb"),
         ("disk_free_gb", "disk_total_gb", "disk_gb"))


def _free(resource: dict, listed, held: list[Demand]) -> list[int]:
    """A node's free (cores, MiB, GiB) less the launches it does not report yet. The
    node sums its figures and lists its instances at two moments, so one landing in
    between is listed but not subtracted: what it lists counts, whatever the figures say."""
    listed = list(listed)
    return [min(resource[free], resource[total] - sum(i.get(key, 0) for i in listed))
            - sum(getattr(d, key) for d in held) for free, total, key in _ROOM]


def _holding(view: Candidate, launch: Launch) -> Candidate:
    """A node's view with one more launch sent there: as _views would make it now."""
    d = launch.demand
    return replace(view, cores_free=view.cores_free - d.cpu,
                   memory_free_mb=view.memory_free_mb - d.memory_mb,
                   disk_free_gb=view.disk_free_gb - d.disk_gb, instances=view.instances + 1,
                   guests=view.guests + (Guest(launch.instance_id, d.cpu, d.memory_mb,
                                               d.disk_gb, "pending"),))


SEND_CONCURRENCY = 32  # run_instance calls in flight at once, all nodes together


class LaunchTracker:
    def __init__(self, registry: NodeRegistry, scheduler: Scheduler, network=None,
                 unconfirmed_grace: float = 120.0, storage=None):
        """unconfirmed_grace: seconds a node may stay silent after a run_instance it
        did not answer ([cc] unconfirmed_grace_seconds); storage: the SC's
        StorageClient, which exports EBS-backed instances' volumes to their node."""
        self.registry = registry
        self.storage = storage
        self.unconfirmed_grace = unconfirmed_grace
        self.scheduler = scheduler
        self.network = network  # NetworkState: private addresses (None: no networking)
        self.launches: dict[str, Launch] = {}
        self._placing = asyncio.Lock()  # one batch's placement decisions at a time
        self._sending = asyncio.Semaphore(SEND_CONCURRENCY)
        self._guests: dict[str, tuple[dict, tuple[Guest, ...]]] = {}  # endpoint -> (report, guests)

    def _wanted(self, launch: Launch) -> bool:
        """Still this launch: a terminate (which forgets it) may have come meanwhile."""
        return self.launches.get(launch.instance_id) is launch

    def _node(self, endpoint: str) -> Node | None:
        return next((n for n in self.registry.nodes if n.endpoint == endpoint), None)

    def _where(self, instance_id: str) -> Node | None:
        """The node that reports this instance, if any."""
        return next((n for n in self.registry.nodes if instance_id in reported(n)), None)

    def _candidates(self) -> list[Candidate]:
        """The nodes that can take a launch (up and powered on), as the scheduler
        weighs them."""
        return self._views(lambda n: n.status == "up" and n.power == "on")

    def view(self) -> View:
        """The cluster as a policy's rebalance sees it: the nodes that are up, and
        those powered off (whether they answer or not)."""
        return View(tuple(self._views(lambda n: n.status == "up" or n.power == "off")))

    def _views(self, wanted) -> list[Candidate]:
        out = []
        for order, node in enumerate(self.registry.nodes):
            if not wanted(node):
                continue
            r, seen = node.resource, reported(node)
            held = [l for l in self.launches.values()
                    if l.node == node.endpoint and not l.failed and l.instance_id not in seen]
            cores, memory, disk = (_free(r, seen.values(), [l.demand for l in held])
                                   if r else (0, 0, 0))
            guests = self._reported_guests(node) + tuple(
                Guest(l.instance_id, l.demand.cpu, l.demand.memory_mb, l.demand.disk_gb,
                      "pending") for l in held)
            out.append(Candidate(
                endpoint=node.endpoint, order=order, cores_free=cores, memory_free_mb=memory,
                disk_free_gb=disk, cores_total=r.get("cores_total", 0),
                instances=len(guests), memory_total_mb=r.get("memory_total_mb", 0),
                disk_total_gb=r.get("disk_total_gb", 0), powered_on=node.power == "on",
                guests=guests))
        return out

    def _reported_guests(self, node: Node) -> tuple[Guest, ...]:
        """The guests a node's last report lists, made once per report (each poll
        gives the node a new resource dict), not once per placement decision."""
        cached = self._guests.get(node.endpoint)
        if cached is None or cached[0] is not node.resource:
            guests = tuple(Guest(i["instance_id"], i.get("cpu", 0), i.get("memory_mb", 0),
                                 i.get("disk_gb", 0), i["state"])
                           for i in node.resource.get("instances", ()))
            cached = self._guests[node.endpoint] = (node.resource, guests)
        return cached[1]

    async def run(self, specs: list[dict]) -> list[dict]:
        """Place a batch and hand each instance to its node; the answer says, per
        instance, whether a node took it (or may have: no answer is not a no)."""
        new = []
        for spec in specs:
            instance_id = spec["instance_id"]
            if instance_id in self.launches or self._where(instance_id) is not None:
                continue
            launch = self.launches[instance_id] = Launch(spec)
            # an OVN port (VPC mode) has its address from the CLC, not from EDGE
            if self.network is not None and not spec.get("vpc_port"):
                self.network.assign(spec, (l.spec for l in self.launches.values()))
            new.append(launch)
        await self._place(*new)
        results = []
        for spec in specs:
            launch = self.launches.get(spec["instance_id"])
            if launch is not None and launch.failed:
                results.append({"instance_id": spec["instance_id"], "accepted": False,
                                "error": launch.failed})
            else:
                results.append({"instance_id": spec["instance_id"], "accepted": True})
        return results

    async def _send(self, node: Node, launch: Launch) -> None:
        """run_instance on one node (its room held by launch.node, set when it was
        chosen): the launch is bound to it when the node says yes, and when it gives no answer (it may have started
        the guest: unconfirmed until its polls tell). ApiError: the node refused it."""
        launch.node = node.endpoint
        crash_point("cc.launch.placed")
        try:
            await node.client.run_instance(await self._exported(node, launch.spec))
            crash_point("cc.launch.sent")
        except Unreachable as err:  # no answer: unknown, not failed
            if launch.unconfirmed_since is None:
                launch.unconfirmed_since = time.monotonic()
            log.warning("%s: %s gave no answer to run_instance (%s); waiting for its polls",
                        launch.instance_id, node.endpoint, err.message)
            if not self._wanted(launch):
                await self._end_on(node, launch.instance_id)
            self.registry.wake()
            return
        except ApiError:  # refused by the node (or the SC): it does not run it
            launch.node, launch.unconfirmed_since = None, None
            await self._unexport(node, launch.spec)
            raise
        launch.unconfirmed_since = None
        if not self._wanted(launch):  # terminated while the call was in flight
            await self._end_on(node, launch.instance_id)
            return
        log.info("%s placed on %s", launch.instance_id, node.endpoint)
        self.registry.wake()

    async def _exported(self, node: Node, spec: dict) -> dict:
        """The spec as this node gets it: each volume with the SC's export to the
        node's initiator (asking again gives the same account)."""
        if not spec.get("volumes"):
            return spec
        if self.storage is None:
            raise ApiError("This cluster has no storage controller for EBS volumes.")
        initiator = node_initiator(node.resource["name"])
        volumes = [{**v, "connection": await self.storage.export_volume(v["volume_id"],
                                                                        initiator)}
                   for v in spec["volumes"]]
        return {**spec, "volumes": volumes}

    async def _unexport(self, node: Node, spec: dict) -> None:
        """End the exports a node that does not run the instance was given."""
        for volume in spec.get("volumes") or ():
            try:
                await self.storage.unexport_volume(volume["volume_id"],
                                                   node_initiator(node.resource["name"]))
            except ApiError as err:  # the CLC ends every export once the instance ends
                log.warning("unexporting %s from %s failed: %s", volume["volume_id"],
                            node.endpoint, err.message)

    async def _end_on(self, node: Node, instance_id: str) -> bool:
        """End an instance nobody wants any more on one node; False if that failed."""
        try:
            await node.client.terminate_instance(instance_id)
            return True
        except ApiError as err:  # unreachable, or refused by the far side
            log.warning("ending %s on %s failed: %s", instance_id, node.endpoint, err.message)
            return False

    async def _place(self, *launches: Launch) -> None:
        """Place launches: each one's node is chosen under the placing lock, in
        memory (the choice holds the node's room at once: a launch bound to a node
        counts against it until the node lists it), then the run_instance calls go
        out outside the lock, SEND_CONCURRENCY at a time. A launch a node refuses is
        placed again on the nodes it has not tried, until none is left: then it has
        failed, with the last refusal."""
        refusals: dict[str, str] = {}  # instance id -> its last refusal
        while launches:
            async with self._placing:
                chosen = self._choose(launches, refusals)
            answers = await asyncio.gather(*(self._try(node, launch) for node, launch in chosen))
            again = []
            for (_, launch), refusal in zip(chosen, answers):
                if refusal is not None:
                    refusals[launch.instance_id] = refusal
                    again.append(launch)
            launches = tuple(again)

    def _choose(self, launches, refusals: dict[str, str]) -> list[tuple[Node, Launch]]:
        """Under the lock: a node for each launch, or the launch fails. One view of
        the cluster for the whole batch, each choice taken off its node's room."""
        candidates = self._candidates()
        index = {c.endpoint: i for i, c in enumerate(candidates)}
        chosen = []
        for launch in launches:
            if not self._wanted(launch):  # terminated before it was placed
                log.info("%s was terminated before it was placed", launch.instance_id)
                continue
            demand = launch.demand
            ranked = self.scheduler.rank(candidates, demand, exclude=launch.tried)
            if not ranked:
                launch.failed = refusals.get(launch.instance_id) or (
                    f"Insufficient capacity: no node can take {launch.spec['instance_type']} "
                    f"({len(launch.tried)} node(s) tried).")
                log.warning("%s cannot be placed: %s", launch.instance_id, launch.failed)
                continue
            best = ranked[0]
            launch.node = best.endpoint  # holds the room from now on
            candidates[index[best.endpoint]] = _holding(best, launch)
            chosen.append((self._node(best.endpoint), launch))
        return chosen

    async def _try(self, node: Node, launch: Launch) -> str | None:
        """Send one launch to its chosen node; the node's refusal, or None."""
        async with self._sending:
            if not self._wanted(launch):  # terminated meanwhile
                launch.node = None
                return None
            try:
                await self._send(node, launch)
                return None
            except ApiError as err:  # refused by the far side
                log.warning("%s refused by %s: %s", launch.instance_id, node.endpoint,
                            err.message)
                launch.tried.add(node.endpoint)
                return f"{node.endpoint}: {err.message}"

    async def _confirm(self, node: Node, launch: Launch, seen: dict | None) -> bool:
        """A launch whose run_instance got no answer, after its node's poll:
        True when the node's report settles it (the usual steps go on)."""
        if node.error is not None:  # still silent: the guest may be there or not
            if (not launch.failed and time.monotonic() - launch.unconfirmed_since
                    > self.unconfirmed_grace):
                launch.failed = (
                    f"{node.endpoint} gave no answer to run_instance and none since "
                    f"({node.error}); whether the instance started there is unknown, so it "
                    f"is not started on another node.")
                log.warning("%s: %s", launch.instance_id, launch.failed)
            return False
        if launch.failed:  # given up on: end it there if it landed after all
            if seen is None or await self._end_on(node, launch.instance_id):
                launch.unconfirmed_since = None
            return False
        if seen is not None:  # it landed
            launch.unconfirmed_since = None
            return True
        # The node answers and does not have it: send it there again (idempotent).
        async with self._placing:
            if not self._wanted(launch) or launch.unconfirmed_since is None:
                return False
            try:
                await self._send(node, launch)
                return False
            except ApiError as err:  # refused now: the node does not run it
                log.warning("%s refused by %s: %s", launch.instance_id, node.endpoint,
                            err.message)
                launch.tried.add(node.endpoint)
        await self._place(launch)
        return False

    async def after_poll(self, node: Node) -> None:
        """Place again what this node failed; forget launches it now reports running."""
        mine = [l for l in self.launches.values() if l.node == node.endpoint]
        if not mine:
            return
        listed = reported(node)
        for launch in mine:
            if launch.node != node.endpoint:  # placed again meanwhile
                continue
            seen = listed.get(launch.instance_id)
            if launch.unconfirmed_since is not None and not await self._confirm(
                    node, launch, seen):
                continue
            if seen is None or launch.failed:  # not there yet, or given up on
                continue
            if seen["state"] == "failed":
                log.warning("%s failed on %s: %s; trying another node", launch.instance_id,
                            launch.node, seen.get("reason"))
                try:
                    await node.client.terminate_instance(launch.instance_id)  # leave nothing
                except ApiError as err:  # unreachable, or refused by the far side
                    log.warning("cleanup of %s on %s failed: %s", launch.instance_id,
                                launch.node, err.message)
                    continue
                await self._unexport(node, launch.spec)
                launch.tried.add(launch.node)
                launch.node = None
                await self._place(launch)
                if launch.failed:
                    launch.failed = f"{launch.failed} Last failure: {seen.get('reason')}"
            elif seen["state"] != "pending":
                self.launches.pop(launch.instance_id, None)  # terminate() may have been first

    def describe(self) -> list[dict]:
        view = self._describe()
        if self.network is not None:
            for info in view:
                info["private_ip"] = self.network.private_ip(info["instance_id"])
        return view

    def _describe(self) -> list[dict]:
        view: dict[str, dict] = {}
        for node in self.registry.nodes:
            for instance_id, info in reported(node).items():
                view[instance_id] = {"instance_id": instance_id, "state": info["state"],
                                     "node": node.endpoint, "reason": info.get("reason")}
        for launch in self.launches.values():
            current = view.get(launch.instance_id)
            if launch.failed:
                view[launch.instance_id] = {"instance_id": launch.instance_id, "state": "failed",
                                            "node": None, "reason": launch.failed}
            elif current is None or current["state"] == "failed":
                # Not yet reported by its node, or being placed again: still pending.
                view[launch.instance_id] = {"instance_id": launch.instance_id,
                                            "state": "pending", "node": launch.node,
                                            "reason": None}
        return list(view.values())

    async def terminate(self, instance_ids: list[str]) -> list[dict]:
        results = []
        for instance_id in instance_ids:
            launch = self.launches.pop(instance_id, None)
            node = self._where(instance_id) or (self._node(launch.node)
                                                if launch and launch.node else None)
            if node is None:
                results.append({"instance_id": instance_id, "state": "terminated"})
                continue
            try:
                await node.client.terminate_instance(instance_id)
                crash_point("cc.terminate.sent")
                results.append({"instance_id": instance_id, "state": "terminated"})
                if self.network is not None:
                    self.network.forget(instance_id)
            except ApiError as err:  # unreachable, or refused by the far side
                results.append({"instance_id": instance_id, "state": "unknown",
                                "error": err.message})
        await self.registry.poll_all()  # report the change at once
        return results

    async def stop(self, instance_ids: list[str], force: bool) -> list[dict]:
        """Have each instance's node shut it down and let it go (its volumes stay, and
        so does its private address: the CLC's view reserves it). An instance no node
        runs is stopped already."""
        results = []
        for instance_id in instance_ids:
            node = self.node_of(instance_id)
            self.launches.pop(instance_id, None)
            if node is None:
                results.append({"instance_id": instance_id, "state": "stopped"})
                continue
            try:
                answer = await node.client.stop_instance(instance_id, force)
                results.append({"instance_id": instance_id, "state": answer["state"]})
            except ApiError as err:  # unreachable, or refused: the CLC asks again
                results.append({"instance_id": instance_id, "state": "unknown",
                                "error": err.message})
        self.registry.wake()
        return results

    def node_of(self, instance_id: str) -> Node | None:
        launch = self.launches.get(instance_id)
        return self._where(instance_id) or (self._node(launch.node)
                                            if launch and launch.node else None)
