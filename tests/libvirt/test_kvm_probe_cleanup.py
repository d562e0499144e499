"""An NC killed during its KVM probe leaves a transient probe domain that
nothing ends (under a hanging nested KVM it spins a core for ever, found by
the kill -9 suite): the next probe ends those whose prober is dead, and only
those."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from node_controller.hypervisor.kvm_probe import PROBE_NAME_PREFIX, remove_stale_probes

libvirt = pytest.importorskip("libvirt")

DEAD_PID = 4194304 + 1  # above Linux's pid_max: never a live process


def _transient(conn, name: str):
    return conn.createXML(f"<domain type='test'><name>{name}</name><memory>1024</memory>"
                          "<os><type>hvm</type></os></domain>", 0)


def test_stale_probe_domains_and_dirs_go_live_ones_stay():
    conn = libvirt.open("test:///default")
    try:
        _transient(conn, f"{PROBE_NAME_PREFIX}{DEAD_PID}-dead0001")
        _transient(conn, f"{PROBE_NAME_PREFIX}old0name")  # before names carried the pid
        mine = f"{PROBE_NAME_PREFIX}{os.getpid()}-live0001"
        _transient(conn, mine)
        stale_dir = Path(tempfile.mkdtemp(prefix=f"{PROBE_NAME_PREFIX}{DEAD_PID}-"))
        live_dir = Path(tempfile.mkdtemp(prefix=f"{PROBE_NAME_PREFIX}{os.getpid()}-"))
        assert remove_stale_probes(conn) == 2
        left = {d.name() for d in conn.listAllDomains() if d.name().startswith(PROBE_NAME_PREFIX)}
        assert left == {mine}
        assert not stale_dir.exists() and live_dir.exists()
    finally:
        for domain in conn.listAllDomains():
            if domain.name().startswith(PROBE_NAME_PREFIX):
                domain.destroy()
        live_dir.rmdir()
        conn.close()
