"""Addresses in own subnets (VPC mode): EC2's five reserved addresses and errors."""
import pytest

from cloud_controller.services.subnet_addresses import choose
from mallee import errors


def test_first_free_after_the_reserved_ones():
    assert choose("10.0.1.0/24", set(), 2) == ["10.0.1.4", "10.0.1.5"]
    assert choose("10.0.1.0/24", {"10.0.1.4"}, 1) == ["10.0.1.5"]


def test_a_full_subnet():
    used = {f"10.0.1.{n}" for n in range(4, 15)}  # a /28 holds 16 - 5
    with pytest.raises(errors.InsufficientFreeAddressesInSubnet):
        choose("10.0.1.0/28", used, 1)
    assert choose("10.0.1.0/28", used - {"10.0.1.14"}, 1) == ["10.0.1.14"]


@pytest.mark.parametrize("address, error", [
    ("10.0.1.0", errors.InvalidParameterValue), ("10.0.1.1", errors.InvalidParameterValue),
    ("10.0.1.2", errors.InvalidParameterValue), ("10.0.1.3", errors.InvalidParameterValue),
    ("10.0.1.255", errors.InvalidParameterValue), ("10.0.2.4", errors.InvalidParameterValue),
    ("banana", errors.InvalidParameterValue), ("10.0.1.7", errors.InvalidIPAddressInUse)])
def test_requested_addresses_checked(address, error):
    with pytest.raises(error):
        choose("10.0.1.0/24", {"10.0.1.7"}, 1, address)


def test_requested_address_for_one_instance_only():
    assert choose("10.0.1.0/24", set(), 1, "10.0.1.200") == ["10.0.1.200"]
    with pytest.raises(errors.InvalidParameterCombination):
        choose("10.0.1.0/24", set(), 2, "10.0.1.200")
