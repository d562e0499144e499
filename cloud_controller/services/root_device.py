"""What an instance's root device is, and the rules that follow from it.

An instance booted from its image's bundle into an overlay on its node has
EC2's instance-store root: it is never stopped, and its guest's own shutdown
always ends it (EC2 refuses the `stop` behaviour for it). An EBS root answers
("ebs", its device) here and the same rules let `stop` through.
"""
from __future__ import annotations

from mallee import errors

SHUTDOWN_BEHAVIOURS = ("stop", "terminate")


def root_device(row) -> tuple[str, str]:
    """(RootDeviceType, RootDeviceName) of an instance: the one place that says it.
    An instance booted from its image's bundle into an overlay on the node is
    instance-store (root /dev/sda1 as EC2 names it); one launched from an EBS-backed
    image boots from a volume made from its snapshot (services/boot_volumes.py)."""
    return row["root_device_type"], row["root_device_name"]


def check_shutdown_behavior(value: str, row) -> str:
    """A shutdown behaviour EC2 takes for this instance (RunInstances, Modify)."""
    if value not in SHUTDOWN_BEHAVIOURS:
        raise errors.InvalidParameterValue(
            f"Value ({value}) for parameter instanceInitiatedShutdownBehavior is invalid. "
            f"Valid values: {', '.join(SHUTDOWN_BEHAVIOURS)}.")
    if value == "stop" and root_device(row)[0] != "ebs":  # EC2's words for instance-store
        raise errors.InvalidParameterCombination(
            "The attribute instanceInitiatedShutdownBehavior can only be used for elastic "
            "images.")
    return value

