"""One frozen, typed settings object, loaded once.

Sources, later ones winning: conf/defaults.toml, $MALLEE_HOME/mallee.toml (or
the file named by MALLEE_CONFIG), then MALLEE_<SECTION>_<KEY> environment
variables. Components receive the object; nothing reads config globally.
"""
from __future__ import annotations

import dataclasses
import os
import tomllib
import typing
from dataclasses import dataclass, field
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
    region: str = "mallee"
    host: str = "127.0.0.1"
    clock_skew_seconds: int = 900
    max_request_bytes: int = 1048576


@dataclass(frozen=True)
class ClcSettings:
    port: int = 8773
    poll_seconds: float = 5.0
    rate_limit_per_second: int = 200
    max_instances_per_account: int = 20
    clusters: tuple[str, ...] = ()


@dataclass(frozen=True)
class CcSettings:
    name: str = "cluster1"
    zone: str = "mallee-1a"
    port: int = 8774
    nodes: tuple[str, ...] = ()
    poll_seconds: float = 6.0
    scheduler: str = "ROUNDROBIN"


@dataclass(frozen=True)
class NcSettings:
    name: str = "node1"
    port: int = 8775
    driver: str = "libvirt"
    libvirt_uri: str = "qemu:///system"
    domain_type: str = ""
    state_dir: str = "/var/lib/mallee/{name}"
    image_cache_gb: int = 20
    cores: int = 0
    memory_mb: int = 0
    disk_gb: int = 0
    reserved_memory_mb: int = 512
    reserved_disk_gb: int = 2


    @property
    def state_path(self) -> Path:
        return Path(self.state_dir.format(name=self.name))


@dataclass(frozen=True)
class WalrusSettings:
    port: int = 8780
    rpc_port: int = 8779
    max_buckets_per_account: int = 100
    max_bytes_per_account: int = 0
    bucket_naming: str = "extended"


@dataclass(frozen=True)
class ScSettings:
    port: int = 8776


@dataclass(frozen=True)
class NetworkSettings:
    """EDGE networking (docs/network.md). A cluster's CC hands out private
    addresses from private_subnet; the CLC hands out public ones from
    public_ips ("a-b" ranges or single addresses, comma-separated)."""
    private_subnet: str = "10.64.0.0/16"
    uplink_netns: str = ""
    uplink_bridge: str = ""
    uplink_address: str = ""
    uplink_gateway: str = ""
    make_outside: bool = False
    dns_domain: str = "mallee.internal"
    public_ips: tuple[str, ...] = ()
    max_addresses_per_account: int = 5
    public_ip_at_launch: bool = False
    cluster_link: str = "none"
    cluster_link_netns: str = ""
    vxlan_id: int = 6464
    vxlan_port: int = 4789
    vxlan_peers: tuple[str, ...] = ()


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
    cloud: CloudSettings = field(default_factory=CloudSettings)
    clc: ClcSettings = field(default_factory=ClcSettings)
    cc: CcSettings = field(default_factory=CcSettings)
    nc: NcSettings = field(default_factory=NcSettings)
    walrus: WalrusSettings = field(default_factory=WalrusSettings)
    sc: ScSettings = field(default_factory=ScSettings)
    network: NetworkSettings = field(default_factory=NetworkSettings)
    vmtypes: tuple[VmType, ...] = ()

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


def _section(cls_name: str, values: dict, env: dict, prefix: str):
    cls = globals()[cls_name] if isinstance(cls_name, str) else cls_name
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for f in dataclasses.fields(cls):
        raw = values.get(f.name, dataclasses.MISSING)
        env_key = f"MALLEE_{prefix}_{f.name}".upper()
        if env_key in env:
            raw = env[env_key]
        if raw is not dataclasses.MISSING:
            kwargs[f.name] = _coerce(raw, hints[f.name])
    return cls(**kwargs)


def default_home(env=None) -> Path:
    env = os.environ if env is None else env
    return Path(env.get("MALLEE_HOME") or Path.home() / ".mallee").expanduser()


def load(home: Path | None = None, env: dict | None = None) -> Settings:
    env = dict(os.environ if env is None else env)
    home = Path(home) if home else default_home(env)
    with open(CONF_DIR / "defaults.toml", "rb") as f:
        data = tomllib.load(f)
    override = Path(env.get("MALLEE_CONFIG") or home / "mallee.toml")
    if override.exists():
        with open(override, "rb") as f:
            for section, values in tomllib.load(f).items():
                data.setdefault(section, {}).update(values)
    sections = {name: _section(hint, data.get(name, {}), env, name)
                for name, hint in _SECTIONS.items()}
    vmtypes = tuple(VmType(name, int(v["cpu"]), int(v["memory"]), int(v["disk"]))
                    for name, v in data.get("vmtypes", {}).items())
    return Settings(home=home, vmtypes=vmtypes, **sections)
