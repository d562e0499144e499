"""`mallee init` and `mallee admin`: the cloud admin account, then accounts,
users and access keys through the CLC's RPC port (the admin certificate), so
the same commands work on any host of a multi-host cloud."""
from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime, timezone
from pathlib import Path

from cloud_controller.bootstrap import local_accounts
from cloud_controller.client import AdminClient
from cluster_controller.client import ClusterClient
from mallee.eucarc import write_eucarc
from mallee.pki import init_pki
from mallee.rpc import client_ssl_context
from mallee.settings import Settings
from mallee_cli.errors import CliError
from mallee_cli.output import print_table

ADMIN_ACCOUNT, ADMIN_USER = "eucalyptus", "admin"


def cmd_init(settings: Settings, args) -> None:
    """On the CLC's host, before anything runs: the CA and certificates, the
    CLC's database with the cloud admin account, and the admin's eucarc."""
    async def run():
        made = init_pki(settings.pki_dir, (settings.cloud.host,))
        async with local_accounts(settings) as accounts:
            credential = await accounts.ensure_admin()
            if credential is None and settings.eucarc.exists():
                print(f"cloud already initialised at {settings.home}"
                      + (" (made missing certificates)" if made else ""))
                return
            credential = credential or (await accounts.access_keys(ADMIN_ACCOUNT))[0].credential
            await write_eucarc(settings, credential, settings.eucarc,
                               accounts.issue_signing_certificate)
            print(f"admin credentials written to {settings.eucarc}")
    asyncio.run(run())


@contextlib.asynccontextmanager
async def admin_client(settings: Settings):
    if not (settings.pki_dir / "admin.pem").exists():
        raise CliError(f"no cloud at {settings.home}: run `mallee init` first")
    client = AdminClient(settings.cloud.host, settings.clc.rpc_port,
                         client_ssl_context(settings.pki_dir, "admin"))
    try:
        yield client
    finally:
        await client.close()


def credentials_path(settings: Settings, account: str, user: str) -> Path:
    return settings.home / "credentials" / account / user / "eucarc"


async def write_user_eucarc(settings: Settings, client: AdminClient, credential,
                            path: Path | None = None) -> Path:
    path = path or credentials_path(settings, credential.account_name, credential.user_name)
    return await write_eucarc(settings, credential, path,
                              lambda c: client.signing_certificate(c.access_key_id))


async def _admin(settings: Settings, args, client: AdminClient) -> None:
    what = args.admin_command
    if what == "account-create":
        account_id, credential = await client.account_create(args.name)
        path = await write_user_eucarc(settings, client, credential)
        print(f"account {args.name} ({account_id}) created; credentials in {path}")
    elif what == "account-list":
        print_table([{"account": a["name"], "id": a["id"], "admin": a["is_admin"]}
                     for a in await client.account_list()], ["account", "id", "admin"],
                    args.output)
    elif what == "user-create":
        await client.user_create(args.account, args.name)
        print(f"user {args.name} created in {args.account}")
    elif what == "user-list":
        print_table([{"user": u["name"], "id": u["id"]}
                     for u in await client.user_list(args.account)], ["user", "id"], args.output)
    elif what == "key-create":
        c = await client.key_create(args.account, args.user)
        print(f"{c.access_key_id}\t{c.secret_access_key}")
    elif what == "key-list":
        print_table([{"access_key_id": k.credential.access_key_id,
                      "account": k.credential.account_name, "user": k.credential.user_name,
                      "status": k.status,
                      "created": datetime.fromtimestamp(k.created_at, timezone.utc)
                      .strftime("%Y-%m-%d %H:%M:%S")}
                     for k in await client.key_list(args.account, args.user)],
                    ["access_key_id", "account", "user", "status", "created"], args.output)
    elif what in ("key-disable", "key-enable"):
        await client.key_set_active(args.key_id, what == "key-enable")
        print(f"{args.key_id} {'enabled' if what == 'key-enable' else 'disabled'}")
    elif what == "key-delete":
        await client.key_delete(args.key_id)
        print(f"{args.key_id} deleted")
    elif what == "eucarc":
        keys = [k for k in await client.key_list(args.account, args.user) if k.status == "Active"]
        if not keys:
            raise CliError(f"{args.account}/{args.user} has no active access key: "
                           f"run `mallee admin key-create {args.account}` first")
        out = Path(args.out) if args.out else None
        print(f"wrote {await write_user_eucarc(settings, client, keys[-1].credential, out)}")


async def _node_power(settings: Settings, args) -> None:
    """Mark a node on or off at its CC (docs/placement.md), with the admin certificate."""
    host, port = settings.cloud.host, settings.cc.port  # this host's CC
    if args.cluster:
        ref = next((c for c in settings.clusters if c.name == args.cluster), None)
        if ref is None:
            raise CliError(f"no cluster {args.cluster!r} in [clc] clusters "
                           f"({', '.join(c.name for c in settings.clusters)})")
        host, port = ref.host, ref.port
    client = ClusterClient(host, port, client_ssl_context(settings.pki_dir, "admin"))
    try:
        answer = await client.set_node_power(args.node, args.power == "on")
    finally:
        await client.close()
    print(f"{answer['node']} powered {answer['power']}")


def cmd_admin(settings: Settings, args) -> None:
    async def run():
        if args.admin_command == "node-power":  # the CC's, not the CLC's
            return await _node_power(settings, args)
        async with admin_client(settings) as client:
            await _admin(settings, args, client)
    asyncio.run(run())


def add_parser(sub) -> None:
    admin = sub.add_parser("admin", help="accounts, users and access keys (through the CLC); "
                           "nodes' power (through the CC)")
    admin.add_argument("--output", choices=["table", "json"], default="table")
    asub = admin.add_subparsers(dest="admin_command", required=True)
    asub.add_parser("account-create").add_argument("name")
    asub.add_parser("account-list")
    uc = asub.add_parser("user-create")
    uc.add_argument("account")
    uc.add_argument("name")
    asub.add_parser("user-list").add_argument("account")
    kc = asub.add_parser("key-create")
    kc.add_argument("account")
    kc.add_argument("--user", default=ADMIN_USER)
    kl = asub.add_parser("key-list")
    kl.add_argument("--account")
    kl.add_argument("--user")
    for verb in ("key-disable", "key-enable", "key-delete"):
        asub.add_parser(verb).add_argument("key_id")
    np = asub.add_parser("node-power", help="mark a node powered on or off (it takes no "
                         "instances while off), running [cc] power_command")
    np.add_argument("node", help="the node's host:port or name")
    np.add_argument("power", choices=["on", "off"])
    np.add_argument("--cluster", help="a cluster of [clc] clusters (default: this host's CC)")
    ec = asub.add_parser("eucarc", help="write an eucarc for an account's user")
    ec.add_argument("account")
    ec.add_argument("--user", default=ADMIN_USER)
    ec.add_argument("--out")
