import re

import pytest
from botocore.exceptions import ClientError


def test_zone_is_available_once_the_cc_has_polled_its_node(cloud, ec2):
    def state():
        zones = ec2.describe_availability_zones()["AvailabilityZones"]
        return zones[0]["State"] == "available" and zones
    zones = cloud.wait_for(state, timeout=10)
    assert zones and zones[0]["ZoneName"] == "mallee-1a"


def test_verbose_lists_free_and_max_per_vm_type(cloud, ec2):
    cloud.wait_for(lambda: ec2.describe_availability_zones()["AvailabilityZones"][0]["State"]
                   == "available")
    lines = {z["ZoneName"]: z["State"]
             for z in ec2.describe_availability_zones(ZoneNames=["verbose"])["AvailabilityZones"]}
    # The harness's fake node has 8 cores, 8192 MiB, 200 GiB.
    m = re.match(r"(\d+) / (\d+)\s+1\s+256\s+5", lines["|- m1.small"])
    assert m and int(m.group(2)) == 8
    m = re.match(r"(\d+) / (\d+)\s+2\s+2048\s+10", lines["|- c1.xlarge"])
    assert m and int(m.group(2)) == 4


def test_unknown_zone(ec2):
    with pytest.raises(ClientError) as e:
        ec2.describe_availability_zones(ZoneNames=["atlantis-1a"])
    assert e.value.response["Error"]["Code"] == "InvalidParameterValue"


def test_instance_types_come_from_conf(ec2):
    types = ec2.describe_instance_types(InstanceTypes=["m1.small", "c1.medium"])["InstanceTypes"]
    by_name = {t["InstanceType"]: t for t in types}
    assert by_name["m1.small"]["VCpuInfo"]["DefaultVCpus"] == 1
    assert by_name["m1.small"]["MemoryInfo"]["SizeInMiB"] == 256
    assert by_name["c1.medium"]["VCpuInfo"]["DefaultVCpus"] == 2
    with pytest.raises(ClientError) as e:
        ec2.describe_instance_types(InstanceTypes=["p5.48xlarge"])
    assert e.value.response["Error"]["Code"] == "InvalidInstanceType"


def test_instance_types_paginate(ec2):
    names = [t["InstanceType"] for page in ec2.get_paginator("describe_instance_types")
             .paginate(PaginationConfig={"PageSize": 5}) for t in page["InstanceTypes"]]
    assert len(names) == len(set(names)) >= 10


def test_account_attributes(ec2):
    attrs = {a["AttributeName"]: [v["AttributeValue"] for v in a["AttributeValues"]]
             for a in ec2.describe_account_attributes()["AccountAttributes"]}
    assert "supported-platforms" in attrs and attrs["max-instances"]
