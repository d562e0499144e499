"""DHCP option sets (VPC mode, docs/vpc.md): domain-name, domain-name-servers,
ntp-servers (and EC2's netbios keys, kept and shown), associated with own
VPCs; `default` (no set) is the account's default one, AmazonProvidedDNS.
OVN serves them: each subnet's DHCP_Options row gets dns_server,
domain_name and ntp_server in OVN's syntax (`dhcp_for_ovn`)."""
from __future__ import annotations

import ipaddress
import json

from cloud_controller.db.dhcp_options import DhcpOptionsRepository
from cloud_controller.services.vpcs import has_dependencies
from mallee import errors
from mallee.ids import resource_id

KEYS = ("domain-name", "domain-name-servers", "ntp-servers", "netbios-name-servers",
        "netbios-node-type", "ipv6-address-preferred-lease-time")
ADDRESS_KEYS = ("domain-name-servers", "ntp-servers", "netbios-name-servers")
AMAZON_DNS = "AmazonProvidedDNS"
MAX_SERVERS = 4


def _check(config: list[tuple[str, list[str]]]) -> None:
    if not config:
        raise errors.MissingParameter("The request must contain the parameter dhcpConfiguration")
    for key, values in config:
        if key not in KEYS:
            raise errors.InvalidParameterValue(f"Value ({key}) for parameter name is invalid. "
                                               "Unknown DHCP option")
        if not values:
            raise errors.InvalidParameterValue(f"Value for parameter {key} is missing.")
        if key in ADDRESS_KEYS:
            if len(values) > MAX_SERVERS:
                raise errors.InvalidParameterValue(
                    f"Value for parameter {key} has more than {MAX_SERVERS} addresses.")
            for value in values:
                if key == "domain-name-servers" and value == AMAZON_DNS:
                    continue
                try:
                    ipaddress.IPv4Address(value)
                except ValueError:
                    raise errors.InvalidParameterValue(
                        f"Value ({value}) for parameter {key} is invalid. "
                        "Expected an IPv4 address.")


def _ovn_list(addresses: list[str]) -> str:
    return addresses[0] if len(addresses) == 1 else "{" + ", ".join(addresses) + "}"


def dhcp_for_ovn(config: list[tuple[str, list[str]]], vpc_cidr: str) -> dict[str, str]:
    """A set's options as OVN's DHCP_Options.options (ovn-nb(5)): addresses or
    {a, b}; domain_name a quoted string. AmazonProvidedDNS is the VPC's
    base + 2, as in EC2."""
    options: dict[str, str] = {}
    for key, values in config:
        if key == "domain-name-servers":
            base_plus_two = str(ipaddress.ip_network(vpc_cidr)[2])
            options["dns_server"] = _ovn_list([base_plus_two if v == AMAZON_DNS else v
                                               for v in values])
        elif key == "ntp-servers":
            options["ntp_server"] = _ovn_list(values)
        elif key == "domain-name":
            options["domain_name"] = json.dumps(" ".join(values))
    return options


def config_of(row) -> list[tuple[str, list[str]]]:
    return [(key, list(values)) for key, values in json.loads(row["config"])]


class DhcpOptionsService:
    def __init__(self, db, vpcs, tags):
        self.db = db
        self.vpcs = vpcs  # VpcService
        self.tags = tags
        self.repo = DhcpOptionsRepository(db)

    async def create(self, account_id: str, config: list[tuple[str, list[str]]],
                     tags: list[tuple[str, str]]) -> str:
        _check(config)
        dopt_id = resource_id("dopt")
        async with self.db.unit():
            await self.repo.insert(dopt_id, account_id, config)
            await self.tags.tag_new(account_id, dopt_id, "dhcp-options", tags)
        return dopt_id

    async def options(self, account_id: str, dopt_id: str | None):
        row = await self.repo.options(account_id, dopt_id or "")
        if row is None:
            raise errors.InvalidDhcpOptionIDNotFound(
                f"The dhcpOption ID '{dopt_id}' does not exist")
        return row

    async def delete(self, account_id: str, dopt_id: str) -> None:
        async with self.db.unit():
            await self.options(account_id, dopt_id)
            if await self.vpcs.uses_dhcp_options(dopt_id):
                raise has_dependencies("dhcpOptions", dopt_id)
            await self.repo.delete(dopt_id)
            await self.tags.forget(dopt_id)

    async def associate(self, account_id: str, dopt_id: str, vpc_id: str) -> None:
        async with self.db.unit():
            await self.vpcs.own_vpc(account_id, vpc_id)
            chosen = None
            if dopt_id != "default" and dopt_id != self.vpcs.parts(account_id).dhcp_options_id:
                chosen = (await self.options(account_id, dopt_id))["id"]
            await self.vpcs.set_dhcp_options(account_id, vpc_id, chosen)
        await self.vpcs.changed()

    async def list(self, account_id: str | None) -> list:
        """One account's option sets, or (None) every account's."""
        return await self.repo.sets(account_id)
