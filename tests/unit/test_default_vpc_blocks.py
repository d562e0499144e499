"""The default VPC's subnets in vpc mode (docs/vpc.md "The default VPC in vpc
mode"): one /20 per zone, in zone order, around blocks already taken."""
import pytest

from cloud_controller.services.vpcs import default_subnet_blocks
from mallee import errors


def test_one_slash_20_per_zone_in_order():
    assert default_subnet_blocks("172.31.0.0/16", [], 3) == [
        "172.31.0.0/20", "172.31.16.0/20", "172.31.32.0/20"]


def test_a_later_zone_takes_the_next_free_block_around_taken_ones():
    taken = ["172.31.0.0/20", "172.31.16.0/20", "172.31.40.0/24"]  # an own subnet in it
    assert default_subnet_blocks("172.31.0.0/16", taken, 1) == ["172.31.48.0/20"]


def test_a_block_smaller_than_a_slash_20_is_one_subnet_and_runs_out():
    assert default_subnet_blocks("10.1.2.0/24", [], 1) == ["10.1.2.0/24"]
    with pytest.raises(errors.ApiError):
        default_subnet_blocks("10.1.2.0/24", [], 2)
