"""After every poll of a CC, bring the CLC's instance rows in line with what
the nodes report. A lost reply is never a lost instance: anything the CC does
not know is sent again; anything it reports ended is ended here too."""
from __future__ import annotations

import logging
import time

from cloud_controller.db.instances import InstanceRepository
from cloud_controller.services import lifecycle

log = logging.getLogger(__name__)

RESEND_AFTER = 10.0  # seconds a pending or ending instance may be unknown to its CC


class Reconciler:
    def __init__(self, db, launcher, monitor):
        self.db = db
        self.launcher = launcher
        self.monitor = monitor  # told to poll fast while anything is changing
        self.repo = InstanceRepository(db)

    async def reconcile(self, cluster) -> None:
        if cluster.error is not None:
            return  # no news is not news of loss
        view = cluster.instances
        now = time.time()
        resend, re_terminate = [], []
        rows = await self.repo.in_states(("pending", "running", "shutting-down"))
        self.monitor.busy = any(r["state"] != "running" for r in rows)
        for row in rows:
            if row["cluster"] != cluster.ref.name:
                continue
            seen = view.get(row["id"])
            state = seen["state"] if seen else None
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
                elif state is None and now - row["updated_at"] > RESEND_AFTER:
                    resend.append(row["id"])
            elif row["state"] == "running":
                if state in ("shutoff", "failed"):
                    # Instance-store instances end when the guest powers itself off.
                    if await lifecycle.transition(
                            self.repo, row["id"], "running", "shutting-down",
                            transition_reason="Client.InstanceInitiatedShutdown"):
                        re_terminate.append(row["id"])
            elif row["state"] == "shutting-down":
                if state in (None, "terminated"):
                    await lifecycle.transition(self.repo, row["id"], "shutting-down",
                                               "terminated", reason=_end_reason(row))
                elif now - row["updated_at"] > RESEND_AFTER:
                    re_terminate.append(row["id"])
        if resend:
            log.info("sending %d pending instance(s) to %s again", len(resend), cluster.ref.name)
            await self.launcher.send(cluster.ref.name, resend)
        if re_terminate:
            await self.launcher.send_terminate(re_terminate)


def _end_reason(row) -> tuple[str, str]:
    if (row["transition_reason"] or "").startswith("Client.InstanceInitiated"):
        return ("Client.InstanceInitiatedShutdown",
                "Client.InstanceInitiatedShutdown: Instance initiated shutdown")
    return ("Client.UserInitiatedShutdown", "Client.UserInitiatedShutdown: User initiated shutdown")
