"""The data path of AttachVolume and DetachVolume, as Eucalyptus does it: the CLC
asks the SC to export the volume to the initiator of the node the instance runs on
(a CHAP account and an ACL entry of that attachment's own), then asks the
instance's CC to have that node plug it in; a detach undoes both, in the other
order. Every step is idempotent, so a retry after a lost answer is harmless, and
a failed attach takes its export back: no account or ACL entry is left.

The volume's and the attachment's states are the volume service's; this module
only moves the bytes' path."""
from __future__ import annotations

from ebs.client import StorageClient
from cloud_controller.services.clusters import ClusterMonitor, ClusterState
from mallee import errors
from mallee.iscsi import node_initiator


class VolumeAttacher:
    def __init__(self, clusters: ClusterMonitor, storage: StorageClient):
        self.clusters = clusters
        self.storage = storage

    def _where(self, instance) -> tuple[ClusterState, str]:
        """The instance's cluster and its node's initiator IQN."""
        cluster = next((c for c in self.clusters.clusters if c.ref.name == instance["cluster"]),
                       None)
        node = next((n for n in (cluster.nodes if cluster else ())
                     if n.get("endpoint") == instance["node"]), None)
        if cluster is None or node is None:
            raise errors.IncorrectState(
                f"The node of instance {instance['id']} is not reachable now; try again.")
        return cluster, node_initiator(node["name"])

    async def attach(self, instance, volume_id: str, device: str) -> dict:
        """Export and plug in; the NC's answer (serial, target device)."""
        cluster, initiator = self._where(instance)
        connection = await self.storage.export_volume(volume_id, initiator)
        try:
            return await cluster.client.attach_volume(instance["id"], volume_id, device,
                                                      connection)
        except BaseException:
            await self.storage.unexport_volume(volume_id, initiator)
            raise

    async def detach(self, instance, volume_id: str) -> None:
        """Unplug (once the guest has let go), then end the export."""
        cluster, initiator = self._where(instance)
        await cluster.client.detach_volume(instance["id"], volume_id)
        await self.storage.unexport_volume(volume_id, initiator)

    async def forget(self, volume_id: str) -> None:
        """End every export of a volume whose instance is gone (terminated: its
        domain, disks and secrets went with it), whichever node it was on."""
        await self.storage.unexport_volume(volume_id)
