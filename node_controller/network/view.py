"""The network view the CC pushes (docs/network.md): parsed and checked whole
before anything is applied, so a malformed view changes nothing."""
from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

GROUP_ID = re.compile(r"^sg-[0-9A-Za-z]{1,21}$")       # chain names must stay <= 28 chars
INSTANCE_ID = re.compile(r"^i-[0-9A-Za-z]{1,20}$")
MAC = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")
PROTOCOL_NAMES = {"tcp": "tcp", "udp": "udp", "icmp": "icmp", "-1": "all", "all": "all",
                  "6": "tcp", "17": "udp", "1": "icmp"}


class ViewError(ValueError):
    """The view is malformed; the message names the offending field."""


@dataclass(frozen=True)
class Rule:
    protocol: str                    # tcp | udp | icmp | all | a protocol number
    from_port: int | None            # None: all (for icmp: the type)
    to_port: int | None              # None: all (for icmp: the code)
    cidrs: tuple[str, ...] = ()
    source_groups: tuple[str, ...] = ()


@dataclass(frozen=True)
class Group:
    group_id: str
    ingress: tuple[Rule, ...] = ()
    egress: tuple[Rule, ...] | None = None   # None: allow all egress


@dataclass(frozen=True)
class InstanceAddress:
    instance_id: str
    mac: str
    private_ip: str
    public_ip: str | None
    groups: tuple[str, ...]
    metadata: "MetadataOptions | None" = None  # None: what the launch spec said


@dataclass(frozen=True)
class MetadataOptions:
    tokens_required: bool
    hop_limit: int


@dataclass(frozen=True)
class NetworkView:
    version: int
    subnet: str
    gateway: str
    instances: tuple[InstanceAddress, ...]
    groups: tuple[Group, ...]
    epoch: str = ""  # the cloud whose versions these are (docs/network.md)

    def supersedes(self, held: "NetworkView | None") -> bool:
        """Whether this view replaces the one a node holds: any view of another
        cloud (epoch) does; of the same cloud, only one at least as new."""
        return held is None or self.epoch != held.epoch or self.version >= held.version

    def instance(self, instance_id: str) -> InstanceAddress | None:
        return next((i for i in self.instances if i.instance_id == instance_id), None)

    def group(self, group_id: str) -> Group | None:
        return next((g for g in self.groups if g.group_id == group_id), None)


EMPTY_VIEW_VERSION = 0


def _require(data: dict, key: str, where: str):
    if key not in data:
        raise ViewError(f"{where}: {key} is missing")
    return data[key]


def _ipv4(value, where: str) -> str:
    try:
        return str(ipaddress.IPv4Address(value))
    except (ipaddress.AddressValueError, ValueError, TypeError):
        raise ViewError(f"{where}: {value!r} is not an IPv4 address") from None


def _cidr(value, where: str) -> str:
    try:
        return str(ipaddress.IPv4Network(value, strict=False))
    except (ValueError, TypeError):
        raise ViewError(f"{where}: {value!r} is not an IPv4 CIDR") from None


def _group_id(value, where: str) -> str:
    if not isinstance(value, str) or not GROUP_ID.match(value):
        raise ViewError(f"{where}: {value!r} is not a group id (sg- and up to 21 letters/digits)")
    return value


def _port(value, where: str, limit: int) -> int | None:
    if value is None or value == -1:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= limit:
        raise ViewError(f"{where}: port {value!r} is not in 0..{limit} (or -1/null)")
    return value


def parse_rule(data: dict, where: str) -> Rule:
    if not isinstance(data, dict):
        raise ViewError(f"{where}: a rule must be an object")
    raw = str(_require(data, "protocol", where)).lower()
    protocol = PROTOCOL_NAMES.get(raw)
    if protocol is None:
        if not raw.isdigit() or not 0 <= int(raw) <= 255:
            raise ViewError(f"{where}: protocol {raw!r} is not tcp, udp, icmp, -1 or 0..255")
        protocol = raw
    limit = 255 if protocol == "icmp" else 65535
    from_port = _port(data.get("from_port"), where, limit)
    to_port = _port(data.get("to_port"), where, limit)
    if protocol in ("tcp", "udp") and (from_port is None) != (to_port is None):
        raise ViewError(f"{where}: give both ports or neither")
    if protocol in ("tcp", "udp") and from_port is not None and from_port > to_port:
        raise ViewError(f"{where}: from_port {from_port} > to_port {to_port}")
    if protocol == "icmp" and from_port is None and to_port is not None:
        raise ViewError(f"{where}: an icmp code needs a type")
    cidrs = tuple(_cidr(c, where) for c in data.get("cidrs") or ())
    sources = tuple(_group_id(g, where) for g in data.get("source_groups") or ())
    if not cidrs and not sources:
        raise ViewError(f"{where}: a rule needs cidrs or source_groups")
    return Rule(protocol, from_port, to_port, cidrs, sources)


def _metadata(data, where: str) -> MetadataOptions | None:
    if data is None:
        return None
    if not isinstance(data, dict) or data.get("http_tokens") not in ("optional", "required"):
        raise ViewError(f"{where}.metadata: http_tokens must be optional or required")
    hops = data.get("http_put_response_hop_limit")
    if not isinstance(hops, int) or isinstance(hops, bool) or not 1 <= hops <= 64:
        raise ViewError(f"{where}.metadata: http_put_response_hop_limit must be 1..64")
    return MetadataOptions(data["http_tokens"] == "required", hops)


def parse_view(data) -> NetworkView:
    if not isinstance(data, dict):
        raise ViewError("the view must be a JSON object")
    version = _require(data, "version", "view")
    if not isinstance(version, int) or isinstance(version, bool) or version < 0:
        raise ViewError(f"view: version {version!r} is not a non-negative integer")
    subnet = _cidr(_require(data, "subnet", "view"), "view.subnet")
    gateway = _ipv4(_require(data, "gateway", "view"), "view.gateway")
    instances, seen_ips, seen_ids = [], {}, set()
    for n, item in enumerate(data.get("instances") or ()):
        where = f"view.instances[{n}]"
        if not isinstance(item, dict):
            raise ViewError(f"{where}: must be an object")
        instance_id = _require(item, "instance_id", where)
        if not isinstance(instance_id, str) or not INSTANCE_ID.match(instance_id):
            raise ViewError(f"{where}: {instance_id!r} is not an instance id")
        if instance_id in seen_ids:
            raise ViewError(f"{where}: {instance_id} is listed twice")
        mac = str(_require(item, "mac", where)).lower()
        if not MAC.match(mac):
            raise ViewError(f"{where}: {mac!r} is not a MAC address")
        private_ip = _ipv4(_require(item, "private_ip", where), where)
        if private_ip in seen_ips:
            raise ViewError(f"{where}: {private_ip} is also {seen_ips[private_ip]}'s address")
        public_ip = item.get("public_ip")
        public_ip = _ipv4(public_ip, where) if public_ip else None
        groups = tuple(_group_id(g, where) for g in item.get("groups") or ())
        seen_ips[private_ip], seen_ids = instance_id, seen_ids | {instance_id}
        instances.append(InstanceAddress(instance_id, mac, private_ip, public_ip, groups,
                                         _metadata(item.get("metadata"), where)))
    groups, seen_groups = [], set()
    for n, item in enumerate(data.get("groups") or ()):
        where = f"view.groups[{n}]"
        if not isinstance(item, dict):
            raise ViewError(f"{where}: must be an object")
        group_id = _group_id(_require(item, "group_id", where), where)
        if group_id in seen_groups:
            raise ViewError(f"{where}: {group_id} is listed twice")
        seen_groups.add(group_id)
        ingress = tuple(parse_rule(r, f"{where}.ingress[{i}]")
                        for i, r in enumerate(item.get("ingress") or ()))
        raw_egress = item.get("egress")
        egress = None if raw_egress is None else tuple(
            parse_rule(r, f"{where}.egress[{i}]") for i, r in enumerate(raw_egress))
        groups.append(Group(group_id, ingress, egress))
    epoch = data.get("epoch", "")
    if not isinstance(epoch, str) or len(epoch) > 64:
        raise ViewError(f"view: epoch {epoch!r} is not a string of at most 64 characters")
    return NetworkView(version, subnet, gateway, tuple(instances), tuple(groups), epoch)


def empty_view(subnet: str, gateway: str) -> NetworkView:
    return NetworkView(EMPTY_VIEW_VERSION, subnet, gateway, (), ())
