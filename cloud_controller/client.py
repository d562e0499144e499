"""The typed client of the CLC's RPC port, for `mallee admin` (admin certificate)."""
from __future__ import annotations

from dataclasses import dataclass

from mallee.auth import Credential
from mallee.rpc import RpcClient


@dataclass(frozen=True)
class AccessKey:
    credential: Credential
    status: str  # Active | Inactive
    created_at: float


class AdminClient(RpcClient):
    role = "clc"

    async def health(self) -> dict:
        return await self.call("health", timeout=5)

    async def account_create(self, name: str) -> tuple[str, Credential]:
        """(account id, the account admin's first access key)."""
        made = await self.call("account_create", account_name=name)
        return made["account_id"], Credential(**made["credential"])

    async def account_list(self) -> list[dict]:
        return await self.call("account_list")

    async def user_create(self, account: str, name: str) -> str:
        return (await self.call("user_create", account=account, user_name=name))["user_id"]

    async def user_list(self, account: str) -> list[dict]:
        return await self.call("user_list", account=account)

    async def key_create(self, account: str, user: str) -> Credential:
        return Credential(**await self.call("key_create", account=account, user=user))

    async def key_list(self, account: str | None = None,
                       user: str | None = None) -> list[AccessKey]:
        return [AccessKey(Credential(**k["credential"]), k["status"], k["created_at"])
                for k in await self.call("key_list", account=account, user=user)]

    async def key_set_active(self, key_id: str, active: bool) -> None:
        await self.call("key_set_active", key_id=key_id, active=active)

    async def key_delete(self, key_id: str) -> None:
        await self.call("key_delete", key_id=key_id)

    async def signing_certificate(self, access_key_id: str) -> tuple[bytes, bytes]:
        """A new bundling certificate and private key (PEM) for this key's user."""
        made = await self.call("signing_certificate", access_key_id=access_key_id)
        return made["certificate"].encode(), made["private_key"].encode()
