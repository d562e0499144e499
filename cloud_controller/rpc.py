"""The CLC's RPC methods, served over mutual TLS on [clc] rpc_port.

Account administration for `mallee admin`: it reaches the CLC here with the
admin certificate, so it works the same from any host of a multi-host cloud
(the CLC's database need not be on the admin's disk). Key changes go through
AccountService, which tells Walrus at once.
"""
from __future__ import annotations

from typing import Callable

from mallee import errors, rpc


def _text(params: dict, name: str, required: bool = True) -> str | None:
    value = params.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value:
        raise errors.MissingParameter(f"The RPC parameter {name!r} (a string) is missing.")
    return value


def _key(key) -> dict:
    return {"credential": key.credential.public_dict(), "status": key.status,
            "created_at": key.created_at}


def methods(accounts: Callable[[], object]) -> dict[str, rpc.RpcMethod]:
    """`accounts` gives the running app's AccountService (it opens at start-up)."""
    async def health(params: dict, caller: str) -> dict:
        return {"status": "ok", "component": "clc"}

    async def account_create(params: dict, caller: str) -> dict:
        name = _text(params, "account_name")
        account_id = await accounts().create_account(name)
        credential = await accounts().create_access_key(name)
        return {"account_id": account_id, "credential": credential.public_dict()}

    async def account_list(params: dict, caller: str) -> list[dict]:
        return [{"name": a["name"], "id": a["id"], "is_admin": bool(a["is_admin"])}
                for a in await accounts().accounts()]

    async def user_create(params: dict, caller: str) -> dict:
        user_id = await accounts().create_user(_text(params, "account"),
                                               _text(params, "user_name"))
        return {"user_id": user_id}

    async def user_list(params: dict, caller: str) -> list[dict]:
        return [{"name": u["name"], "id": u["id"]}
                for u in await accounts().users(_text(params, "account"))]

    async def key_create(params: dict, caller: str) -> dict:
        credential = await accounts().create_access_key(_text(params, "account"),
                                                        _text(params, "user"))
        return credential.public_dict()

    async def key_list(params: dict, caller: str) -> list[dict]:
        return [_key(k) for k in await accounts().access_keys(
            _text(params, "account", required=False), _text(params, "user", required=False))]

    async def key_set_active(params: dict, caller: str) -> dict:
        active = params.get("active")
        if not isinstance(active, bool):
            raise errors.MissingParameter("The RPC parameter 'active' (true or false) is missing.")
        await accounts().set_key_active(_text(params, "key_id"), active)
        return {}

    async def key_delete(params: dict, caller: str) -> dict:
        await accounts().delete_access_key(_text(params, "key_id"))
        return {}

    async def signing_certificate(params: dict, caller: str) -> dict:
        """A new bundling certificate and key for a user's key (the eucarc's
        EC2_CERT / EC2_PRIVATE_KEY), recorded so RegisterImage trusts it."""
        credential = await accounts().lookup(_text(params, "access_key_id"))
        if credential is None:
            raise errors.NoSuchEntity(f"No access key {params['access_key_id']}.")
        cert, key = await accounts().issue_signing_certificate(credential)
        return {"certificate": cert.decode(), "private_key": key.decode()}

    admin_only = {"account_create": account_create, "account_list": account_list,
                  "user_create": user_create, "user_list": user_list,
                  "key_create": key_create, "key_list": key_list,
                  "key_set_active": key_set_active, "key_delete": key_delete,
                  "signing_certificate": signing_certificate}
    return {"health": rpc.method(health, "admin"),
            **{name: rpc.method(handler, "admin") for name, handler in admin_only.items()}}
