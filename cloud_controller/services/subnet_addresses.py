"""Private addresses in an own subnet (VPC mode), chosen by the CLC as EC2
does: the first free host address, never one of the five EC2 keeps (the
network address, .1 the router, .2 DNS, .3 reserved, and the broadcast
address); a requested one is checked with EC2's errors."""
from __future__ import annotations

import ipaddress

from mallee import errors

FIRST_HOST = 4  # .0 to .3 are EC2's


def _usable(network: ipaddress.IPv4Network):
    first = int(network.network_address) + FIRST_HOST
    last = int(network.broadcast_address) - 1
    return first, last


def check_requested(cidr: str, address: str, used: set[str]) -> str:
    network = ipaddress.IPv4Network(cidr)
    try:
        ip = ipaddress.IPv4Address(address)
    except ValueError:
        raise errors.InvalidParameterValue(
            f"Value ({address}) for parameter privateIpAddress is invalid. "
            "It is not a valid IPv4 address.")
    if ip not in network:
        raise errors.InvalidParameterValue(
            f"Address {address} does not fall within the subnet's address range")
    first, last = _usable(network)
    if not first <= int(ip) <= last:
        raise errors.InvalidParameterValue(
            f"The specified address {address} is reserved by AWS and cannot be used "
            f"in the subnet {cidr}.")
    if str(ip) in used:
        raise errors.InvalidIPAddressInUse(f"Address {address} is in use.")
    return str(ip)


def choose(cidr: str, used: set[str], count: int, requested: str | None = None) -> list[str]:
    """`count` addresses of the subnet that `used` does not hold."""
    if requested:
        if count > 1:
            raise errors.InvalidParameterCombination(
                "Cannot specify a private IP address when launching more than one instance.")
        return [check_requested(cidr, requested, used)]
    first, last = _usable(ipaddress.IPv4Network(cidr))
    out = []
    for value in range(first, last + 1):
        candidate = str(ipaddress.IPv4Address(value))
        if candidate not in used:
            out.append(candidate)
            if len(out) == count:
                return out
    raise errors.InsufficientFreeAddressesInSubnet(
        f"There are not enough free addresses in subnet '{cidr}' to satisfy the requested "
        f"number of instances.")
