"""The SC's entry point for ending storage service on a host: after the SC process
has stopped, stop the tgtd it started (that tgtd outlives the SC on purpose, so an
SC restart is invisible to guests). `mallee down` and the test harness call it.
The volumes' files and database stay: they are the tenants' data."""
from __future__ import annotations

import subprocess

from mallee.settings import Settings


def stop_tgtd(control_port: int) -> bool:
    """Stop the tgtd on `control_port`. tgtd ignores SIGTERM and refuses to exit
    while it has targets, so its targets go first (forced: sessions end), then it is
    asked to exit. True if one was running."""
    adm = ["tgtadm", "-C", str(control_port), "--lld", "iscsi"]
    shown = subprocess.run(adm + ["--mode", "target", "--op", "show"], capture_output=True,
                           text=True, timeout=30)
    if shown.returncode != 0:
        return False
    for line in shown.stdout.splitlines():
        if line.startswith("Target ") and ":" in line:
            tid = line.split(":", 1)[0].split()[1]
            subprocess.run(adm + ["--mode", "target", "--op", "delete", "--force",
                                  "--tid", tid], capture_output=True, timeout=30)
    subprocess.run(["tgtadm", "-C", str(control_port), "--mode", "system", "--op", "delete"],
                   capture_output=True, timeout=30)
    return True


def end_storage(settings: Settings) -> bool:
    return stop_tgtd(settings.sc.tgt_control_port)
