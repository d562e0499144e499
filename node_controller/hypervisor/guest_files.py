"""Host files a guest uses must be reachable by QEMU's own user.

With qemu:///system, libvirt runs QEMU as libvirt-qemu and chowns (then
restores) the files it is given - kernel, initrd, disks, console log - but not
their directories. A file under a 0700 directory such as /root therefore
fails at start with a bare "Permission denied"; we check first and say which
directory is the problem. Keep instance dirs and the image cache under e.g.
/var/lib/mallee.
"""
from __future__ import annotations

import stat
from collections.abc import Iterable
from pathlib import Path

from mallee.files import private_dir
from node_controller.hypervisor.domain import DomainSpec
from node_controller.hypervisor.protocol import HypervisorError


def make_guest_dir(path: Path) -> Path:
    """Create (or fix) a directory QEMU can traverse but nobody else can list
    (its files are 0600: libvirt chowns those it hands to QEMU)."""
    path = private_dir(path, 0o711)
    check_reachable([path / "any-file"])  # checks path and every ancestor
    return path


def guest_paths(spec: DomainSpec) -> list[Path]:
    paths = [disk.path for disk in spec.disks if hasattr(disk, "path")]  # iSCSI: no file
    if spec.boot is not None:
        paths += [spec.boot.kernel] + ([spec.boot.initrd] if spec.boot.initrd else [])
    if spec.console_path is not None:
        paths.append(spec.console_path)
    return paths


def check_reachable(paths: Iterable[Path]) -> None:
    """Raise HypervisorError naming the first directory others cannot traverse."""
    for path in paths:
        for directory in Path(path).absolute().parents:
            try:
                mode = directory.stat().st_mode
            except FileNotFoundError:
                continue  # not made yet: its parents decide
            if not mode & stat.S_IXOTH:
                raise HypervisorError(
                    f"{path} is under {directory} (mode {stat.filemode(mode)}), which QEMU's "
                    f"user cannot enter; use a directory such as /var/lib/mallee or chmod o+x it"
                )
