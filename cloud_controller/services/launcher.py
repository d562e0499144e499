"""Hands instances to their cluster: the CLC's calls to the CC for one
instance's life (run, stop, terminate, reboot, console). Every call is
idempotent on the instance id, so the reconciler may repeat any of them.

An instance that boots with volumes (an EBS-backed image's root, RunInstances'
BlockDeviceMapping) is sent once they are made and attached (boot_volumes.py):
that wait runs in a task of its own, never in the reconciler's poll."""
from __future__ import annotations

import base64
import json
import logging

from cloud_controller.db.instances import InstanceRepository
from cloud_controller.db.network_interfaces import NetworkInterfaceRepository
from cloud_controller.db.volumes import AttachmentRepository
from cloud_controller.services import lifecycle
from cloud_controller.services.background import Background
from cloud_controller.services.images import split_location
from cloud_controller.ovn.ports import port_name
from cloud_controller.services.network_view import metadata_options
from mallee import errors
from mallee.faults import crash_point
from mallee.netnames import private_dns_name, public_dns_name
from mallee.rpc import Unreachable

log = logging.getLogger(__name__)


def vpc_ports(interfaces: list, addresses: dict[str, list],
              groups: dict[str, list[dict]]) -> list[dict]:
    """An instance's interfaces in own subnets (device-index order): the OVN logical
    switch port of each, for the node, which gives the guest one NIC per port (and its
    metadata's network/interfaces/macs tree)."""
    return [{"name": port_name(n["id"]), "mac": n["mac"], "device_index": n["device_index"],
             "private_ip": addresses[n["id"]][0]["private_ip"] if addresses[n["id"]] else None,
             "secondary_ips": [a["private_ip"] for a in addresses[n["id"]][1:]],
             "subnet_id": n["subnet_id"], "group_ids": [g["id"] for g in groups[n["id"]]]}
            for n in interfaces if n["subnet_id"]]


class Launcher:
    def __init__(self, db, settings, clusters, store, images, system_credential,
                 boot_volumes=None):
        self.db = db
        self.boot_volumes = boot_volumes  # BootVolumes: the volumes a launch makes first
        self.attachments = AttachmentRepository(db)
        self._preparing: set[str] = set()
        self.settings = settings
        self.clusters = clusters  # ClusterMonitor
        self.store = store  # ObjectStore, to presign bundle URLs for the node
        self.system_credential = system_credential  # async () -> Credential
        self.instances = InstanceRepository(db)
        self.interfaces = NetworkInterfaceRepository(db)
        self.images = images  # ImageService: where each image's bundle is
        self.background = Background()

    def _cluster(self, name: str):
        return next(c for c in self.clusters.clusters if c.ref.name == name)

    async def _source(self, image_id: str | None, credential) -> dict | None:
        if not image_id:
            return None
        image = await self.images.get(image_id)
        bucket, key = split_location(image["location"])
        folder = key.rsplit("/", 1)[0] + "/" if "/" in key else ""
        # Fetched as its owner (who could read it when registering), the cloud
        # admin only when the owner has no key left; either way the node runs
        # it only if the manifest is the one registered (manifest_sha256).
        credential = await self.images.owner_credential(image) or credential
        return {"image_id": image_id, "kind": image["image_type"],
                "manifest_sha256": image["manifest_sha256"],
                "manifest_url": self.store.presign(credential, bucket, key),
                "part_urls": {p: self.store.presign(credential, bucket, folder + p)
                              for p in json.loads(image["parts"])}}

    async def spec(self, row) -> dict:
        """Everything a node needs to run one instance, without any credential."""
        credential = await self.system_credential()
        vmtype = self.settings.vmtype(row["instance_type"])
        groups = (await self.instances.groups_of([row["id"]]))[row["id"]]
        ports = []
        if row["subnet_id"]:
            attached = (await self.interfaces.of_instances([row["id"]]))[row["id"]]
            eni_ids = [n["id"] for n in attached]
            ports = vpc_ports(attached, await self.interfaces.addresses_of(eni_ids),
                              await self.interfaces.groups_of(eni_ids))
        return {
            "instance_id": row["id"], "account_id": row["account_id"],
            "reservation_id": row["reservation_id"], "launch_index": row["launch_index"],
            "instance_type": vmtype.name, "cpu": vmtype.cpu, "memory_mb": vmtype.memory,
            "disk_gb": vmtype.disk, "zone": row["zone"], "mac": row["mac"],
            "image": None if row["root_device_type"] == "ebs"
            else await self._source(row["image_id"], credential),
            # its volumes, the root first; the CC adds each one's export to the chosen node
            "volumes": [{"volume_id": a["volume_id"], "device": a["device"],
                         "root": a["device"] == row["root_device_name"]}
                        for a in await self.attachments.of_instance(row["id"])
                        if a["state"] == "attached"],
            "kernel": await self._source(row["kernel_id"], credential),
            "ramdisk": await self._source(row["ramdisk_id"], credential),
            "key_name": row["key_name"], "public_key": row["public_key"],
            "user_data": base64.b64encode(row["user_data"]).decode()
            if row["user_data"] is not None else None,
            "security_groups": [g["name"] for g in groups],
            # Networking (docs/network.md): the CC fills in private_ip and hostname (and
            # the metadata that depends on them); a recorded address is kept if free.
            "private_ip": None if row["subnet_id"] else row["private_ip"], "hostname": None,
            "groups": [g["id"] for g in groups],
            "metadata": self._metadata(row, groups),
            "metadata_options": metadata_options(row),
            # VPC mode (docs/vpc.md): NICs on OVN, which the node plugs into br-int, the
            # primary one (device 0) first; the CC leaves them out of EDGE's addresses
            "vpc_port": ports[0] if ports else None, "vpc_ports": ports,
        } | self._vpc_names(row)

    def _vpc_names(self, row) -> dict:
        """An own subnet's address is the CLC's: the names and metadata that follow
        from it (the CC gives EDGE instances theirs)."""
        if not row["subnet_id"]:
            return {}
        return {"hostname": private_dns_name(row["private_ip"], self.settings.cloud.region)}

    def _metadata(self, row, groups) -> dict:
        public = public_dns_name(row["public_ip"], self.settings.cloud.region)
        return {"ami-id": row["image_id"], "ami-launch-index": row["launch_index"],
                "instance-id": row["id"], "reservation-id": row["reservation_id"],
                "instance-type": row["instance_type"], "mac": row["mac"],
                "placement": {"availability-zone": row["zone"]},
                "security-groups": [g["name"] for g in groups],
                "kernel-id": row["kernel_id"], "ramdisk-id": row["ramdisk_id"],
                "public-ipv4": row["public_ip"], "public-hostname": public,
                **self._vpc_metadata(row)}

    def _vpc_metadata(self, row) -> dict:
        if not row["subnet_id"]:
            return {}
        name = private_dns_name(row["private_ip"], self.settings.cloud.region)
        return {"local-ipv4": row["private_ip"], "local-hostname": name, "hostname": name}

    def launch(self, cluster, instance_ids: list[str]) -> None:
        self.launch_in(cluster.ref.name, instance_ids)

    def launch_in(self, cluster_name: str, instance_ids: list[str]) -> None:
        self.background.spawn(self.send(cluster_name, instance_ids))

    async def send(self, cluster_name: str, instance_ids: list[str]) -> None:
        rows = [await self.instances.get(i) for i in instance_ids]
        rows = [r for r in rows if r and r["state"] == "pending"]
        ready = []
        for row in rows:
            if self.boot_volumes is not None and await self.boot_volumes.missing(row["id"]):
                if row["id"] not in self._preparing:
                    self._preparing.add(row["id"])
                    self.background.spawn(self._prepare(cluster_name, row))
            elif row["id"] not in self._preparing:
                ready.append(row)
        specs = [await self.spec(r) for r in ready]
        if not specs:
            return
        try:
            results = await self._cluster(cluster_name).client.run_instances(specs)
            crash_point("clc.run.sent")
        except errors.ApiError as err:
            # The instances stay pending; the reconciler sends them again.
            log.warning("run_instances on %s failed: %s", cluster_name, err.message)
            return
        self.clusters.wake()
        for result in results:
            if not result.get("accepted"):
                await lifecycle.transition(
                    self.instances, result["instance_id"], "pending", "terminated",
                    reason=("Server.InsufficientInstanceCapacity", result.get("error", "")))

    async def _prepare(self, cluster_name: str, row) -> None:
        """Make and attach the instance's volumes, then send it; a volume that cannot
        be made ends the launch with the reason."""
        try:
            await self.boot_volumes.prepare(row)
        except errors.ApiError as err:
            log.warning("%s: its volumes could not be made: %s", row["id"], err.message)
            await lifecycle.transition(
                self.instances, row["id"], "pending", "terminated",
                reason=("Server.InternalError", f"Server.InternalError: {err.message}"))
            return
        finally:
            self._preparing.discard(row["id"])
        await self.send(cluster_name, [row["id"]])

    def stop(self, instance_ids: list[str], force: bool = False) -> None:
        self.background.spawn(self.send_stop(instance_ids, force))

    async def send_stop(self, instance_ids: list[str], force: bool = False) -> None:
        """Ask each instance's CC to stop it; a lost answer is asked again by the
        reconciler (the instance stays `stopping` until no node has it)."""
        await self._per_cluster(instance_ids, "stop_instances",
                                lambda client, chunk: client.stop_instances(chunk, force),
                                "clc.stop.sent")

    def terminate(self, instance_ids: list[str]) -> None:
        self.background.spawn(self.send_terminate(instance_ids))

    async def send_terminate(self, instance_ids: list[str]) -> None:
        await self._per_cluster(instance_ids, "terminate_instances",
                                lambda client, chunk: client.terminate_instances(chunk),
                                "clc.terminate.sent")

    async def _per_cluster(self, instance_ids: list[str], what: str, call, crash: str) -> None:
        """One call per cluster for its instances; a failure is logged (the
        reconciler asks again) and the others go on."""
        by_cluster: dict[str, list[str]] = {}
        for instance_id in instance_ids:
            row = await self.instances.get(instance_id)
            by_cluster.setdefault(row["cluster"], []).append(instance_id)
        for name, chunk in by_cluster.items():
            try:
                await call(self._cluster(name).client, chunk)
                crash_point(crash)
            except errors.ApiError as err:
                log.warning("%s on %s failed: %s", what, name, err.message)
        self.clusters.wake()

    async def reboot(self, rows) -> None:
        by_cluster: dict[str, list[str]] = {}
        for row in rows:
            by_cluster.setdefault(row["cluster"], []).append(row["id"])
        for name, chunk in by_cluster.items():
            try:
                await self._cluster(name).client.reboot_instances(chunk)
            except Unreachable as err:
                raise errors.Unavailable(f"Cluster {name} could not be reached: {err.message}")

    async def console_output(self, row) -> tuple[float, str]:
        try:
            answer = await self._cluster(row["cluster"]).client.get_console_output(row["id"])
        except Unreachable as err:
            raise errors.Unavailable(f"The node could not be reached: {err.message}")
        return answer["timestamp"], answer["output"]

    async def close(self) -> None:
        await self.background.close()
