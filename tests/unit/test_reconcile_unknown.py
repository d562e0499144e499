"""Not reported by the CC is not "does not exist" (issue 11 #13 b): while a
node of the cluster is unreachable (a CC restarted with a node down has never
heard from it), an instance the CC does not report is unknown, so the CLC
neither ends a shutting-down row nor sends a pending one again; past the grace
it ends the row with the reason, and ends the guest if the node comes back with it."""
import asyncio
import time

from cloud_controller.db import open_database
from cloud_controller.db.accounts import AccountRepository
from cloud_controller.db.instances import InstanceRepository
from cloud_controller.services.clusters import ClusterState
from cloud_controller.services.reconcile import Reconciler
from mallee.settings import ClusterRef


class Recorder:
    """Stands in for the Launcher: records what the reconciler sends."""

    def __init__(self):
        self.sent, self.terminated = [], []

    async def send(self, cluster, instance_ids):
        self.sent += instance_ids

    async def send_terminate(self, instance_ids):
        self.terminated += instance_ids


class Monitor:
    busy = False


def cluster(statuses, instances=()):
    state = ClusterState(ClusterRef("c1", "z1", "127.0.0.1", 1), client=None)
    state.error = None
    state.nodes = [{"endpoint": f"n{i}", "name": f"n{i}", "status": s}
                   for i, s in enumerate(statuses)]
    state.instances = {i: {"instance_id": i, "state": "running", "node": "n1"}
                       for i in instances}
    return state


async def setup(tmp_path, grace):
    db = await open_database(tmp_path / "cloud.db")
    repo = InstanceRepository(db)
    old = time.time() - 60  # unknown to the CC for longer than RESEND_AFTER
    async with db.unit():
        await AccountRepository(db).insert_account("111111111111", "a", False)
        for instance_id, state in (("i-pending", "pending"), ("i-ending", "shutting-down")):
            await repo.insert({"id": instance_id, "account_id": "111111111111",
                               "reservation_id": "r-1", "launch_index": 0, "image_id": "ami-1",
                               "instance_type": "m1.small", "zone": "z1", "cluster": "c1",
                               "state": state, "launched_at": old, "updated_at": old}, [])
    launcher = Recorder()
    return db, repo, launcher, Reconciler(db, launcher, Monitor(), unknown_grace=grace)


def run(tmp_path, grace, check):
    """check(repo, launcher, reconciler) on a fresh database, closed whatever happens
    (an open one keeps its threads, and the test process, alive)."""
    async def scenario():
        db, repo, launcher, reconciler = await setup(tmp_path, grace)
        try:
            await check(repo, launcher, reconciler)
        finally:
            await db.close()
    asyncio.run(scenario())

async def states(repo):
    return {i: (await repo.get(i))["state"] for i in ("i-pending", "i-ending")}


def test_an_unreported_instance_is_unknown_while_a_node_is_down(tmp_path):
    async def check(repo, launcher, reconciler):
        await reconciler.reconcile(cluster(["up", "unknown"]))  # a CC restarted, n1 down
        assert await states(repo) == {"i-pending": "pending", "i-ending": "shutting-down"}
        assert launcher.sent == []
        await reconciler.reconcile(cluster(["up", "up"]))  # every node answered: conclusive
        assert (await states(repo))["i-ending"] == "terminated"
        assert launcher.sent == ["i-pending"]
    run(tmp_path, 3600, check)


def test_past_the_grace_it_is_ended_with_a_reason_and_never_sent_again(tmp_path):
    async def check(repo, launcher, reconciler):
        await reconciler.reconcile(cluster(["up", "unreachable"]))
        assert await states(repo) == {"i-pending": "terminated", "i-ending": "terminated"}
        row = await repo.get("i-pending")
        assert row["reason_code"] == "Server.InternalError"
        assert "n1" in row["reason_message"] and "not started again" in row["reason_message"]
        assert "n1" in (await repo.get("i-ending"))["reason_message"]
        assert launcher.sent == []
        # n1 comes back with the guests: they are ended there.
        await reconciler.reconcile(cluster(["up", "up"], ["i-pending", "i-ending"]))
        assert sorted(launcher.terminated) == ["i-ending", "i-pending"] and launcher.sent == []
    run(tmp_path, 30, check)
