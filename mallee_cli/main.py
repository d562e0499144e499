"""`mallee`: init, up, down, status, serve, admin, image.

Errors are one line that says what went wrong and what to do; no tracebacks.
"""
from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import os
import shlex
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

from mallee import errors, settings as settings_mod
from mallee_cli import image as image_cli, onehost
from mallee.settings import Settings

SERVICES = {"clc": "cloud_controller.app", "cc": "cluster_controller.app",
            "nc": "node_controller.app", "walrus": "walrus.app", "sc": "ebs.app"}


class CliError(Exception):
    pass


def print_table(rows: list[dict], columns: list[str], output: str) -> None:
    if output == "json":
        print(json.dumps(rows, indent=2, default=str))
        return
    widths = {c: max([len(c)] + [len(str(r.get(c, ""))) for r in rows]) for c in columns}
    print("  ".join(c.upper().ljust(widths[c]) for c in columns))
    for r in rows:
        print("  ".join(str(r.get(c, "")).ljust(widths[c]) for c in columns))


# --- accounts (direct on the CLC's database; sqlite WAL allows it while running)
async def _accounts(settings: Settings):
    from cloud_controller.app import database_path
    from cloud_controller.db import open_database
    from cloud_controller.services.accounts import AccountService
    from mallee.pki import SecretBox
    if not (settings.pki_dir / "secrets.key").exists():
        raise CliError(f"no cloud at {settings.home}: run `mallee init` first")
    db = await open_database(database_path(settings))
    return db, AccountService(db, SecretBox(settings.pki_dir), settings.pki_dir)


def cmd_init(settings: Settings, args) -> None:
    from mallee.eucarc import write_eucarc
    from mallee.pki import init_pki

    async def run():
        made = init_pki(settings.pki_dir, (settings.cloud.host,))
        db, accounts = await _accounts(settings)
        try:
            credential = await accounts.ensure_admin()
            if credential is not None or not settings.eucarc.exists():
                credential = credential or (await accounts.access_keys("eucalyptus"))[0].credential
                await write_eucarc(settings, accounts, credential, settings.eucarc)
                print(f"admin credentials written to {settings.eucarc}")
            else:
                print(f"cloud already initialised at {settings.home}"
                      + (" (made missing certificates)" if made else ""))
        finally:
            await db.close()
    asyncio.run(run())


def cmd_serve(settings: Settings, args) -> None:
    from mallee.service import serve_forever, setup_logging
    setup_logging(settings, args.component, to_file=not args.foreground_log)
    module = importlib.import_module(SERVICES[args.component])
    serve_forever(module.sites, settings)


def cmd_up(settings: Settings, args) -> None:
    if not (settings.pki_dir / "ca.pem").exists():
        cmd_init(settings, args)
    if settings.nc.driver == "libvirt":
        outside = onehost.ensure_outside(settings)
        if outside:
            print(f"outside namespace {outside} (the world elastic IPs face): mallee outside")
    for component in onehost.COMPONENTS:
        pid, started = onehost.start(settings, component)
        reason = asyncio.run(onehost.wait_healthy(settings, component, pid))
        if reason:
            log = settings.log_dir / f"{component}.log"
            raise CliError(f"{component} did not become healthy: {reason}; see {log} "
                           f"and {settings.log_dir / (component + '.out')}")
        print(f"{component:7} {'started' if started else 'running'} (pid {pid})")
    publish_test_image(settings)
    print(f"\nThe cloud is up. Next:\n  source {settings.eucarc}\n"
          "  aws ec2 describe-availability-zones\n  aws ec2 create-key-pair --key-name k1\n"
          "  mallee status")


def publish_test_image(settings: Settings) -> None:
    """Register `mallee-test` for the admin, as `mallee image build-test` would."""
    env = dict(os.environ)
    for line in settings.eucarc.read_text().splitlines():
        if line.startswith("export "):
            key, _, value = line[len("export "):].partition("=")
            env[key] = shlex.split(value)[0] if value else ""
    proc = subprocess.run([sys.executable, "-m", "mallee_cli", "image", "build-test"], env=env,
                          capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        raise CliError(f"could not register the test image: {proc.stderr.strip()}")
    image = next(line.split()[1] for line in proc.stdout.splitlines()
                 if line.startswith("IMAGE"))
    print(f"image   mallee-test is {image}")


def cmd_down(settings: Settings, args) -> None:
    for component in reversed(onehost.COMPONENTS):
        if onehost.stop(settings, component):
            print(f"{component:7} stopped")
    ended = onehost.end_node(settings)
    if ended:
        print(f"ended {len(ended)} guest(s): {' '.join(ended)}")
    onehost.remove_outside(settings)


def cmd_outside(settings: Settings, args) -> None:
    """Run a command (default: a shell) in the outside-world namespace."""
    namespace = settings.network.uplink_netns
    if not namespace or not Path(f"/run/netns/{namespace}").exists():
        raise CliError("no outside namespace: it exists while the one-host cloud is up "
                       "(`mallee up`), with [network] make_outside = true")
    command = args.cmd or [os.environ.get("SHELL", "/bin/bash")]
    os.execvp("ip", ["ip", "netns", "exec", namespace, *command])


def cmd_status(settings: Settings, args) -> None:
    async def gather():
        rows = []
        for component in onehost.COMPONENTS:
            ok, detail = await onehost.health(settings, component)
            rows.append({"component": component, "pid": onehost.running_pid(settings, component)
                         or "-", "health": "ok" if ok else "DOWN", "detail": detail})
        nodes, error = await onehost.cluster_nodes(settings)
        return rows, nodes, error
    rows, nodes, error = asyncio.run(gather())
    if args.output == "json":
        print(json.dumps({"components": rows, "nodes": nodes, "nodes_error": error}, indent=2))
        return
    print_table(rows, ["component", "pid", "health", "detail"], "table")
    print()
    if error:
        print(f"nodes: unknown ({error})")
        return
    print_table([{
        "node": n["name"], "endpoint": n["endpoint"], "status": n["status"],
        "cores": f"{n['cores_free']}/{n['cores_total']}",
        "memory_mb": f"{n['memory_free_mb']}/{n['memory_total_mb']}",
        "disk_gb": f"{n['disk_free_gb']}/{n['disk_total_gb']}",
        "instances": len(n["instances"]),
        "network": _network_state(n.get("network")), "reason": n["reason"] or "",
    } for n in nodes], ["node", "endpoint", "status", "cores", "memory_mb", "disk_gb",
                        "instances", "network", "reason"], "table")
    print("(cores, memory and disk are free/total)")
    instances = [{"instance": i["instance_id"], "node": n["name"], "state": i["state"],
                  "cores": i["cpu"], "memory_mb": i["memory_mb"], "reason": i.get("reason") or ""}
                 for n in nodes for i in n["instances"]]
    if instances:
        print()
        print_table(instances, ["instance", "node", "state", "cores", "memory_mb", "reason"],
                    "table")


def _network_state(network: dict | None) -> str:
    """A node's data plane as `mallee status` shows it: its view version, or why it failed."""
    if not network:
        return "-"
    if network.get("error"):
        return f"ERROR v{network.get('version', 0)}: {network['error']}"
    return f"v{network.get('version', 0)}"


def cmd_admin(settings: Settings, args) -> None:
    from mallee.eucarc import write_eucarc

    async def run():
        db, accounts = await _accounts(settings)
        try:
            what = args.admin_command
            if what == "account-create":
                account_id = await accounts.create_account(args.name)
                credential = await accounts.create_access_key(args.name)
                path = await write_eucarc(settings, accounts, credential,
                                    settings.home / "credentials" / args.name / "admin" / "eucarc")
                print(f"account {args.name} ({account_id}) created; credentials in {path}")
            elif what == "account-list":
                print_table([{"account": a["name"], "id": a["id"],
                              "admin": bool(a["is_admin"])} for a in await accounts.accounts()],
                            ["account", "id", "admin"], args.output)
            elif what == "user-create":
                await accounts.create_user(args.account, args.name)
                print(f"user {args.name} created in {args.account}")
            elif what == "user-list":
                print_table([{"user": u["name"], "id": u["id"]}
                             for u in await accounts.users(args.account)],
                            ["user", "id"], args.output)
            elif what == "key-create":
                c = await accounts.create_access_key(args.account, args.user)
                print(f"{c.access_key_id}\t{c.secret_access_key}")
            elif what == "key-list":
                print_table([{"access_key_id": k.credential.access_key_id,
                              "account": k.credential.account_name,
                              "user": k.credential.user_name, "status": k.status,
                              "created": datetime.fromtimestamp(k.created_at, timezone.utc)
                              .strftime("%Y-%m-%d %H:%M:%S")}
                             for k in await accounts.access_keys(args.account, args.user)],
                            ["access_key_id", "account", "user", "status", "created"],
                            args.output)
            elif what in ("key-disable", "key-enable"):
                await accounts.set_key_active(args.key_id, what == "key-enable")
                print(f"{args.key_id} {'enabled' if what == 'key-enable' else 'disabled'}")
            elif what == "key-delete":
                await accounts.delete_access_key(args.key_id)
                print(f"{args.key_id} deleted")
            elif what == "eucarc":
                keys = [k for k in await accounts.access_keys(args.account, args.user)
                        if k.status == "Active"]
                if not keys:
                    raise CliError(f"{args.account}/{args.user} has no active access key: "
                                   f"run `mallee admin key-create {args.account}` first")
                out = Path(args.out) if args.out else \
                    settings.home / "credentials" / args.account / args.user / "eucarc"
                print(f"wrote {await write_eucarc(settings, accounts, keys[-1].credential, out)}")
        finally:
            await db.close()
    asyncio.run(run())


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="mallee", description="A Eucalyptus-style private cloud.")
    p.add_argument("--home", help="state directory (default $MALLEE_HOME or ~/.mallee)")
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("init", help="make the CA, certificates, admin account and eucarc")
    sub.add_parser("up", help="start every component on this host")
    sub.add_parser("down", help="stop the components `up` started")
    outside = sub.add_parser("outside", help="run a command in the outside-world namespace "
                                             "(where elastic IPs are reachable)")
    outside.add_argument("cmd", nargs=argparse.REMAINDER, help="command (default: a shell)")
    status = sub.add_parser("status", help="components' health and each node's capacity")
    status.add_argument("--output", choices=["table", "json"], default="table")
    serve = sub.add_parser("serve", help="run one component in the foreground")
    serve.add_argument("component", choices=sorted(SERVICES))
    serve.add_argument("--foreground-log", action="store_true", help="log to stderr")

    admin = sub.add_parser("admin", help="accounts, users and access keys")
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
    kc.add_argument("--user", default="admin")
    kl = asub.add_parser("key-list")
    kl.add_argument("--account")
    kl.add_argument("--user")
    for verb in ("key-disable", "key-enable", "key-delete"):
        asub.add_parser(verb).add_argument("key_id")
    ec = asub.add_parser("eucarc", help="write an eucarc for an account's user")
    ec.add_argument("account")
    ec.add_argument("--user", default="admin")
    ec.add_argument("--out")
    image_cli.add_parser(sub)
    return p


COMMANDS = {"init": cmd_init, "up": cmd_up, "down": cmd_down, "status": cmd_status,
            "serve": cmd_serve, "admin": cmd_admin, "outside": cmd_outside, "image": image_cli.run}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = settings_mod.load(home=Path(args.home) if args.home else None)
        COMMANDS[args.command](settings, args)
    except settings_mod.SettingsError as err:
        print(f"mallee: {err}", file=sys.stderr)
        return 1
    except (CliError, errors.ApiError) as err:
        print(f"mallee: {getattr(err, 'message', err)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
