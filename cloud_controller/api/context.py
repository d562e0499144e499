"""What a handler gets: who is calling, the request id, and the CLC's services."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from mallee.auth import Credential

if TYPE_CHECKING:
    from cloud_controller.services.cloud import Cloud


@dataclass(frozen=True)
class RequestContext:
    credential: Credential
    request_id: str
    cloud: "Cloud"
    host: str  # the Host header the client used, for endpoints we advertise

    @property
    def account_id(self) -> str:
        return self.credential.account_id

    @property
    def is_admin(self) -> bool:
        return self.credential.is_admin
