"""A guest NIC plugged into this node's bridge."""
from __future__ import annotations

from dataclasses import dataclass, field

from node_controller.network.names import tap_name


@dataclass(frozen=True)
class Port:
    instance_id: str
    mac: str
    private_ip: str
    groups: tuple[str, ...] = ()
    public_ip: str | None = None
    hostname: str | None = None
    # ModifyInstanceMetadataOptions: IMDSv2 only, and the token reply's IP TTL.
    tokens_required: bool = False
    hop_limit: int = 1
    spec: dict = field(default_factory=dict, compare=False, repr=False)  # for metadata

    @property
    def tap(self) -> str:
        return tap_name(self.instance_id)

    @classmethod
    def from_spec(cls, spec: dict) -> "Port":
        return cls(instance_id=spec["instance_id"], mac=spec["mac"].lower(),
                   private_ip=spec["private_ip"], groups=tuple(spec.get("groups") or ()),
                   public_ip=spec.get("public_ip"),
                   hostname=spec.get("hostname") or "ip-" + spec["private_ip"].replace(".", "-"),
                   tokens_required=(spec.get("metadata_options") or {}).get("http_tokens")
                   == "required",
                   hop_limit=int((spec.get("metadata_options") or {}).get(
                       "http_put_response_hop_limit") or 1),
                   spec=spec)
