"""DescribeInstanceTypes: Eucalyptus's VM types from conf/ [vmtypes]."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from cloud_controller.api.context import RequestContext
from cloud_controller.api.filters import FilterSet
from cloud_controller.api.paging import page
from mallee import errors
from cloud_controller.api.query import Filter, listparam, param
from mallee.settings import VmType


@dataclass
class DescribeInstanceTypesRequest:
    instance_types: list[str] = listparam("InstanceType")
    filters: list[Filter] = listparam("Filter")
    max_results: int = param("MaxResults")
    next_token: str = param("NextToken")
    dry_run: bool = param("DryRun", default=False)
    # EC2 takes these; this cloud accepts them and does not act on them.
    IGNORED: ClassVar[tuple[str, ...]] = ("IncludeUnsupportedInRegion",)


def _item(v: VmType) -> dict:
    return {
        "instanceType": v.name, "currentGeneration": True, "freeTierEligible": False,
        "supportedUsageClasses": ["on-demand"],
        "supportedRootDeviceTypes": ["instance-store", "ebs"],
        "supportedVirtualizationTypes": ["hvm", "paravirtual"],
        "bareMetal": False, "hypervisor": "kvm",
        "processorInfo": {"supportedArchitectures": ["x86_64"]},
        "vCpuInfo": {"defaultVCpus": v.cpu, "defaultCores": v.cpu, "defaultThreadsPerCore": 1},
        "memoryInfo": {"sizeInMiB": v.memory},
        "instanceStorageSupported": True,
        "instanceStorageInfo": {"totalSizeInGB": v.disk,
                                "disks": [{"sizeInGB": v.disk, "count": 1, "type": "hdd"}]},
        "ebsInfo": {"ebsOptimizedSupport": "unsupported", "encryptionSupport": "unsupported"},
        "networkInfo": {"networkPerformance": "Moderate", "maximumNetworkInterfaces": 1,
                        "ipv4AddressesPerInterface": 1, "ipv6Supported": False,
                        "enaSupport": "unsupported"},
        "placementGroupInfo": {"supportedStrategies": []},
        "hibernationSupported": False, "burstablePerformanceSupported": False,
        "dedicatedHostsSupported": False, "autoRecoverySupported": False,
    }


async def describe_instance_types(ctx: RequestContext, req: DescribeInstanceTypesRequest) -> dict:
    vmtypes = list(ctx.cloud.settings.vmtypes)
    if req.instance_types:
        known = {v.name for v in vmtypes}
        missing = [t for t in req.instance_types if t not in known]
        if missing:
            raise errors.InvalidInstanceType(
                f"The following supplied instance types do not exist: [{', '.join(missing)}]")
        vmtypes = [v for v in vmtypes if v.name in req.instance_types]
    vmtypes = FilterSet(req.filters, {
        "instance-type": lambda v: v.name,
        "vcpu-info.default-vcpus": lambda v: str(v.cpu),
        "memory-info.size-in-mib": lambda v: str(v.memory),
        "instance-storage-info.total-size-in-gb": lambda v: str(v.disk),
        "current-generation": lambda v: "true",
        "hypervisor": lambda v: "kvm",
        "processor-info.supported-architecture": lambda v: "x86_64",
    }).apply(vmtypes)
    chunk, token = page(vmtypes, lambda v: v.name, req.max_results, req.next_token, low=5,
                        high=100)
    return {"instanceTypeSet": [_item(v) for v in chunk], "nextToken": token}
