"""ModifyInstanceAttribute and DescribeInstanceAttribute: EC2's rules for each
attribute, and the attributes RunInstances and TerminateInstances obey.

Where each attribute lives: instanceType, userData, kernel and ramdisk are
columns of the instance; groupSet is its instance_groups (the network view
carries them to the nodes, so a change is enforced there); blockDeviceMapping's
DeleteOnTermination is its volume attachments'; the rest are in
instance_attributes (migration 0010). InstanceService and this service share
the instance's repositories: one resource, its rules in two modules.

EC2 changes some attributes only while the instance is `stopped`
(STOPPED_ONLY): an instance-store instance is never stopped, so it always
gets IncorrectInstanceState for them; once instances can stop (an EBS root),
the same code lets the change through.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

from cloud_controller.db.instance_attributes import InstanceAttributeRepository
from cloud_controller.db.instances import InstanceRepository
from cloud_controller.services.instances import decode_user_data
from cloud_controller.services.root_device import check_shutdown_behavior
from mallee import errors

STOPPED_ONLY = frozenset({"instanceType", "userData", "kernel", "ramdisk", "ebsOptimized",
                          "enaSupport", "sriovNetSupport", "enclaveOptions"})
READ_ONLY = frozenset({"rootDeviceName", "productCodes"})
MAX_GROUPS_PER_INSTANCE = 5  # EC2's default security groups per network interface
# attribute -> its column in instances (userData's is user_data, kept apart: bytes)
COLUMNS = {"instanceType": "instance_type", "kernel": "kernel_id", "ramdisk": "ramdisk_id"}
# attribute -> its column in instance_attributes (the plain stored ones)
STORED = {"disableApiTermination": "disable_api_termination",
          "disableApiStop": "disable_api_stop",
          "instanceInitiatedShutdownBehavior": "shutdown_behavior",
          "sourceDestCheck": "source_dest_check", "ebsOptimized": "ebs_optimized",
          "enaSupport": "ena_support", "sriovNetSupport": "sriov_net_support"}


@dataclass
class BlockDeviceChange:
    device: str
    volume_id: str | None
    delete_on_termination: bool


@dataclass
class Attributes:
    """Everything DescribeInstanceAttribute may show of one instance."""
    row: object
    values: dict  # instance_attributes' columns
    groups: list[dict]
    attachments: list


class InstanceAttributeService:
    def __init__(self, db, settings, *, instances, images, security_groups, attachments,
                 network_changed, vpcs):
        self.db = db
        self.settings = settings
        self.repo = InstanceAttributeRepository(db)
        self.rows = InstanceRepository(db)
        self.instances = instances  # InstanceService: finding the caller's instance
        self.images = images  # ImageService: kernels and ramdisks
        self.security_groups = security_groups  # SecurityGroupService: groupSet
        self.attachments = attachments  # AttachmentService: DeleteOnTermination
        self.network_changed = network_changed  # a groupSet change reaches the nodes
        self.vpcs = vpcs  # VpcService: ... and OVN's port groups (own subnets)

    async def read(self, account_id: str, instance_id: str) -> Attributes:
        row = (await self.instances.find(account_id, [instance_id]))[0]
        return Attributes(row, await self.repo.get(row["id"]),
                          (await self.instances.groups_of([row["id"]]))[row["id"]],
                          (await self.attachments.of_instances([row["id"]]))[row["id"]])

    async def of(self, instance_ids: list[str]) -> dict[str, dict]:
        """{instance id: stored attributes} (DescribeInstances' sourceDestCheck)."""
        return await self.repo.of(instance_ids)

    async def modify(self, account_id: str, instance_id: str, attribute: str, value) -> None:
        """Change one attribute; `value` is typed (bool, str, list) by the API layer."""
        if attribute in READ_ONLY:
            raise errors.InvalidParameterValue(
                f"Value ({attribute}) for parameter attribute is invalid. The attribute "
                f"{attribute} cannot be modified.")
        value = await self._checked(account_id, instance_id, attribute, value)
        async with self.db.unit():  # the state that allows it is read in the unit
            row = (await self.instances.find(account_id, [instance_id]))[0]
            if row["state"] in ("shutting-down", "terminated"):
                raise errors.IncorrectInstanceState(
                    f"The instance '{row['id']}' is not in a state from which it can be "
                    f"modified.")
            if attribute in STOPPED_ONLY and row["state"] != "stopped":
                raise errors.IncorrectInstanceState(
                    f"The instance '{row['id']}' is not in the 'stopped' state.")
            await self._write(row, attribute, value)
        if attribute == "groupSet":
            self.network_changed.notify()
        if attribute in ("groupSet", "sourceDestCheck") and row["subnet_id"]:
            await self.vpcs.ports_changed()  # its OVN port's port groups or security

    async def _checked(self, account_id: str, instance_id: str, attribute: str, value):
        """The value as stored, or EC2's error for a bad one (before any state check)."""
        if attribute == "instanceType":
            if self.settings.vmtype(value or "") is None:
                raise errors.InvalidInstanceAttributeValue(
                    f"Value ({value}) for parameter instanceType is invalid.")
        elif attribute == "userData":
            return decode_user_data(value)
        elif attribute in ("kernel", "ramdisk"):
            image = await self.images.launchable(account_id, value)
            if image["image_type"] != attribute:
                raise errors.InvalidParameterValue(
                    f"Value ({value}) for parameter {attribute} is invalid. {value} is not "
                    f"a {attribute} image.")
        elif attribute == "sriovNetSupport" and value != "simple":
            raise errors.InvalidParameterValue(
                f"Value ({value}) for parameter sriovNetSupport is invalid. Valid value: "
                f"simple.")
        elif attribute == "groupSet":
            if len(value) > MAX_GROUPS_PER_INSTANCE:
                raise errors.SecurityGroupsPerInstanceLimitExceeded(
                    f"The maximum number of security groups per instance "
                    f"({MAX_GROUPS_PER_INSTANCE}) has been reached.")
            row = (await self.instances.find(account_id, [instance_id]))[0]
            return [(await self.security_groups.instance_group(account_id, g, row))["id"]
                    for g in dict.fromkeys(value)]
        elif attribute == "enclaveOptions" and value:
            raise errors.UnsupportedOperation(
                "Nitro Enclaves are not supported by this cloud's instance types.")
        return value

    async def _write(self, row, attribute: str, value) -> None:
        instance_id = row["id"]
        if attribute == "instanceInitiatedShutdownBehavior":
            check_shutdown_behavior(value, row)
        if attribute in COLUMNS:
            await self.rows.update(instance_id, **{COLUMNS[attribute]: value},
                                   updated_at=time.time())
        elif attribute in STORED:
            await self.repo.put(instance_id, **{STORED[attribute]: value})
        elif attribute == "groupSet":
            await self.repo.set_groups(instance_id, value)
        elif attribute == "userData":
            await self.rows.update(instance_id, user_data=value, updated_at=time.time())
        elif attribute == "blockDeviceMapping":
            for change in value:
                await self.attachments.set_delete_on_termination(
                    row, change.device, change.volume_id, change.delete_on_termination)
        # enclaveOptions false: what every instance here has already

