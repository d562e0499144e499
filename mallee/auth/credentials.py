"""Who signed a request: the credential a verifier resolves an access key to."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Awaitable, Callable


@dataclass(frozen=True)
class Credential:
    access_key_id: str
    secret_access_key: str
    account_id: str
    account_name: str
    user_id: str
    user_name: str
    is_admin: bool = False
    active: bool = True

    @property
    def arn(self) -> str:
        return f"arn:aws:iam::{self.account_id}:user/{self.user_name}"

    def public_dict(self) -> dict:
        """The fields that travel between tiers (RPC), secret included."""
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


# Resolves an access key id to its credential, or None when unknown.
CredentialLookup = Callable[[str], Awaitable["Credential | None"]]
