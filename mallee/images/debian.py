"""`mallee image build-debian`: a small Debian bookworm cloud image with
cloud-init (Ec2 datasource), made with debootstrap and `mke2fs -d`.

Outputs, in a directory named after the recipe's hash under out_dir:
  vmlinuz         the guest kernel, from the image's own /boot
  initrd.img      its initramfs-tools initrd (MODULES=most: virtio_blk, ext4)
  rootfs.img      sparse ext4 root disk, boot it as /dev/vda

The recipe (suite, packages, files written into the tree) is hashed; a second
build with the same recipe returns the cached files at once. Needs root
(debootstrap, chroot) and a Debian mirror; no loop mounts.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

SUITE = "bookworm"
DEFAULT_MIRROR = "http://deb.debian.org/debian"
# `debootstrap --include=cloud-init` cannot resolve python3-cryptography's
# virtual dependencies, so the packages go in with apt inside the chroot.
PACKAGES = ("systemd-sysv", "udev", "dbus", "netbase", "ifupdown", "isc-dhcp-client",
            "openssh-server", "cloud-init", "linux-image-amd64")
ROOTFS_SIZE = "1536M"  # sparse; the tree takes ~0.75 GB, the rest is room for the user

# cloud-init: only the Ec2 datasource, pointed at the node's metadata service.
# strict_id false: DMI says QEMU, not Amazon, and the Ec2 datasource must still
# accept the metadata. Root logs in with the key pair (as in the test image);
# no default user. The network is ifupdown's eth0 DHCP below, not cloud-init's.
# C.UTF-8 is built into libc: Debian's locale-gen ignores cloud-init's request
# for en_US.UTF-8, and the failed cc_locale would end in `status: error`.
CLOUD_CFG = """\
datasource_list: [Ec2, None]
datasource:
  Ec2:
    metadata_urls: ["http://169.254.169.254"]
    strict_id: false
    max_wait: 120
    timeout: 10
disable_root: false
users: []
ssh_pwauth: false
locale: C.UTF-8
network: {config: disabled}
"""
# A fixed name for the one virtio NIC, whatever PCI slot it lands in.
INTERFACES = """\
source /etc/network/interfaces.d/*

auto lo
iface lo inet loopback

allow-hotplug eth0
iface eth0 inet dhcp
"""
FSTAB = "/dev/vda / ext4 rw,errors=remount-ro 0 1\n"
# Docs, man pages and translations are most of a minbase tree's size and no
# use on a cloud guest.
DPKG_NODOC = "".join(f"path-exclude /usr/share/{d}/*\n" for d in ("doc", "man", "info", "locale"))

FILES = {
    "etc/cloud/cloud.cfg.d/90-mallee.cfg": CLOUD_CFG,
    "etc/network/interfaces": INTERFACES,
    "etc/fstab": FSTAB,
    "etc/hostname": "debian\n",
    "etc/dpkg/dpkg.cfg.d/01-mallee-nodoc": DPKG_NODOC,
}
# Predictable interface names off: the NIC is eth0 (systemd.link(5) masking).
SYMLINKS = {"etc/systemd/network/99-default.link": "/dev/null"}
RECIPE_VERSION = 1  # bump when the steps below change in a way the hash cannot see


class DebianImage(NamedTuple):
    kernel: Path
    initrd: Path
    rootfs: Path


def recipe_key() -> str:
    recipe = {"v": RECIPE_VERSION, "suite": SUITE, "packages": PACKAGES, "files": FILES,
              "symlinks": SYMLINKS, "size": ROOTFS_SIZE}
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:16]


def build_debian_image(out_dir: Path, mirror: str | None = None, log=print) -> DebianImage:
    """Build (or find in out_dir) the image for the current recipe."""
    final = Path(out_dir) / f"debian-{SUITE}-{recipe_key()}"
    image = DebianImage(final / "vmlinuz", final / "initrd.img", final / "rootfs.img")
    if all(p.is_file() for p in image):
        return image
    mirror = mirror or host_mirror()
    final.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".build-", dir=final.parent))
    try:
        tree = work / "tree"
        started = time.monotonic()
        log(f"debootstrap {SUITE} from {mirror} ...")
        _run(["debootstrap", "--variant=minbase", SUITE, str(tree), mirror])
        _write_files(tree)
        log(f"installing {' '.join(PACKAGES)} ...")
        _install_packages(tree)
        _make_generic(tree)
        log(f"tree ready in {time.monotonic() - started:.0f} s")
        out = work / "out"
        out.mkdir()
        _copy_boot_files(tree, out)
        _run(["mke2fs", "-q", "-t", "ext4", "-L", "debian-root", "-E", "root_owner=0:0",
              "-d", str(tree), str(out / "rootfs.img"), ROOTFS_SIZE])
        for path in out.iterdir():
            path.chmod(0o644)  # QEMU runs as libvirt-qemu and must read them
        os.replace(out, final)  # whole directory at once: never a half-built cache entry
    finally:
        shutil.rmtree(work, ignore_errors=True)
    log(f"built {final} in {time.monotonic() - started:.0f} s")
    return image


def host_mirror(etc: Path = Path("/etc/apt")) -> str:
    """The host's Debian mirror: the first `deb` URI of a non-security suite in
    sources.list or a deb822 *.sources file; deb.debian.org when there is none."""
    one_line = re.compile(r"^\s*deb\s+(?:\[[^]]*\]\s+)?(\S+)\s+(\S+)", re.M)
    sources = etc / "sources.list"
    if sources.is_file():
        for uri, suite in one_line.findall(sources.read_text()):
            if "security" not in suite and uri.startswith("http"):
                return uri
    for path in sorted((etc / "sources.list.d").glob("*.sources")):
        for stanza in re.split(r"\n\s*\n", path.read_text()):
            fields = dict(re.findall(r"^([\w-]+):\s*(.*)$", stanza, re.M))
            uris, suites = fields.get("URIs", "").split(), fields.get("Suites", "").split()
            if ("deb" in fields.get("Types", "").split() and uris and uris[0].startswith("http")
                    and SUITE in suites):
                return uris[0]
    return DEFAULT_MIRROR


def _write_files(tree: Path) -> None:
    for rel, text in FILES.items():
        path = tree / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    for rel, target in SYMLINKS.items():
        path = tree / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.unlink(missing_ok=True)
        path.symlink_to(target)
    # Package scripts must not start sshd & co. on the host from the chroot.
    policy = tree / "usr/sbin/policy-rc.d"
    policy.write_text("#!/bin/sh\nexit 101\n")
    policy.chmod(0o755)


def _install_packages(tree: Path) -> None:
    # A private mount namespace: /proc (update-initramfs wants it) disappears
    # with the process, even when the build is killed.
    script = ("mount -t proc proc /proc && apt-get update -q && "
              "apt-get install -y -q --no-install-recommends " + " ".join(PACKAGES) +
              " && apt-get clean")
    _run(["unshare", "--mount", "--propagation", "private", "chroot", str(tree),
          "sh", "-c", script], env={**os.environ, "DEBIAN_FRONTEND": "noninteractive",
                                   "LC_ALL": "C.UTF-8", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"})


def _make_generic(tree: Path) -> None:
    """Drop what belongs to this build, not to an instance: host keys (cloud-init
    makes new ones), the machine id, apt lists, the build host's resolv.conf."""
    (tree / "usr/sbin/policy-rc.d").unlink()
    for key in (tree / "etc/ssh").glob("ssh_host_*"):
        key.unlink()
    (tree / "etc/machine-id").write_text("")  # systemd makes one at first boot
    (tree / "var/lib/dbus/machine-id").unlink(missing_ok=True)
    shutil.rmtree(tree / "var/lib/apt/lists", ignore_errors=True)
    (tree / "var/lib/apt/lists/partial").mkdir(parents=True)
    (tree / "etc/resolv.conf").unlink(missing_ok=True)
    for log_file in (tree / "var/log").rglob("*"):
        if log_file.is_file():
            log_file.write_bytes(b"")


def _copy_boot_files(tree: Path, out: Path) -> None:
    kernels = sorted((tree / "boot").glob("vmlinuz-*"))
    if not kernels:
        raise RuntimeError(f"no kernel in {tree}/boot: linux-image-amd64 did not install")
    version = kernels[-1].name.removeprefix("vmlinuz-")
    initrd = tree / "boot" / f"initrd.img-{version}"
    if not initrd.is_file():
        raise RuntimeError(f"no {initrd}: update-initramfs did not run")
    shutil.copyfile(kernels[-1], out / "vmlinuz")
    shutil.copyfile(initrd, out / "initrd.img")


def _run(argv: list[str], env: dict | None = None) -> None:
    done = subprocess.run(argv, capture_output=True, text=True, env=env)
    if done.returncode:
        tail = (done.stdout + done.stderr).strip().splitlines()[-15:]
        raise RuntimeError(f"{argv[0]} failed ({done.returncode}):\n" + "\n".join(tail))
