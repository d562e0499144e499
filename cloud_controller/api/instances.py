"""RunInstances, DescribeInstances, DescribeInstanceStatus, TerminateInstances,
RebootInstances, StopInstances, StartInstances, GetConsoleOutput, metadata
options (the attributes: api/instance_attributes.py)."""
from __future__ import annotations

from dataclasses import dataclass
from itertools import groupby
from typing import ClassVar

from cloud_controller.api.block_devices import BlockDeviceMapping
from cloud_controller.api.context import RequestContext
from cloud_controller.api.filters import FilterSet
from cloud_controller.api.paging import check_max_results, decode_token, encode_token
from cloud_controller.api.tagging import tag_list, tags_by_type
from cloud_controller.services.instances import LaunchRequest, metadata_options
from cloud_controller.services.lifecycle import CODES
from cloud_controller.services.root_device import root_device
from cloud_controller.api.network_interfaces import (PrivateIpAddressSpecification,
                                                     interface_item, vpc_interfaces)
from cloud_controller.services.network_interfaces import NicSpec
from cloud_controller.services.vpcs import default_subnet_id, default_vpc_id
from mallee import errors
from mallee.netnames import private_dns_name, public_dns_name
from cloud_controller.api.query import Filter, TagSpecification, listparam, param
from mallee.xmlwrite import iso8601


@dataclass
class Placement:
    availability_zone: str = param("AvailabilityZone")


@dataclass
class MetadataOptions:
    http_tokens: str = param("HttpTokens")
    hop_limit: int = param("HttpPutResponseHopLimit")
    http_endpoint: str = param("HttpEndpoint")
    http_protocol_ipv6: str = param("HttpProtocolIpv6")
    instance_metadata_tags: str = param("InstanceMetadataTags")

    def checked(self) -> dict:
        return metadata_options(
            http_tokens=self.http_tokens, http_put_response_hop_limit=self.hop_limit,
            http_endpoint=self.http_endpoint, http_protocol_ipv6=self.http_protocol_ipv6,
            instance_metadata_tags=self.instance_metadata_tags)


@dataclass
class NetworkInterfaceSpec:
    device_index: int = param("DeviceIndex")
    subnet_id: str = param("SubnetId")
    group_ids: list[str] = listparam("SecurityGroupId")
    associate_public_ip: bool = param("AssociatePublicIpAddress")
    network_interface_id: str = param("NetworkInterfaceId")
    private_ip: str = param("PrivateIpAddress")
    private_ips: list[PrivateIpAddressSpecification] = listparam("PrivateIpAddresses")
    secondary_count: int = param("SecondaryPrivateIpAddressCount")
    delete_on_termination: bool = param("DeleteOnTermination")
    description: str = param("Description")

    def nic(self) -> NicSpec:
        return NicSpec(self.device_index, self.subnet_id, self.network_interface_id,
                       list(self.group_ids), self.private_ip,
                       [(p.private_ip, p.primary) for p in self.private_ips if p.private_ip],
                       self.secondary_count, self.delete_on_termination, self.description)


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
    metadata_options: MetadataOptions = param("MetadataOptions")
    disable_api_termination: bool = param("DisableApiTermination")
    disable_api_stop: bool = param("DisableApiStop")
    shutdown_behavior: str = param("InstanceInitiatedShutdownBehavior")
    block_device_mappings: list[BlockDeviceMapping] = listparam("BlockDeviceMapping")
    dry_run: bool = param("DryRun", default=False)
    # EC2 takes these; this cloud accepts them and does not act on them.
    IGNORED: ClassVar[tuple[str, ...]] = (
        "AdditionalInfo", "AddressingType",
        "CapacityReservationSpecification", "CpuOptions", "CreditSpecification",
        "EbsOptimized", "ElasticGpuSpecification",
        "ElasticInferenceAccelerator", "EnablePrimaryIpv6", "EnclaveOptions",
        "HibernationOptions", "IamInstanceProfile",
        "InstanceMarketOptions", "Ipv6Address", "Ipv6AddressCount", "LaunchTemplate",
        "LicenseSpecification", "MaintenanceOptions", "Monitoring",
        "NetworkPerformanceOptions", "Operator", "PrivateDnsNameOptions", "SecondaryInterface",
    )


@dataclass
class InstanceIdsRequest:
    instance_ids: list[str] = listparam("InstanceId", required=True)
    force: bool = param("Force", default=False)
    hibernate: bool = param("Hibernate", default=False)
    dry_run: bool = param("DryRun", default=False)
    # EC2 takes these; this cloud accepts them and does not act on them.
    IGNORED: ClassVar[tuple[str, ...]] = ("AdditionalInfo", "SkipOsShutdown",)


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
class DescribeInstanceCreditSpecificationsRequest:
    instance_ids: list[str] = listparam("InstanceId")
    filters: list[Filter] = listparam("Filter")
    max_results: int = param("MaxResults")
    next_token: str = param("NextToken")
    dry_run: bool = param("DryRun", default=False)


@dataclass
class ModifyInstanceMetadataOptionsRequest(MetadataOptions):
    """RunInstances' MetadataOptions members, flat, for one instance."""
    instance_id: str = param("InstanceId", required=True)
    dry_run: bool = param("DryRun", default=False)


@dataclass
class GetInstanceUefiDataRequest:
    instance_id: str = param("InstanceId", required=True)
    dry_run: bool = param("DryRun", default=False)


def metadata_item(row) -> dict:
    """An instance's metadata options as EC2's InstanceMetadataOptionsResponse."""
    return {"state": "applied", "httpTokens": row["http_tokens"],
            "httpPutResponseHopLimit": row["http_put_response_hop_limit"],
            "httpEndpoint": row["http_endpoint"], "httpProtocolIpv6": row["http_protocol_ipv6"],
            "instanceMetadataTags": row["instance_metadata_tags"]}


def state_of(row) -> dict:
    return {"code": CODES[row["state"]], "name": row["state"]}


def group_set(groups: list[dict]) -> list[dict]:
    """An instance's groups ({"id", "name"} rows) as EC2's groupSet."""
    return [{"groupId": g["id"], "groupName": g["name"]} for g in groups]


def block_devices(attachments: list) -> list[dict]:
    """An instance's attached volumes as EC2's blockDeviceMapping."""
    return [{"deviceName": a["device"], "ebs": {
        "volumeId": a["volume_id"], "status": a["state"], "attachTime": iso8601(a["attached_at"]),
        "deleteOnTermination": bool(a["delete_on_termination"])}} for a in attachments]


def instance_item(ctx: RequestContext, row, groups: list[dict], tags: dict[str, str],
                  attachments: list = (), source_dest_check: bool = True,
                  interfaces: list[dict] | None = None) -> dict:
    """`interfaces`: an own subnet's instance's interfaces (api/network_interfaces.py
    vpc_interfaces); an EDGE instance's one is read from its row."""
    groups = group_set(groups)
    root_type, root_name = root_device(row)
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
        "vpcId": row["vpc_id"] or default_vpc_id(row["account_id"]),
        "subnetId": row["subnet_id"] or default_subnet_id(row["account_id"], row["zone"]),
        "networkInterfaceSet": interfaces if interfaces is not None
        else [] if row["state"] == "terminated" or not row["eni_id"] or row["subnet_id"]
        else [interface_item(row, groups, region, source_dest_check=source_dest_check)],
        "groupSet": groups, "stateReason": reason, "architecture": "x86_64",
        "rootDeviceType": root_type, "rootDeviceName": root_name,
        "blockDeviceMapping": block_devices(attachments), "virtualizationType":
            "paravirtual" if row["kernel_id"] else "hvm",
        "clientToken": row["client_token"] or "", "tagSet": tag_list(tags),
        "hypervisor": "xen", "ebsOptimized": False, "enaSupport": False,
        "sourceDestCheck": source_dest_check,
        "cpuOptions": {"coreCount": vmtype.cpu if vmtype else 1, "threadsPerCore": 1},
        "metadataOptions": metadata_item(row),
    }


async def _items(ctx: RequestContext, rows) -> list[tuple[object, dict]]:
    ids = [r["id"] for r in rows]
    groups = await ctx.cloud.instances.groups_of(ids)
    tags = await ctx.cloud.tags.of(ids)
    attached = await ctx.cloud.attachments.of_instances(ids)
    attributes = await ctx.cloud.instance_attributes.of(ids)
    interfaces = await vpc_interfaces(ctx, rows)
    return [(r, instance_item(ctx, r, groups[r["id"]], tags[r["id"]], attached[r["id"]],
                              attributes[r["id"]]["source_dest_check"],
                              interfaces.get(r["id"]))) for r in rows]


def _reservations(ctx: RequestContext, items) -> list[dict]:
    out = []
    for rid, group in groupby(items, key=lambda pair: pair[0]["reservation_id"]):
        group = list(group)
        first = group[0][1]
        out.append({"reservationId": rid, "ownerId": group[0][0]["account_id"],
                    "groupSet": first["groupSet"], "instancesSet": [item for _, item in group]})
    return out


async def _placement(ctx: RequestContext, req: RunInstancesRequest):
    """(zone, group ids, public address at launch, own subnet id, private address, the
    interfaces of an own subnet's instance) from SubnetId or NetworkInterface.N: a
    default subnet names the same EDGE launch in a zone; in VPC mode an own subnet puts
    the instance's interfaces on OVN (services/network_interfaces.py)."""
    zone = req.placement.availability_zone if req.placement else None
    group_ids, public_ip, subnet_id = list(req.security_group_ids), None, req.subnet_id
    private_ip = req.private_ip
    nics: list[NicSpec] = []
    if req.network_interfaces:
        if req.subnet_id or req.security_groups or req.security_group_ids:
            raise errors.InvalidParameterCombination(
                "Network interfaces and an instance-level subnet ID or security groups may "
                "not be specified on the same request")
        if req.private_ip:
            raise errors.InvalidParameterCombination(
                "Network interfaces and an instance-level private IP address should not be "
                "specified on the same request")
        nics = [n.nic() for n in req.network_interfaces]
        first = next((n for n in req.network_interfaces if n.device_index in (0, None)),
                     req.network_interfaces[0])
        group_ids, public_ip, subnet_id = list(first.group_ids), first.associate_public_ip, \
            first.subnet_id
        private_ip = first.private_ip
        if first.network_interface_id and ctx.cloud.network_interfaces is not None \
                and ctx.cloud.vpcs.vpc_mode:  # the instance goes where its interface is
            row = await ctx.cloud.network_interfaces.find(ctx.account_id,
                                                          first.network_interface_id)
            subnet_id = row["subnet_id"] or "-"
    subnet = await ctx.cloud.vpcs.launch_subnet(ctx.account_id, subnet_id) if subnet_id \
        else None
    if subnet is None and ctx.cloud.vpcs.vpc_mode:
        # vpc mode: the default subnet of the zone the launch lands in (services/instances.py)
        await ctx.cloud.vpcs.ensure(ctx.account_id)
        return zone, group_ids, public_ip, None, private_ip, nics or [
            NicSpec(0, None, None, group_ids, private_ip)]
    if private_ip and (subnet is None or subnet.edge):
        raise errors.InvalidParameterValue(
            "PrivateIpAddress: the cluster assigns addresses in a default subnet.")
    if subnet is not None:
        if zone and zone != subnet.zone:
            raise errors.InvalidParameterCombination(
                f"Subnet {subnet_id} is in {subnet.zone}, not in {zone}.")
        zone = subnet.zone
    own = subnet.id if subnet is not None and not subnet.edge else None
    if own is None and (len(nics) > 1 or any(n.network_interface_id or n.device_index not in
                                             (0, None) for n in nics)):
        raise errors.InvalidParameterValue(
            "Several network interfaces, or an existing one, need an own subnet of a VPC "
            "(vpc mode): a default subnet's instance has one interface.")
    if own is not None and not nics:
        nics = [NicSpec(0, own, None, group_ids, private_ip)]
    return zone, group_ids, public_ip, own, private_ip, nics if own else []


async def run_instances(ctx: RequestContext, req: RunInstancesRequest) -> dict:
    # Volume tags go to the volumes the launch makes (an EBS root, BlockDeviceMapping's);
    # the primary interface gets its own.
    tags = tags_by_type(req.tag_specifications, ("instance", "volume", "network-interface"))
    options = req.metadata_options.checked() if req.metadata_options else {}
    zone, group_ids, public_ip, subnet_id, private_ip, nics = await _placement(ctx, req)
    rows = await ctx.cloud.instances.run(ctx.account_id, LaunchRequest(
        image_id=req.image_id, min_count=req.min_count, max_count=req.max_count,
        instance_type=req.instance_type, key_name=req.key_name, user_data=req.user_data,
        zone=zone, group_names=req.security_groups, group_ids=group_ids,
        client_token=req.client_token, kernel_id=req.kernel_id, ramdisk_id=req.ramdisk_id,
        tags=tags["instance"], interface_tags=tags["network-interface"],
        metadata_options=options, public_ip=public_ip,
        disable_api_termination=req.disable_api_termination,
        disable_api_stop=req.disable_api_stop, shutdown_behavior=req.shutdown_behavior,
        block_devices=[m.checked() for m in req.block_device_mappings],
        volume_tags=tags["volume"], subnet_id=subnet_id, private_ip=private_ip,
        interfaces=nics))
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
    "network-interface.addresses.private-ip-address": lambda p: [
        a["privateIpAddress"] for i in p[1]["networkInterfaceSet"]
        for a in i["privateIpAddressesSet"]] or p[0]["private_ip"],
    "network-interface.subnet-id": lambda p: [
        i["subnetId"] for i in p[1]["networkInterfaceSet"]],
    "network-interface.group-id": lambda p: [
        g["groupId"] for i in p[1]["networkInterfaceSet"] for g in i["groupSet"]],
    "association.public-ip": lambda p: p[0]["public_ip"],
    "kernel-id": lambda p: p[0]["kernel_id"], "ramdisk-id": lambda p: p[0]["ramdisk_id"],
    "launch-index": lambda p: str(p[0]["launch_index"]),
    "client-token": lambda p: p[0]["client_token"],
    "owner-id": lambda p: p[0]["account_id"],
    "root-device-type": lambda p: p[1]["rootDeviceType"],
    "root-device-name": lambda p: p[1]["rootDeviceName"],
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
    return _state_changes(await ctx.cloud.instances.terminate(ctx.account_id,
                                                              req.instance_ids))


async def reboot_instances(ctx: RequestContext, req: InstanceIdsRequest) -> dict:
    await ctx.cloud.instances.reboot(ctx.account_id, req.instance_ids)
    return {"return": True}


def _state_changes(changes) -> dict:
    return {"instancesSet": [{"instanceId": i,
                              "previousState": {"code": CODES[prev], "name": prev},
                              "currentState": {"code": CODES[cur], "name": cur}}
                             for i, prev, cur in changes]}


async def stop_instances(ctx: RequestContext, req: InstanceIdsRequest) -> dict:
    return _state_changes(await ctx.cloud.instances.stop(
        ctx.account_id, req.instance_ids, req.force, req.hibernate))


async def start_instances(ctx: RequestContext, req: InstanceIdsRequest) -> dict:
    return _state_changes(await ctx.cloud.instances.start(ctx.account_id, req.instance_ids))


async def get_console_output(ctx: RequestContext, req: GetConsoleOutputRequest) -> dict:
    timestamp, output = await ctx.cloud.instances.console_output(ctx.account_id,
                                                                 req.instance_id)
    return {"instanceId": req.instance_id, "timestamp": iso8601(timestamp),
            "output": output or None}


async def describe_instance_credit_specifications(
        ctx: RequestContext, req: DescribeInstanceCreditSpecificationsRequest) -> dict:
    """No VM type here is burstable: without InstanceId.N, EC2 lists only instances with
    the unlimited option (none); named instances are listed as standard."""
    check_max_results(req.max_results)
    rows = await ctx.cloud.instances.find(ctx.account_id, req.instance_ids) \
        if req.instance_ids else []
    items = FilterSet(req.filters, {"instance-id": lambda i: i["instanceId"]}).apply(
        [{"instanceId": r["id"], "cpuCredits": "standard"} for r in rows])
    return {"instanceCreditSpecificationSet": items}


async def modify_instance_metadata_options(
        ctx: RequestContext, req: ModifyInstanceMetadataOptionsRequest) -> dict:
    row = await ctx.cloud.instances.set_metadata_options(ctx.account_id, req.instance_id,
                                                         req.checked())
    return {"instanceId": row["id"], "instanceMetadataOptions": metadata_item(row)}


async def get_instance_uefi_data(ctx: RequestContext, req: GetInstanceUefiDataRequest) -> dict:
    """Guests here boot legacy BIOS (SeaBIOS) or a kernel directly: no UEFI store."""
    row = (await ctx.cloud.instances.find(ctx.account_id, [req.instance_id]))[0]
    raise errors.UnsupportedOperation(
        f"The instance '{row['id']}' does not use the uefi boot mode: it has no UEFI data.")
