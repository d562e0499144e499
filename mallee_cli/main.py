"""`mallee`: init, up, down, status, serve, admin, image, sim.

Errors are one line that says what went wrong and what to do; no tracebacks.
"""
from __future__ import annotations

import argparse
import asyncio
import importlib
import os
import sys
from pathlib import Path

from mallee import errors, settings as settings_mod
from mallee.ovn_central import OvnCentral, OvnCentralError
from node_controller.network.ovn_chassis import OvnChassis, OvnChassisError
from mallee.settings import Settings
from mallee_cli import admin, image as image_cli, onehost, sim
from mallee_cli.admin import cmd_admin, cmd_init
from mallee_cli.errors import CliError
from mallee_cli.status import cmd_status
from ebs.teardown import end_storage
from node_controller import teardown
from node_controller.network import outside

SERVICES = {"clc": "cloud_controller.app", "cc": "cluster_controller.app",
            "nc": "node_controller.app", "walrus": "walrus.app", "sc": "ebs.app"}


def cmd_serve(settings: Settings, args) -> None:
    from mallee.service import serve_forever, setup_logging
    setup_logging(settings, args.log_name or args.component, to_file=not args.foreground_log)
    module = importlib.import_module(SERVICES[args.component])
    serve_forever(module.sites, settings)


def cmd_up(settings: Settings, args) -> None:
    cmd_init(settings, args)  # idempotent: makes (or, after an upgrade, reissues) what is missing
    if settings.nc.driver == "libvirt":
        made = outside.ensure_outside(settings.network)
        if made:
            print(f"outside namespace {made} (the world elastic IPs face): mallee outside")
    if settings.network.mode == "vpc":  # OVN's central part, before the CLC writes to it
        central = OvnCentral.of(settings)
        try:
            central.start()
        except OvnCentralError as err:
            raise CliError(f"{err}; see {central.log}")
        print(f"ovn     running (NB {central.nb.remote})")
        if settings.nc.driver == "libvirt":  # the node's OVS and ovn-controller
            chassis = OvnChassis.of(settings)
            try:
                chassis.start()
            except OvnChassisError as err:
                raise CliError(f"{err}; see {chassis.log}")
            print(f"chassis {settings.nc.name} running (br-int, OVS db {chassis.remote})")
    for component in onehost.COMPONENTS:
        pid, started = onehost.start(settings, component)
        reason = asyncio.run(onehost.wait_healthy(settings, component, pid))
        if reason:
            log = settings.log_dir / f"{component}.log"
            raise CliError(f"{component} did not become healthy: {reason}; see {log} "
                           f"and {settings.log_dir / (component + '.out')}")
        print(f"{component:7} {'started' if started else 'running'} (pid {pid})")
    onehost.publish_test_image(settings)
    print(f"\nThe cloud is up. Next:\n  source {settings.eucarc}\n"
          "  aws ec2 describe-availability-zones\n  aws ec2 create-key-pair --key-name k1\n"
          "  mallee status\n"
          f"  curl http://{settings.cloud.host}:{settings.clc.port}/metrics"
          "   (every tier's: docs/metrics.md)")


def cmd_down(settings: Settings, args) -> None:
    for component in reversed(onehost.COMPONENTS):
        if onehost.stop(settings, component):
            print(f"{component:7} stopped")
    if OvnChassis.of(settings).stop():  # whatever the mode now: what an earlier `up` started
        print("chassis stopped")
    if OvnCentral.of(settings).stop():
        print("ovn     stopped")
    if end_storage(settings):
        print("tgtd    stopped")
    ended = teardown.end_node(settings)
    if ended:
        print(f"ended {len(ended)} guest(s): {' '.join(ended)}")
    outside.remove_outside(settings.network)


def cmd_outside(settings: Settings, args) -> None:
    """Run a command (default: a shell) in the outside-world namespace."""
    namespace = settings.network.uplink_netns
    if not namespace or not Path(f"/run/netns/{namespace}").exists():
        raise CliError("no outside namespace: it exists while the one-host cloud is up "
                       "(`mallee up`), with [network] make_outside = true")
    command = args.cmd or [os.environ.get("SHELL", "/bin/bash")]
    os.execvp("ip", ["ip", "netns", "exec", namespace, *command])


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
    serve.add_argument("--log-name", help="log to log/NAME.log (default: the component's "
                                          "name; `mallee sim` runs several CCs on one host)")

    admin.add_parser(sub)
    image_cli.add_parser(sub)
    sim.add_parser(sub)
    return p


COMMANDS = {"init": cmd_init, "up": cmd_up, "down": cmd_down, "status": cmd_status,
            "serve": cmd_serve, "admin": cmd_admin, "outside": cmd_outside, "image": image_cli.run,
            "sim": sim.run}


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
    except BrokenPipeError:  # `mallee status | head`: the reader left, nothing is wrong
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
