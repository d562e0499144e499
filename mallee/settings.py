"""One frozen, typed settings object, loaded once.

Sources, later ones winning: conf/defaults.toml, $MALLEE_HOME/mallee.toml (or
the file named by MALLEE_CONFIG), then MALLEE_<SECTION>_<KEY> environment
variables. Components receive the object; nothing reads config globally.

Every default lives in conf/defaults.toml and only there: the dataclasses
below declare types, not values. A key that no section has, in a config
file or a MALLEE_* variable, is an error that names it (a misspelt setting
must not be silently ignored).
"""
from __future__ import annotations

import dataclasses
import os
import tomllib
import typing
from dataclasses import dataclass
from pathlib import Path

CONF_DIR = Path(__file__).resolve().parent.parent / "conf"


@dataclass(frozen=True)
class VmType:
    name: str
    cpu: int
    memory: int  # MiB
    disk: int  # GiB


@dataclass(frozen=True)
class CloudSettings:
    region: str
    host: str
    clock_skew_seconds: int
    max_request_bytes: int


@dataclass(frozen=True)
class ClcSettings:
    port: int
    rpc_port: int
    poll_seconds: float
    rate_limit_per_second: int
    max_instances_per_account: int
    max_volumes_per_account: int
    max_volume_gib_per_account: int
    max_snapshots_per_account: int
    clusters: tuple[str, ...]
    resend_after_seconds: float
    unknown_grace_seconds: float


@dataclass(frozen=True)
class CcSettings:
    name: str
    zone: str
    port: int
    nodes: tuple[str, ...]
    poll_seconds: float
    scheduler: str
    unconfirmed_grace_seconds: float
    rebalance_seconds: float
    power_command: tuple[str, ...]
    power_command_timeout_seconds: float
    metrics_buffer: int


@dataclass(frozen=True)
class NcSettings:
    name: str
    port: int
    driver: str
    libvirt_uri: str
    domain_type: str
    state_dir: str
    image_cache_gb: int
    cores: int
    memory_mb: int
    disk_gb: int
    reserved_memory_mb: int
    reserved_disk_gb: int
    fake_boot_seconds: float
    metrics_seconds: float
    metrics_ring: int
    fake_guest_load: float

    @property
    def state_path(self) -> Path:
        return Path(self.state_dir.format(name=self.name))


@dataclass(frozen=True)
class WalrusSettings:
    port: int
    rpc_port: int
    max_buckets_per_account: int
    max_bytes_per_account: int
    bucket_naming: str
    lifecycle_day_seconds: int
    lifecycle_interval_seconds: float
    inline_max_bytes: int    # objects and parts up to this size live in walrus.db; 0: none


@dataclass(frozen=True)
class ScSettings:
    """The storage controller (docs/ebs.md): volumes as sparse files exported over
    iSCSI by a tgtd it supervises."""
    port: int
    iscsi_host: str          # the portal nodes connect to ("": the cloud's host)
    iscsi_port: int
    tgt_control_port: int    # tgtd's management socket (tgtadm -C); one tgtd per SC
    target_prefix: str       # IQN prefix of the targets: PREFIX:vol-...


@dataclass(frozen=True)
class NetworkSettings:
    """EDGE networking (docs/network.md). A cluster's CC hands out private
    addresses from private_subnet; the CLC hands out public ones from
    public_ips ("a-b" ranges or single addresses, comma-separated).
    mode "vpc" adds accounts' own VPCs on OVN (docs/vpc.md)."""
    mode: str  # "edge" | "vpc"
    ovn_reconcile_seconds: float
    max_vpcs_per_account: int
    default_vpc_cidr: str  # vpc mode: every account's default VPC (AWS: 172.31.0.0/16)
    private_subnet: str
    uplink_netns: str
    uplink_bridge: str
    uplink_address: str
    uplink_gateway: str
    make_outside: bool
    dns_domain: str
    public_ips: tuple[str, ...]
    max_addresses_per_account: int
    public_ip_at_launch: bool
    cluster_link: str
    cluster_link_netns: str
    vxlan_id: int
    vxlan_port: int
    vxlan_peers: tuple[str, ...]


@dataclass(frozen=True)
class ClusterRef:
    """A cluster as the CLC sees it: 'name=zone@host:port'."""
    name: str
    zone: str
    host: str
    port: int

    @classmethod
    def parse(cls, text: str) -> "ClusterRef":
        name, rest = text.split("=", 1)
        zone, addr = rest.split("@", 1)
        host, port = addr.rsplit(":", 1)
        return cls(name.strip(), zone.strip(), host.strip(), int(port))


@dataclass(frozen=True)
class Settings:
    home: Path
    cloud: CloudSettings
    clc: ClcSettings
    cc: CcSettings
    nc: NcSettings
    walrus: WalrusSettings
    sc: ScSettings
    network: NetworkSettings
    vmtypes: tuple[VmType, ...]

    # Paths under $MALLEE_HOME; every component keeps its state in its own.
    @property
    def pki_dir(self) -> Path:
        return self.home / "pki"

    @property
    def log_dir(self) -> Path:
        return self.home / "log"

    @property
    def run_dir(self) -> Path:
        return self.home / "run"

    def data_dir(self, component: str) -> Path:
        return self.home / "data" / component

    @property
    def eucarc(self) -> Path:
        return self.home / "eucarc"

    @property
    def clusters(self) -> tuple[ClusterRef, ...]:
        return tuple(ClusterRef.parse(c) for c in self.clc.clusters)

    def vmtype(self, name: str) -> VmType | None:
        return next((v for v in self.vmtypes if v.name == name), None)

    def replace(self, **sections) -> "Settings":
        """A copy with some sections' fields changed: replace(cc={'port': 1})."""
        changes = {}
        for section, values in sections.items():
            current = getattr(self, section)
            changes[section] = (dataclasses.replace(current, **values)
                                if dataclasses.is_dataclass(current) else values)
        return dataclasses.replace(self, **changes)


_SECTIONS = {f.name: f.type for f in dataclasses.fields(Settings)
             if f.name not in ("home", "vmtypes")}


def _coerce(value, hint):
    """Turn a TOML or environment value into the field's declared type."""
    origin = typing.get_origin(hint)
    if origin is tuple:
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        return tuple(str(v) for v in value)
    if hint is bool and isinstance(value, str):
        return value.lower() in ("1", "true", "yes", "on")
    return hint(value)


# MALLEE_* variables that are not settings: where the state and the config file are,
# where `mallee image build-debian` and its test keep built images, and the kill -9
# suite's crash points (mallee/faults.py).
OTHER_VARIABLES = frozenset({"MALLEE_HOME", "MALLEE_CONFIG", "MALLEE_IMAGE_CACHE",
                             "MALLEE_CRASH_AT"})


class SettingsError(ValueError):
    """A config file or MALLEE_* variable that names no setting, or a bad value."""


NETWORK_MODES = ("edge", "vpc")


def _section(cls_name, values: dict, env: dict, prefix: str):
    cls = globals()[cls_name] if isinstance(cls_name, str) else cls_name
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for f in dataclasses.fields(cls):
        raw = values.get(f.name, dataclasses.MISSING)
        source = f"[{prefix}] {f.name}"
        env_key = f"MALLEE_{prefix}_{f.name}".upper()
        if env_key in env:
            raw, source = env[env_key], env_key
        if raw is dataclasses.MISSING:
            raise SettingsError(f"conf/defaults.toml has no [{prefix}] {f.name}")
        try:
            kwargs[f.name] = _coerce(raw, hints[f.name])
        except (TypeError, ValueError):
            raise SettingsError(f"{source} = {raw!r} is not a {hints[f.name]}")
    return cls(**kwargs)


def _known_keys() -> dict[str, set[str]]:
    return {name: {f.name for f in dataclasses.fields(typing.get_type_hints(Settings)[name])}
            for name in _SECTIONS}


def _check_file(data: dict, path: Path) -> None:
    known = _known_keys()
    for section, values in data.items():
        if section == "vmtypes":
            continue
        if section not in known:
            raise SettingsError(f"{path}: unknown section [{section}] "
                                f"(known: {', '.join(sorted(known))}, vmtypes)")
        if not isinstance(values, dict):
            raise SettingsError(f"{path}: [{section}] must be a table")
        for key in values:
            if key not in known[section]:
                raise SettingsError(f"{path}: [{section}] has no setting {key!r}")


def _check_env(env: dict) -> None:
    names = {f"MALLEE_{section}_{key}".upper()
             for section, keys in _known_keys().items() for key in keys}
    for var in env:
        if var.startswith("MALLEE_") and var not in names and var not in OTHER_VARIABLES:
            raise SettingsError(f"environment variable {var} names no setting "
                                "(MALLEE_<SECTION>_<KEY>, see conf/defaults.toml)")


def default_home(env=None) -> Path:
    env = os.environ if env is None else env
    return Path(env.get("MALLEE_HOME") or Path.home() / ".mallee").expanduser()


def load(home: Path | None = None, env: dict | None = None) -> Settings:
    env = dict(os.environ if env is None else env)
    home = Path(home) if home else default_home(env)
    with open(CONF_DIR / "defaults.toml", "rb") as f:
        data = tomllib.load(f)
    _check_file(data, CONF_DIR / "defaults.toml")
    override = Path(env.get("MALLEE_CONFIG") or home / "mallee.toml")
    if override.exists():
        try:
            with open(override, "rb") as f:
                extra = tomllib.load(f)
        except tomllib.TOMLDecodeError as err:
            raise SettingsError(f"{override}: {err}")
        _check_file(extra, override)
        for section, values in extra.items():
            data.setdefault(section, {}).update(values)
    _check_env(env)
    sections = {name: _section(hint, data.get(name, {}), env, name)
                for name, hint in _SECTIONS.items()}
    if sections["network"].mode not in NETWORK_MODES:
        raise SettingsError(f"[network] mode = {sections['network'].mode!r}: "
                            f"one of {', '.join(NETWORK_MODES)}")
    vmtypes = tuple(VmType(name, int(v["cpu"]), int(v["memory"]), int(v["disk"]))
                    for name, v in data.get("vmtypes", {}).items())
    return Settings(home=home, vmtypes=vmtypes, **sections)
