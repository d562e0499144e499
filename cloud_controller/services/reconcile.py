"""After every poll of a CC, bring the CLC's instance rows in line with what
the nodes report. A lost reply is never a lost instance: anything the CC does
not know is sent again; anything it reports ended is ended here too.

Not reported is not gone while a node of the cluster is unreachable (a CC
that restarted with a node down has never heard from it): an instance the
CC does not report is unknown until every node of its cluster answers; if a
node stays down past the grace, the instance is ended here with that
reason, never sent again (it may run on that node). Should the node come
back with it, it is ended there (a reported instance whose row is ended)."""
from __future__ import annotations

import logging
import time

from cloud_controller.db.instance_attributes import InstanceAttributeRepository
from cloud_controller.db.instances import InstanceRepository
from cloud_controller.services import lifecycle

log = logging.getLogger(__name__)



class Reconciler:
    """resend_after: seconds a pending or ending instance may be unknown to its
    CC; unknown_grace: how long an unreported instance waits for its cluster's
    unreachable nodes ([clc] resend_after_seconds, unknown_grace_seconds);
    stop_on_shutdown: see _shut_down; stopped: async (row) -> None, run before a
    stopping instance that no node has any more is marked stopped (its volumes'
    exports end), again after a restart if it did not finish."""
    def __init__(self, db, launcher, monitor, resend_after: float = 10.0,
                 unknown_grace: float = 300.0, stop_on_shutdown=None, stopped=None):
        self.db = db
        self.stopped = stopped
        # async (row) -> None: a running instance whose guest shut down with the `stop`
        # behaviour becomes stopped (an EBS root's; None: every such instance ends)
        self.stop_on_shutdown = stop_on_shutdown
        self.attributes = InstanceAttributeRepository(db)
        self.resend_after = resend_after
        self.unknown_grace = unknown_grace
        self.launcher = launcher
        self.monitor = monitor  # told to poll fast while anything is changing
        self.repo = InstanceRepository(db)

    async def reconcile(self, cluster) -> None:
        if cluster.error is not None:
            return  # no news is not news of loss
        view = cluster.instances
        now = time.time()
        resend, re_terminate, re_stop = [], [], []
        silent = [n.get("name") or n.get("endpoint") for n in cluster.nodes
                  if n.get("status") != "up"]  # their instances are not in the view
        rows = await self.repo.in_states(("pending", "running", "stopping", "shutting-down"))
        self.monitor.busy = any(r["state"] != "running" for r in rows)
        for row in rows:
            if row["cluster"] != cluster.ref.name:
                continue
            seen = view.get(row["id"])
            state = seen["state"] if seen else None
            if state is None and silent and row["state"] != "running":  # unknown, not gone
                # (a stopping guest on a silent node may still write to its volumes)
                if row["state"] != "stopping" and now - row["updated_at"] > self.unknown_grace:
                    await self._give_up(row, cluster.ref.name, silent)
                continue
            if seen and seen.get("private_ip") and seen["private_ip"] != row["private_ip"]:
                async with self.db.unit():
                    await self.repo.update(row["id"], private_ip=seen["private_ip"])
            if row["state"] == "pending":
                if state == "running":
                    await lifecycle.transition(self.repo, row["id"], "pending", "running",
                                               node=seen.get("node"))
                elif state == "failed":
                    await lifecycle.transition(
                        self.repo, row["id"], "pending", "terminated",
                        reason=("Server.InternalError", seen.get("reason") or "launch failed"))
                elif state is None and now - row["updated_at"] > self.resend_after:
                    resend.append(row["id"])
            elif row["state"] == "running":
                if state in ("shutoff", "failed") and await self._shut_down(row, state):
                    re_terminate.append(row["id"])
            elif row["state"] == "stopping":
                if state in (None, "terminated"):  # no node has it: its volumes are free
                    if self.stopped is not None:
                        await self.stopped(row)
                    await lifecycle.transition(self.repo, row["id"], "stopping", "stopped",
                                               node=None)
                elif now - row["updated_at"] > self.resend_after:
                    re_stop.append(row["id"])
            elif row["state"] == "shutting-down":
                if state in (None, "terminated"):
                    await lifecycle.transition(self.repo, row["id"], "shutting-down",
                                               "terminated", reason=_end_reason(row))
                elif now - row["updated_at"] > self.resend_after:
                    re_terminate.append(row["id"])
        active = {r["id"] for r in rows}
        for instance_id, seen in view.items():  # on a node again, ended here meanwhile
            if instance_id not in active and seen["state"] not in ("terminated", "failed"):
                row = await self.repo.get(instance_id)
                if row is not None and row["state"] == "terminated":
                    log.warning("%s is reported %s by %s but was ended: ending it there",
                                instance_id, seen["state"], cluster.ref.name)
                    re_terminate.append(instance_id)
                elif row is not None and row["state"] == "stopped":
                    log.warning("%s is reported %s by %s but was stopped: stopping it there",
                                instance_id, seen["state"], cluster.ref.name)
                    re_stop.append(instance_id)
        if resend:
            log.info("sending %d pending instance(s) to %s again", len(resend), cluster.ref.name)
            await self.launcher.send(cluster.ref.name, resend)
        if re_terminate:
            await self.launcher.send_terminate(re_terminate)
        if re_stop:
            await self.launcher.send_stop(re_stop)


    async def _shut_down(self, row, state: str) -> bool:
        """The guest powered itself off (`shutoff`) or its domain died (`failed`): an
        instance-initiated shutdown. With the `stop` behaviour (which only an EBS root
        may have: services/root_device.py) the instance is handed to
        `stop_on_shutdown`, the one hook for it; otherwise it ends, whatever its
        disableApiTermination says, as in EC2: True once it is shutting-down, for the
        node to end it (its reason follows in _end_reason)."""
        if state == "shutoff" and self.stop_on_shutdown is not None and \
                (await self.attributes.get(row["id"]))["shutdown_behavior"] == "stop":
            await self.stop_on_shutdown(row)
            return False
        return await lifecycle.transition(self.repo, row["id"], "running", "shutting-down",
                                          transition_reason="Client.InstanceInitiatedShutdown")

    async def _give_up(self, row, cluster: str, silent: list[str]) -> None:
        """Ended here with the reason, not sent again: it may run on a silent node."""
        message = (f"node(s) {', '.join(map(str, silent))} of cluster {cluster} unreachable "
                   f"for over {self.unknown_grace:g}s; the instance's state is unknown")
        if row["state"] == "pending":
            reason = ("Server.InternalError",
                      f"Server.InternalError: launch not confirmed: {message}, so it was "
                      f"not started again elsewhere")
        else:
            code, text = _end_reason(row)
            reason = (code, f"{text} (not confirmed: {message})")
        if await lifecycle.transition(self.repo, row["id"], row["state"], "terminated",
                                      reason=reason):
            log.warning("%s: %s", row["id"], reason[1])


def _end_reason(row) -> tuple[str, str]:
    if (row["transition_reason"] or "").startswith("Client.InstanceInitiated"):
        return ("Client.InstanceInitiatedShutdown",
                "Client.InstanceInitiatedShutdown: Instance initiated shutdown")
    return ("Client.UserInitiatedShutdown", "Client.UserInitiatedShutdown: User initiated shutdown")
