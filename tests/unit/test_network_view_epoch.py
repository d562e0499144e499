"""A node keeps its last view on disk, outside the CLC's home, so a new cloud
on the same host (a new database, versions from 1 again) met a node holding
the old cloud's higher version: the node refused every view of the new one,
and elastic IPs and rules never reached it (found trying `make up` as a new
user). Views carry their cloud's epoch; another epoch always replaces."""
from __future__ import annotations

import asyncio

from cluster_controller.network import _replaces
from node_controller.network.service import NodeNetwork


def view(version: int, epoch: str) -> dict:
    return {"version": version, "epoch": epoch, "subnet": "10.64.0.0/16",
            "gateway": "10.64.0.1", "instances": [], "groups": []}


def test_a_new_clouds_view_replaces_an_old_clouds_higher_version():
    async def main():
        node = NodeNetwork(None)
        assert (await node.apply(view(7, "old0cloud")))["applied"]
        assert not (await node.apply(view(6, "old0cloud")))["applied"]  # same cloud: older
        assert (await node.apply(view(3, "new0cloud")))["applied"]  # another cloud
        assert node.status()["version"] == 3 and node.status()["epoch"] == "new0cloud"
        assert not (await node.apply(view(2, "new0cloud")))["applied"]
    asyncio.run(main())


def test_the_cc_holds_views_by_the_same_rule():
    assert _replaces(view(3, "b"), view(7, "a"))
    assert _replaces(view(7, "a"), view(7, "a"))
    assert not _replaces(view(6, "a"), view(7, "a"))
    assert _replaces(view(1, "a"), None)
