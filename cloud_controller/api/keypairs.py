"""CreateKeyPair, ImportKeyPair, DescribeKeyPairs, DeleteKeyPair."""
from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from cloud_controller.api.context import RequestContext
from cloud_controller.api.filters import FilterSet
from cloud_controller.api.tagging import tag_list, tags_for
from mallee import errors
from cloud_controller.api.query import Filter, TagSpecification, listparam, param
from mallee.xmlwrite import iso8601


@dataclass
class CreateKeyPairRequest:
    key_name: str = param("KeyName", required=True)
    key_type: str = param("KeyType", default="rsa")
    key_format: str = param("KeyFormat", default="pem")
    tag_specifications: list[TagSpecification] = listparam("TagSpecification")
    dry_run: bool = param("DryRun", default=False)


@dataclass
class ImportKeyPairRequest:
    key_name: str = param("KeyName", required=True)
    public_key_material: str = param("PublicKeyMaterial", required=True)
    tag_specifications: list[TagSpecification] = listparam("TagSpecification")
    dry_run: bool = param("DryRun", default=False)


@dataclass
class DescribeKeyPairsRequest:
    key_names: list[str] = listparam("KeyName")
    key_pair_ids: list[str] = listparam("KeyPairId")
    filters: list[Filter] = listparam("Filter")
    include_public_key: bool = param("IncludePublicKey", default=False)
    dry_run: bool = param("DryRun", default=False)


@dataclass
class DeleteKeyPairRequest:
    key_name: str = param("KeyName")
    key_pair_id: str = param("KeyPairId")
    dry_run: bool = param("DryRun", default=False)


async def _tag_new(ctx: RequestContext, key_id: str, specs) -> dict[str, str]:
    tags = tags_for(specs, "key-pair")
    if tags:
        await ctx.cloud.tags.create(ctx.account_id, [key_id], tags)
    return dict(tags)


async def create_key_pair(ctx: RequestContext, req: CreateKeyPairRequest) -> dict:
    if req.key_type not in ("rsa", "ed25519"):
        raise errors.InvalidParameterValue(
            f"Value ({req.key_type}) for parameter KeyType is invalid: use rsa or ed25519.")
    if req.key_format != "pem":
        raise errors.InvalidParameterValue(
            f"Value ({req.key_format}) for parameter KeyFormat is invalid: only pem is supported.")
    tags_for(req.tag_specifications, "key-pair")  # checked before the key exists
    row, pem = await ctx.cloud.keypairs.create(ctx.account_id, req.key_name, req.key_type)
    tags = await _tag_new(ctx, row["id"], req.tag_specifications)
    return {"keyName": row["name"], "keyFingerprint": row["fingerprint"], "keyMaterial": pem,
            "keyPairId": row["id"], "tagSet": tag_list(tags)}


async def import_key_pair(ctx: RequestContext, req: ImportKeyPairRequest) -> dict:
    try:
        material = base64.b64decode(req.public_key_material, validate=True)
    except (binascii.Error, ValueError):
        raise errors.InvalidKeyPairFormat("PublicKeyMaterial must be base64-encoded.")
    row = await ctx.cloud.keypairs.import_(ctx.account_id, req.key_name, material)
    tags = await _tag_new(ctx, row["id"], req.tag_specifications)
    return {"keyFingerprint": row["fingerprint"], "keyName": row["name"],
            "keyPairId": row["id"], "tagSet": tag_list(tags)}


async def describe_key_pairs(ctx: RequestContext, req: DescribeKeyPairsRequest) -> dict:
    keypairs = ctx.cloud.keypairs
    if req.key_names or req.key_pair_ids:
        rows = [await keypairs.find(ctx.account_id, name=n) for n in req.key_names]
        rows += [await keypairs.find(ctx.account_id, key_id=i) for i in req.key_pair_ids]
    else:
        rows = await keypairs.list(ctx.account_id)
    tags = await ctx.cloud.tags.of([r["id"] for r in rows])
    filters = FilterSet(req.filters, {
        "key-name": lambda r: r["name"], "key-pair-id": lambda r: r["id"],
        "fingerprint": lambda r: r["fingerprint"], "key-type": lambda r: r["key_type"],
    }, tags=lambda r: tags[r["id"]])
    return {"keySet": [{
        "keyPairId": r["id"], "keyFingerprint": r["fingerprint"], "keyName": r["name"],
        "keyType": r["key_type"], "tagSet": tag_list(tags[r["id"]]),
        "publicKey": r["public_key"] + "\n" if req.include_public_key else None,
        "createTime": iso8601(r["created_at"]),
    } for r in filters.apply(rows)]}


async def delete_key_pair(ctx: RequestContext, req: DeleteKeyPairRequest) -> dict:
    if not req.key_name and not req.key_pair_id:
        raise errors.MissingParameter("The request must contain the parameter KeyName or KeyPairId")
    try:
        row = await ctx.cloud.keypairs.find(ctx.account_id, req.key_name, req.key_pair_id)
    except errors.InvalidKeyPairNotFound:
        if req.key_pair_id:
            raise
        return {"return": True}  # deleting a missing name succeeds, as in EC2
    await ctx.cloud.keypairs.delete(ctx.account_id, row)
    return {"return": True, "keyPairId": row["id"]}
