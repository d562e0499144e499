"""Does KVM really run guests here? Asked once per driver.

/dev/kvm and libvirt's domain capabilities can say yes on a host whose nested
KVM hangs every guest: the kernel's real-mode setup prints, then the switch to
long mode never returns. So the probe boots the host's own kernel under KVM,
through the same libvirt connection the guests will use, and waits a bounded
time for the first line the kernel prints in long mode ("Linux version").
Anything else - no kernel to boot, an error, silence - means TCG ('qemu').
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
    if not _kvm_advertised(conn):
        return "qemu"
    kernel = host_kernel()
    if kernel is None:
        log.warning("no /boot/vmlinuz-* to probe KVM with; using TCG")
        return "qemu"
    works = _boots_under_kvm(conn, kernel, timeout)
    log.info("KVM probe: %s", "guests run" if works else "guests hang or fail; using TCG")
    return "kvm" if works else "qemu"


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
    work_dir = Path(tempfile.mkdtemp(prefix=PROBE_NAME_PREFIX))
    domain = None
    try:
        work_dir.chmod(0o755)
        kernel_copy = work_dir / "vmlinuz"
        shutil.copyfile(kernel, kernel_copy)
        console = work_dir / "console.log"
        spec = DomainSpec(
            name=PROBE_NAME_PREFIX + secrets.token_hex(4),
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
