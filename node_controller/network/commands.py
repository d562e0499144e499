"""Running the tools (ip, iptables-restore, ipset, nft): argument lists only,
and a failure raises with the command and its stderr so the user sees why."""
from __future__ import annotations

import subprocess


class NetworkError(Exception):
    """A data plane change that could not be made; the message says why."""


def run(*args: str, input: str | None = None, check: bool = True) -> str:
    try:
        proc = subprocess.run(list(args), input=input, capture_output=True, text=True,
                              timeout=60)
    except FileNotFoundError as exc:
        raise NetworkError(f"{args[0]} is not installed ({exc.filename})") from exc
    except subprocess.TimeoutExpired as exc:
        raise NetworkError(f"{' '.join(args)} timed out") from exc
    if check and proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip().splitlines()
        raise NetworkError(f"{' '.join(args[:6])}{' ...' if len(args) > 6 else ''} failed: "
                           f"{' / '.join(detail[-3:]) or f'exit {proc.returncode}'}")
    return proc.stdout


def in_namespace(namespace: str, *args: str, input: str | None = None, check: bool = True) -> str:
    return run("ip", "netns", "exec", namespace, *args, input=input, check=check)
