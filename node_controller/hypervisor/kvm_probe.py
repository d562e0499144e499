"""Does KVM really run guests here? Asked once per driver.

/dev/kvm and libvirt's domain capabilities can say yes on a host whose nested
KVM hangs every guest: the kernel's real-mode setup prints, then the switch to
long mode never returns. So the probe boots the host's own kernel under KVM,
through the same libvirt connection the guests will use, and waits a bounded
time for the first line the kernel prints in long mode ("Linux version").
Anything else - no kernel to boot, an error, silence - means TCG ('qemu').

An NC killed during the probe cannot destroy its probe domain (transient, so
only a destroy ends it), and a hung KVM guest spins a core for ever: probe
names carry the prober's pid, and each probe first ends those of dead pids.
"""
from __future__ import annotations

import logging
import os
import secrets
import shutil
import tempfile
import time
from pathlib import Path

import libvirt

from mallee.images.hostkernel import host_kernel
from node_controller.hypervisor.console import read_console_tail
from node_controller.hypervisor.domain import DirectKernelBoot, DomainSpec, DomainType, domain_xml

log = logging.getLogger(__name__)

PROBE_NAME_PREFIX = "mallee-kvmprobe-"
_LONG_MODE_MARKER = b"Linux version"
_PROBE_CMDLINE = "console=ttyS0 earlyprintk=ttyS0 panic=-1 quiet"


def probe_domain_type(conn: libvirt.virConnect, timeout: float = 10.0) -> DomainType:
    remove_stale_probes(conn)
    if not _kvm_advertised(conn):
        return "qemu"
    kernel = host_kernel()
    if kernel is None:
        log.warning("no /boot/vmlinuz-* to probe KVM with; using TCG")
        return "qemu"
    works = _boots_under_kvm(conn, kernel, timeout)
    log.info("KVM probe: %s", "guests run" if works else "guests hang or fail; using TCG")
    return "kvm" if works else "qemu"


def _prober_alive(name: str) -> bool:
    pid = name.removeprefix(PROBE_NAME_PREFIX).split("-")[0]
    if not pid.isdigit():  # an older name without the pid
        return False
    try:
        os.kill(int(pid), 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, someone else's
        return True


def remove_stale_probes(conn: libvirt.virConnect) -> int:
    """End the probe domains (and their work dirs) of probers that died mid-probe."""
    removed = 0
    for domain in conn.listAllDomains():
        name = domain.name()
        if name.startswith(PROBE_NAME_PREFIX) and not _prober_alive(name):
            try:
                domain.destroy()
                removed += 1
                log.warning("ended %s, left running by an NC killed during its KVM probe", name)
            except libvirt.libvirtError as exc:
                log.warning("could not end stale probe %s: %s", name, exc)
    for work_dir in Path(tempfile.gettempdir()).glob(PROBE_NAME_PREFIX + "*"):
        if not _prober_alive(work_dir.name):
            shutil.rmtree(work_dir, ignore_errors=True)
    return removed


def _kvm_advertised(conn: libvirt.virConnect) -> bool:
    if conn.getURI().startswith("qemu:///"):  # local daemon: the device must be usable
        try:
            os.close(os.open("/dev/kvm", os.O_RDWR))
        except OSError:
            return False
    try:
        conn.getDomainCapabilities(None, None, None, "kvm", 0)
    except libvirt.libvirtError:
        return False
    return True


def _boots_under_kvm(conn: libvirt.virConnect, kernel: Path, timeout: float) -> bool:
    # The probe dir must be reachable by QEMU's own user (libvirt-qemu), and the
    # kernel is copied so libvirt's DAC relabelling never touches /boot.
    tag = f"{PROBE_NAME_PREFIX}{os.getpid()}-"
    work_dir = Path(tempfile.mkdtemp(prefix=tag))
    domain = None
    try:
        work_dir.chmod(0o755)
        kernel_copy = work_dir / "vmlinuz"
        shutil.copyfile(kernel, kernel_copy)
        console = work_dir / "console.log"
        spec = DomainSpec(
            name=tag + secrets.token_hex(4),
            vcpus=1,
            memory_mb=128,
            boot=DirectKernelBoot(kernel=kernel_copy, cmdline=_PROBE_CMDLINE),
            console_path=console,
            domain_type="kvm",
        )
        domain = conn.createXML(domain_xml(spec), 0)  # transient: gone once destroyed
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if _LONG_MODE_MARKER in read_console_tail(console):
                return True
            time.sleep(0.1)
        return False
    except libvirt.libvirtError as exc:
        log.warning("KVM probe domain failed: %s", exc)
        return False
    finally:
        if domain is not None:
            try:
                domain.destroy()
            except libvirt.libvirtError:
                pass
        shutil.rmtree(work_dir, ignore_errors=True)
