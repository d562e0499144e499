"""RunInstances, DescribeInstances, DescribeInstanceStatus, TerminateInstances,
RebootInstances, StopInstances, StartInstances, GetConsoleOutput and the
instance attributes."""
from __future__ import annotations

import base64
from dataclasses import dataclass
from itertools import groupby
from typing import ClassVar

from cloud_controller.api.context import RequestContext
from cloud_controller.api.filters import FilterSet
from cloud_controller.api.paging import check_max_results, decode_token, encode_token
from cloud_controller.api.tagging import tag_list, tags_for
from cloud_controller.services.instances import LaunchRequest, decode_user_data
from cloud_controller.services.lifecycle import CODES
from cloud_controller.services.vpcs import (default_subnet_id, default_vpc_id,
                                            network_interface_id)
from mallee import errors
from mallee.netnames import private_dns_name, public_dns_name
from cloud_controller.api.query import Filter, TagSpecification, listparam, param
from mallee.xmlwrite import iso8601


@dataclass
class Placement:
    availability_zone: str = param("AvailabilityZone")


@dataclass
class NetworkInterfaceSpec:
    device_index: int = param("DeviceIndex")
    subnet_id: str = param("SubnetId")
    group_ids: list[str] = listparam("SecurityGroupId")
    associate_public_ip: bool = param("AssociatePublicIpAddress")
    network_interface_id: str = param("NetworkInterfaceId")
    private_ip: str = param("PrivateIpAddress")
    delete_on_termination: bool = param("DeleteOnTermination")
    description: str = param("Description")


@dataclass
class RunInstancesRequest:
    image_id: str = param("ImageId", required=True)
    min_count: int = param("MinCount", required=True)
    max_count: int = param("MaxCount", required=True)
    instance_type: str = param("InstanceType", default="m1.small")
    key_name: str = param("KeyName")
    user_data: str = param("UserData")
    placement: Placement = param("Placement")
    security_groups: list[str] = listparam("SecurityGroup")
    security_group_ids: list[str] = listparam("SecurityGroupId")
    subnet_id: str = param("SubnetId")
    network_interfaces: list[NetworkInterfaceSpec] = listparam("NetworkInterface")
    private_ip: str = param("PrivateIpAddress")
    client_token: str = param("ClientToken")
    kernel_id: str = param("KernelId")
    ramdisk_id: str = param("RamdiskId")
    tag_specifications: list[TagSpecification] = listparam("TagSpecification")
    dry_run: bool = param("DryRun", default=False)
    # EC2 takes these; this cloud accepts them and does not act on them.
    IGNORED: ClassVar[tuple[str, ...]] = (
        "AdditionalInfo", "AddressingType", "BlockDeviceMapping",
        "CapacityReservationSpecification", "CpuOptions", "CreditSpecification",
        "DisableApiStop", "DisableApiTermination", "EbsOptimized", "ElasticGpuSpecification",
        "ElasticInferenceAccelerator", "EnablePrimaryIpv6", "EnclaveOptions",
        "HibernationOptions", "IamInstanceProfile", "InstanceInitiatedShutdownBehavior",
        "InstanceMarketOptions", "Ipv6Address", "Ipv6AddressCount", "LaunchTemplate",
        "LicenseSpecification", "MaintenanceOptions", "MetadataOptions", "Monitoring",
        "NetworkPerformanceOptions", "Operator", "PrivateDnsNameOptions", "SecondaryInterface",
    )


@dataclass
class InstanceIdsRequest:
    instance_ids: list[str] = listparam("InstanceId", required=True)
    force: bool = param("Force", default=False)
    dry_run: bool = param("DryRun", default=False)
    # EC2 takes these; this cloud accepts them and does not act on them.
    IGNORED: ClassVar[tuple[str, ...]] = ("AdditionalInfo", "Hibernate", "SkipOsShutdown",)


@dataclass
class DescribeInstancesRequest:
    instance_ids: list[str] = listparam("InstanceId")
    filters: list[Filter] = listparam("Filter")
    max_results: int = param("MaxResults")
    next_token: str = param("NextToken")
    dry_run: bool = param("DryRun", default=False)
    # EC2 takes these; this cloud accepts them and does not act on them.
    IGNORED: ClassVar[tuple[str, ...]] = ("IncludeManagedResources",)


@dataclass
class DescribeInstanceStatusRequest:
    instance_ids: list[str] = listparam("InstanceId")
    filters: list[Filter] = listparam("Filter")
    include_all: bool = param("IncludeAllInstances", default=False)
    max_results: int = param("MaxResults")
    next_token: str = param("NextToken")
    dry_run: bool = param("DryRun", default=False)
    # EC2 takes these; this cloud accepts them and does not act on them.
    IGNORED: ClassVar[tuple[str, ...]] = ("IncludeManagedResources",)


@dataclass
class GetConsoleOutputRequest:
    instance_id: str = param("InstanceId", required=True)
    latest: bool = param("Latest", default=False)
    dry_run: bool = param("DryRun", default=False)


@dataclass
class DescribeInstanceAttributeRequest:
    instance_id: str = param("InstanceId", required=True)
    attribute: str = param("Attribute", required=True)
    dry_run: bool = param("DryRun", default=False)


@dataclass
class AttributeValue:
    value: str = param("Value")


@dataclass
class ModifyInstanceAttributeRequest:
    instance_id: str = param("InstanceId", required=True)
    attribute: str = param("Attribute")
    value: str = param("Value")
    instance_type: AttributeValue = param("InstanceType")
    user_data: AttributeValue = param("UserData")
    dry_run: bool = param("DryRun", default=False)
    # EC2 takes these; this cloud accepts them and does not act on them.
    IGNORED: ClassVar[tuple[str, ...]] = (
        "BlockDeviceMapping", "DisableApiStop", "DisableApiTermination", "EbsOptimized",
        "EnaSupport", "EnclaveOptions", "GroupId", "InstanceInitiatedShutdownBehavior",
        "Kernel", "Ramdisk", "SourceDestCheck", "SriovNetSupport",
    )


def state_of(row) -> dict:
    return {"code": CODES[row["state"]], "name": row["state"]}


def group_set(groups: list[dict]) -> list[dict]:
    """An instance's groups ({"id", "name"} rows) as EC2's groupSet."""
    return [{"groupId": g["id"], "groupName": g["name"]} for g in groups]


def instance_item(ctx: RequestContext, row, groups: list[dict], tags: dict[str, str]) -> dict:
    groups = group_set(groups)
    vmtype = ctx.cloud.settings.vmtype(row["instance_type"])
    region = ctx.cloud.settings.cloud.region
    private_dns, public_dns = (private_dns_name(row["private_ip"], region),
                               public_dns_name(row["public_ip"], region))
    reason = None
    if row["reason_code"]:
        reason = {"code": row["reason_code"], "message": row["reason_message"]}
    return {
        "instanceId": row["id"], "imageId": row["image_id"], "instanceState": state_of(row),
        "privateDnsName": private_dns, "dnsName": public_dns,
        "reason": row["transition_reason"] or "",
        "keyName": row["key_name"], "amiLaunchIndex": row["launch_index"], "productCodes": [],
        "instanceType": row["instance_type"], "launchTime": iso8601(row["launched_at"]),
        "placement": {"availabilityZone": row["zone"], "groupName": "", "tenancy": "default"},
        "kernelId": row["kernel_id"], "ramdiskId": row["ramdisk_id"],
        "monitoring": {"state": "disabled"},
        "privateIpAddress": row["private_ip"], "ipAddress": row["public_ip"],
        "vpcId": default_vpc_id(row["account_id"]),
        "subnetId": default_subnet_id(row["account_id"], row["zone"]),
        "networkInterfaceSet": _interfaces(row, groups, private_dns, public_dns),
        "groupSet": groups, "stateReason": reason, "architecture": "x86_64",
        "rootDeviceType": "instance-store", "rootDeviceName": "/dev/sda1",
        "blockDeviceMapping": [], "virtualizationType":
            "paravirtual" if row["kernel_id"] else "hvm",
        "clientToken": row["client_token"] or "", "tagSet": tag_list(tags),
        "hypervisor": "xen", "ebsOptimized": False, "enaSupport": False,
        "sourceDestCheck": True,
        "cpuOptions": {"coreCount": vmtype.cpu if vmtype else 1, "threadsPerCore": 1},
        "metadataOptions": {"state": "applied", "httpTokens": "optional",
                            "httpPutResponseHopLimit": 1, "httpEndpoint": "enabled"},
    }


def _interfaces(row, groups: list[dict], private_dns: str, public_dns: str) -> list[dict]:
    """The instance's one interface, in its account's default subnet."""
    if row["state"] == "terminated":
        return []
    association = {"publicIp": row["public_ip"], "publicDnsName": public_dns,
                   "ipOwnerId": row["account_id"]} if row["public_ip"] else None
    eni = network_interface_id(row["id"])
    return [{
        "networkInterfaceId": eni, "subnetId": default_subnet_id(row["account_id"], row["zone"]),
        "vpcId": default_vpc_id(row["account_id"]), "description": "",
        "ownerId": row["account_id"], "status": "in-use", "macAddress": row["mac"],
        "privateIpAddress": row["private_ip"], "privateDnsName": private_dns or None,
        "sourceDestCheck": True, "groupSet": groups, "interfaceType": "interface",
        "attachment": {"attachmentId": "eni-attach-" + eni[4:], "deviceIndex": 0,
                       "status": "attached", "attachTime": iso8601(row["launched_at"]),
                       "deleteOnTermination": True, "networkCardIndex": 0},
        "association": association,
        "privateIpAddressesSet": [{"privateIpAddress": row["private_ip"],
                                   "privateDnsName": private_dns or None, "primary": True,
                                   "association": association}] if row["private_ip"] else [],
    }]


async def _items(ctx: RequestContext, rows) -> list[tuple[object, dict]]:
    ids = [r["id"] for r in rows]
    groups = await ctx.cloud.instances.groups_of(ids)
    tags = await ctx.cloud.tags.of(ids)
    return [(r, instance_item(ctx, r, groups[r["id"]], tags[r["id"]])) for r in rows]


def _reservations(ctx: RequestContext, items) -> list[dict]:
    out = []
    for rid, group in groupby(items, key=lambda pair: pair[0]["reservation_id"]):
        group = list(group)
        first = group[0][1]
        out.append({"reservationId": rid, "ownerId": group[0][0]["account_id"],
                    "groupSet": first["groupSet"], "instancesSet": [item for _, item in group]})
    return out


def _placement(ctx: RequestContext, req: RunInstancesRequest):
    """(zone, group ids, public address at launch) from SubnetId or NetworkInterface.N,
    which name the same EDGE launch in the account's default subnet of a zone."""
    zone = req.placement.availability_zone if req.placement else None
    group_ids, public_ip, subnet_id = list(req.security_group_ids), None, req.subnet_id
    if req.private_ip:
        raise errors.InvalidParameterValue("PrivateIpAddress: the cluster assigns addresses.")
    if req.network_interfaces:
        if req.subnet_id or req.security_groups or req.security_group_ids:
            raise errors.InvalidParameterCombination(
                "Network interfaces and an instance-level subnet ID or security groups may "
                "not be specified on the same request")
        (nic, *more) = req.network_interfaces
        if more or nic.device_index not in (0, None) or nic.network_interface_id or \
                nic.private_ip:
            raise errors.InvalidParameterValue(
                "Only one new network interface (DeviceIndex 0) is supported on this cloud.")
        group_ids, public_ip, subnet_id = list(nic.group_ids), nic.associate_public_ip, \
            nic.subnet_id
    if subnet_id:
        subnet = ctx.cloud.vpcs.subnet(ctx.account_id, subnet_id)
        if zone and zone != subnet.zone:
            raise errors.InvalidParameterCombination(
                f"Subnet {subnet_id} is in {subnet.zone}, not in {zone}.")
        zone = subnet.zone
    return zone, group_ids, public_ip


async def run_instances(ctx: RequestContext, req: RunInstancesRequest) -> dict:
    tags = tags_for(req.tag_specifications, "instance")
    zone, group_ids, public_ip = _placement(ctx, req)
    rows = await ctx.cloud.instances.run(ctx.account_id, LaunchRequest(
        image_id=req.image_id, min_count=req.min_count, max_count=req.max_count,
        instance_type=req.instance_type, key_name=req.key_name, user_data=req.user_data,
        zone=zone, group_names=req.security_groups, group_ids=group_ids,
        client_token=req.client_token, kernel_id=req.kernel_id, ramdisk_id=req.ramdisk_id,
        tags=tags, public_ip=public_ip))
    items = await _items(ctx, rows)
    reservation = _reservations(ctx, items)[0]
    return {"reservationId": reservation["reservationId"], "ownerId": ctx.account_id,
            "groupSet": reservation["groupSet"], "instancesSet": reservation["instancesSet"]}


INSTANCE_FILTERS = {
    "instance-id": lambda p: p[0]["id"], "image-id": lambda p: p[0]["image_id"],
    "instance-state-name": lambda p: p[0]["state"],
    "instance-state-code": lambda p: str(CODES[p[0]["state"]]),
    "instance-type": lambda p: p[0]["instance_type"],
    "availability-zone": lambda p: p[0]["zone"],
    "key-name": lambda p: p[0]["key_name"],
    "reservation-id": lambda p: p[0]["reservation_id"],
    "private-ip-address": lambda p: p[0]["private_ip"],
    "ip-address": lambda p: p[0]["public_ip"],
    "private-dns-name": lambda p: p[1]["privateDnsName"],
    "dns-name": lambda p: p[1]["dnsName"],
    "vpc-id": lambda p: p[1]["vpcId"], "subnet-id": lambda p: p[1]["subnetId"],
    "network-interface.network-interface-id": lambda p: [
        i["networkInterfaceId"] for i in p[1]["networkInterfaceSet"]],
    "network-interface.addresses.private-ip-address": lambda p: p[0]["private_ip"],
    "association.public-ip": lambda p: p[0]["public_ip"],
    "kernel-id": lambda p: p[0]["kernel_id"], "ramdisk-id": lambda p: p[0]["ramdisk_id"],
    "launch-index": lambda p: str(p[0]["launch_index"]),
    "client-token": lambda p: p[0]["client_token"],
    "owner-id": lambda p: p[0]["account_id"],
    "root-device-type": lambda p: "instance-store",
    "architecture": lambda p: "x86_64",
    "instance.group-id": lambda p: [g["groupId"] for g in p[1]["groupSet"]],
    "instance.group-name": lambda p: [g["groupName"] for g in p[1]["groupSet"]],
    "group-id": lambda p: [g["groupId"] for g in p[1]["groupSet"]],
    "group-name": lambda p: [g["groupName"] for g in p[1]["groupSet"]],
    "state-reason-code": lambda p: p[0]["reason_code"],
    "hypervisor": lambda p: "xen",
    "virtualization-type": lambda p: p[1]["virtualizationType"],
}


async def _scan(ctx: RequestContext, filters: FilterSet | None, ids, max_results,
                next_token) -> tuple[list, str | None]:
    """Matching (row, item) pairs for one page: reads rows in id order, chunk by chunk,
    so the cost follows the page, not the account's history."""
    service = ctx.cloud.instances
    if ids:
        pairs = await _items(ctx, await service.describe(ctx.account_id, instance_ids=ids))
        return [p for p in pairs if filters is None or filters.matches(p)], None
    after = decode_token(next_token) if next_token else None
    found: list = []
    chunk = max(50, (max_results or 1000) + 1)
    while True:
        rows = await service.describe(ctx.account_id, after=after, limit=chunk)
        for pair in await _items(ctx, rows):
            if filters is None or filters.matches(pair):
                found.append(pair)
                if max_results and len(found) > max_results:
                    page = found[:max_results]
                    return page, encode_token(page[-1][0]["id"])
        if len(rows) < chunk:
            return found, None
        after = rows[-1]["id"]


async def describe_instances(ctx: RequestContext, req: DescribeInstancesRequest) -> dict:
    if req.instance_ids and req.max_results is not None:
        raise errors.InvalidParameterCombination(
            "The parameter instancesSet cannot be used with the parameter maxResults")
    check_max_results(req.max_results)
    filters = FilterSet(req.filters, INSTANCE_FILTERS, tags=lambda p: {
        t["key"]: t["value"] for t in p[1]["tagSet"]}) if req.filters else None
    pairs, token = await _scan(ctx, filters, req.instance_ids, req.max_results, req.next_token)
    pairs.sort(key=lambda p: (p[0]["launched_at"], p[0]["reservation_id"], p[0]["launch_index"]))
    return {"reservationSet": _reservations(ctx, pairs), "nextToken": token}


async def describe_instance_status(ctx: RequestContext,
                                   req: DescribeInstanceStatusRequest) -> dict:
    check_max_results(req.max_results)
    pairs, token = await _scan(ctx, None, req.instance_ids, req.max_results, req.next_token)
    statuses = []
    for row, _ in pairs:
        if row["state"] != "running" and not req.include_all:
            continue
        check = "ok" if row["state"] == "running" else "not-applicable"
        detail = [{"name": "reachability", "status": "passed"}] if check == "ok" else []
        statuses.append({"instanceId": row["id"], "availabilityZone": row["zone"],
                         "instanceState": state_of(row),
                         "systemStatus": {"status": check, "details": detail},
                         "instanceStatus": {"status": check, "details": detail},
                         "row": row})
    statuses = FilterSet(req.filters, {
        "availability-zone": lambda s: s["availabilityZone"],
        "instance-state-name": lambda s: s["instanceState"]["name"],
        "instance-state-code": lambda s: str(s["instanceState"]["code"]),
        "instance-status.status": lambda s: s["instanceStatus"]["status"],
        "system-status.status": lambda s: s["systemStatus"]["status"],
    }).apply(statuses)
    for s in statuses:
        del s["row"]
    return {"instanceStatusSet": statuses, "nextToken": token}


async def terminate_instances(ctx: RequestContext, req: InstanceIdsRequest) -> dict:
    changes = await ctx.cloud.instances.terminate(ctx.account_id, req.instance_ids)
    return {"instancesSet": [{"instanceId": i,
                              "previousState": {"code": CODES[prev], "name": prev},
                              "currentState": {"code": CODES[cur], "name": cur}}
                             for i, prev, cur in changes]}


async def reboot_instances(ctx: RequestContext, req: InstanceIdsRequest) -> dict:
    await ctx.cloud.instances.reboot(ctx.account_id, req.instance_ids)
    return {"return": True}


async def stop_instances(ctx: RequestContext, req: InstanceIdsRequest) -> dict:
    rows = await ctx.cloud.instances.find(ctx.account_id, req.instance_ids)
    raise errors.UnsupportedOperation(
        f"The instance '{rows[0]['id']}' does not have an 'ebs' root device type and cannot "
        "be stopped.")


async def start_instances(ctx: RequestContext, req: InstanceIdsRequest) -> dict:
    rows = await ctx.cloud.instances.find(ctx.account_id, req.instance_ids)
    raise errors.IncorrectInstanceState(
        f"The instance '{rows[0]['id']}' is not in a state from which it can be started.")


async def get_console_output(ctx: RequestContext, req: GetConsoleOutputRequest) -> dict:
    timestamp, output = await ctx.cloud.instances.console_output(ctx.account_id,
                                                                 req.instance_id)
    return {"instanceId": req.instance_id, "timestamp": iso8601(timestamp),
            "output": output or None}


async def describe_instance_attribute(ctx: RequestContext,
                                      req: DescribeInstanceAttributeRequest) -> dict:
    service = ctx.cloud.instances
    row = (await service.find(ctx.account_id, [req.instance_id]))[0]

    def value(v):
        return {"value": v} if v is not None else {}
    simple = {
        "instanceType": lambda: value(row["instance_type"]),
        "kernel": lambda: value(row["kernel_id"]),
        "ramdisk": lambda: value(row["ramdisk_id"]),
        "userData": lambda: value(base64.b64encode(row["user_data"]).decode()
                                  if row["user_data"] is not None else None),
        "disableApiTermination": lambda: value(False),
        "disableApiStop": lambda: value(False),
        "instanceInitiatedShutdownBehavior": lambda: value("terminate"),
        "rootDeviceName": lambda: value("/dev/sda1"),
        "sourceDestCheck": lambda: value(True),
        "ebsOptimized": lambda: value(False),
        "enaSupport": lambda: value(False),
        "blockDeviceMapping": lambda: [],
        "productCodes": lambda: [],
    }
    if req.attribute == "groupSet":
        groups = (await service.groups_of([row["id"]]))[row["id"]]
        return {"instanceId": row["id"], "groupSet": group_set(groups)}
    if req.attribute not in simple:
        raise errors.InvalidParameterValue(
            f"Value ({req.attribute}) for parameter attribute is invalid. Unknown attribute.")
    return {"instanceId": row["id"], req.attribute: simple[req.attribute]()}


async def modify_instance_attribute(ctx: RequestContext,
                                    req: ModifyInstanceAttributeRequest) -> dict:
    service = ctx.cloud.instances
    if req.instance_type is not None or req.attribute == "instanceType":
        new_type = req.instance_type.value if req.instance_type else req.value
        if ctx.cloud.settings.vmtype(new_type or "") is None:
            raise errors.InvalidParameterValue(f"Invalid value '{new_type}' for InstanceType.")
        await service.set_attribute(ctx.account_id, req.instance_id, instance_type=new_type)
    elif req.user_data is not None or req.attribute == "userData":
        data = decode_user_data(req.user_data.value if req.user_data else req.value)
        await service.set_attribute(ctx.account_id, req.instance_id, user_data=data)
    else:
        await service.find(ctx.account_id, [req.instance_id])
        raise errors.InvalidParameterValue(
            "Only instanceType and userData can be modified on this cloud.")
    return {"return": True}
