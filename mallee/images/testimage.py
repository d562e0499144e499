"""`mallee image build-test`: a tiny Linux guest from the host's own kernel and
busybox-static, built in a couple of seconds without root-only tricks.

Outputs, in out_dir:
  vmlinuz         a copy of the host kernel (never the /boot file itself)
  initramfs.gz    newc cpio: busybox, the virtio/ext4/ACPI-button modules, /init
  rootfs.img      ext4 (no journal) made with `mke2fs -d`, holding busybox and
                  the guest program; boot it as /dev/vda with TEST_IMAGE_CMDLINE

The build is reproducible: the same host gives the same bytes, so callers may
key caches on content. Files are replaced by rename, never rewritten in place:
QEMU re-reads kernel and initrd on every reset of a running guest.
"""
from __future__ import annotations

import gzip
import os
import subprocess
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

from mallee.images import cpio
from mallee.images.guest_scripts import GUEST_FILES, STAGE1_INIT
from mallee.images.hostkernel import host_kernel, kernel_version, module_name, modules_in_load_order, read_module
from mallee.images.sshserver import parent_dirs, ssh_server_files

TEST_IMAGE_CMDLINE = "console=ttyS0 root=/dev/vda quiet panic=-1"
BUSYBOX = Path("/bin/busybox")  # busybox-static: no shared libraries to copy
# virtio_pci pulls in virtio_ring, virtio and the legacy/modern helpers;
# virtio_net pulls in failover and net_failover. button+evdev: the ACPI power button
# as an input device; crc32c for ext4's metadata checksums.
GUEST_MODULES = ["virtio_pci", "virtio_net", "virtio_blk", "button", "evdev", "crc32c_generic", "ext4"]
ROOTFS_SIZE = "16M"
_FIXED_TIME = 1700000000  # mtimes and mke2fs clock, for reproducible bytes
_FIXED_UUID = "6d616c6c-6565-4000-8000-746573746973"

_GUEST_DIRS = ["bin", "sbin", "usr", "usr/bin", "usr/sbin", "usr/share", "usr/share/udhcpc",
               "proc", "sys", "dev", "run", "tmp", "etc", "etc/dropbear", "root"]


class TestImage(NamedTuple):
    kernel: Path
    initramfs: Path
    rootfs: Path


def build_test_image(out_dir: Path, kernel: Path | None = None) -> TestImage:
    kernel = kernel or host_kernel()
    if kernel is None:
        raise FileNotFoundError("no /boot/vmlinuz-*: install linux-image-amd64")
    if not BUSYBOX.is_file():
        raise FileNotFoundError(f"no {BUSYBOX}: install busybox-static")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    image = TestImage(out_dir / "vmlinuz", out_dir / "initramfs.gz", out_dir / "rootfs.img")
    _replace(image.kernel, kernel.read_bytes())
    _replace(image.initramfs, _initramfs(kernel_version(kernel)))
    _replace(image.rootfs, _rootfs())
    return image


def _initramfs(version: str) -> bytes:
    modules = modules_in_load_order(version, GUEST_MODULES)
    ssh = ssh_server_files()
    dirs = [*_GUEST_DIRS, "newroot", "lib", "lib/modules", "etc/mallee"]
    dirs += [d for d in parent_dirs([path for path, _, _ in ssh]) if d not in dirs]
    entries = [cpio.directory(d) for d in dirs]
    entries += [cpio.regular(path, data, mode) for path, data, mode in ssh]
    entries += [
        cpio.char_device("dev/console", 5, 1),  # the kernel opens it for /init's stdio
        cpio.regular("bin/busybox", BUSYBOX.read_bytes(), 0o755),
        cpio.regular("init", STAGE1_INIT.encode(), 0o755),
        *(cpio.regular(path, text.encode(), mode) for path, text, mode in GUEST_FILES),
        cpio.regular("etc/mallee/modules", "".join(f"{module_name(m)}\n" for m in modules).encode()),
    ]
    entries += [cpio.regular(f"lib/modules/{module_name(m)}.ko", read_module(m)) for m in modules]
    return gzip.compress(cpio.newc_archive(entries), compresslevel=6, mtime=0)


def _rootfs() -> bytes:
    with tempfile.TemporaryDirectory(prefix="mallee-rootfs-") as tmp:
        tree = Path(tmp) / "tree"
        for directory in _GUEST_DIRS:
            (tree / directory).mkdir(parents=True)
        _write(tree / "bin/busybox", BUSYBOX.read_bytes(), 0o755)
        for path, text, mode in GUEST_FILES:
            _write(tree / path, text.encode(), mode)
        _write(tree / "etc/mallee-release", b"mallee-test root disk\n", 0o644)
        for path, data, mode in ssh_server_files():
            (tree / path).parent.mkdir(parents=True, exist_ok=True)
            _write(tree / path, data, mode)
        paths = [tree, *sorted(tree.rglob("*"))]
        for path in paths:
            os.utime(path, (_FIXED_TIME, _FIXED_TIME), follow_symlinks=False)
        image = Path(tmp) / "rootfs.img"
        env = {**os.environ, "E2FSPROGS_FAKE_TIME": str(_FIXED_TIME)}
        subprocess.run(
            ["mke2fs", "-q", "-t", "ext4", "-O", "^has_journal", "-L", "mallee-root",
             "-U", _FIXED_UUID, "-E", f"hash_seed={_FIXED_UUID},root_owner=0:0",
             "-d", str(tree), str(image), ROOTFS_SIZE],
            check=True, capture_output=True, env=env,
        )
        # mke2fs -d copies each source file's ctime, which utime cannot set
        stamp = time.strftime("%Y%m%d%H%M%S", time.gmtime(_FIXED_TIME))
        inodes = ["/", *(f"/{p.relative_to(tree).as_posix()}" for p in paths[1:])]
        commands = "".join(f"sif {inode} ctime {stamp}\n" for inode in inodes)
        subprocess.run(["debugfs", "-w", "-f", "-", str(image)], input=commands.encode(),
                       check=True, capture_output=True, env=env)
        return image.read_bytes()


def _write(path: Path, data: bytes, mode: int) -> None:
    path.write_bytes(data)
    path.chmod(mode)


def _replace(path: Path, data: bytes) -> None:
    """Write to a new inode and rename over: a guest using the old file keeps it."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    tmp.chmod(0o644)  # QEMU runs as libvirt-qemu and must read it
    os.replace(tmp, path)
