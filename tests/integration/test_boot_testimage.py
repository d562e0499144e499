"""The test image boots under libvirt on qemu:///system (TCG where KVM does
not work), prints its marker, powers off on the ACPI button, and leaves
nothing behind. Run with -s to see the measured boot time."""
from __future__ import annotations

import hashlib
import http.server
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mallee.images.testimage import TEST_IMAGE_CMDLINE, build_test_image
from node_controller.hypervisor import (
    BOOT_MARKER,
    DirectKernelBoot,
    DomainSpec,
    DomainState,
    FileDisk,
    read_console_tail,
)
from node_controller.hypervisor.guest_files import make_guest_dir

pytestmark = pytest.mark.integration
libvirt = pytest.importorskip("libvirt")
from node_controller.hypervisor.libvirt_driver import LibvirtDriver  # noqa: E402

BOOT_TIMEOUT = 60.0
POWEROFF_TIMEOUT = 30.0


@pytest.fixture
def guest_dir() -> Iterator[Path]:
    # pytest's tmp_path is under a 0700 dir that QEMU's user cannot enter
    directory = make_guest_dir(Path(tempfile.mkdtemp(prefix="mallee-test-")))
    yield directory
    shutil.rmtree(directory)


@pytest.fixture
def driver() -> Iterator[LibvirtDriver]:
    try:
        libvirt.open("qemu:///system").close()
    except libvirt.libvirtError as exc:
        pytest.skip(f"libvirtd not reachable: {exc}")
    driver = LibvirtDriver("qemu:///system")  # probes KVM, falls back to TCG
    yield driver
    driver.close()


def wait_until(predicate, timeout: float) -> float | None:
    """Seconds until predicate() held, or None after timeout."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if predicate():
            return time.monotonic() - started
        time.sleep(0.05)
    return None


def test_image_build_is_fast_and_reproducible(guest_dir):
    started = time.monotonic()
    first = build_test_image(guest_dir / "a")
    elapsed = time.monotonic() - started
    second = build_test_image(guest_dir / "b")
    digests = [[hashlib.sha256(path.read_bytes()).hexdigest() for path in image] for image in (first, second)]
    assert digests[0] == digests[1]
    assert elapsed < 10, f"build took {elapsed:.1f} s"


def test_boot_marker_acpi_poweroff_and_cleanup(driver, guest_dir):
    image = build_test_image(guest_dir / "image")
    overlay = guest_dir / "root.qcow2"  # as the NC boots instances: an overlay on the base
    subprocess.run(
        ["qemu-img", "create", "-q", "-f", "qcow2", "-b", str(image.rootfs), "-F", "raw", str(overlay)],
        check=True,
    )
    spec = DomainSpec(
        name="mallee-test-boot",
        vcpus=1,
        memory_mb=256,
        boot=DirectKernelBoot(image.kernel, image.initramfs, TEST_IMAGE_CMDLINE),
        disks=(FileDisk(overlay, "vda", serial="root"),),
        console_path=guest_dir / "console.log",
    )
    driver.destroy(spec.name)  # a leftover from an interrupted run
    driver.undefine(spec.name)
    try:
        driver.define(spec)
        driver.start(spec.name)
        booted = wait_until(lambda: BOOT_MARKER.encode() in read_console_tail(spec.console_path), BOOT_TIMEOUT)
        console = read_console_tail(spec.console_path).decode(errors="replace")
        assert booted is not None, f"no {BOOT_MARKER} within {BOOT_TIMEOUT} s; console:\n{console}"
        assert "root: disk" in console  # switched to the qcow2 root disk
        print(f"\nboot-to-marker {booted:.2f} s (domain type {driver.domain_type})")

        driver.shutdown(spec.name)
        off = wait_until(lambda: driver.domain_state(spec.name) == DomainState.SHUTOFF, POWEROFF_TIMEOUT)
        assert off is not None, "guest ignored the ACPI power button"
        print(f"ACPI shutdown-to-shutoff {off:.2f} s")
        assert "MALLEE-TEST-POWEROFF" in read_console_tail(spec.console_path).decode()
    finally:
        driver.destroy(spec.name)
        driver.undefine(spec.name)
    assert spec.name not in {status.name for status in driver.list_domains()}
    assert not list(guest_dir.glob("*.tmp"))


class _Metadata(http.server.BaseHTTPRequestHandler):
    """A stand-in metadata service on 127.0.0.1; imdsv2=False refuses tokens."""

    imdsv2 = True
    token = "mallee-token"
    paths = {
        "/latest/meta-data/instance-id": b"i-0123456789abcdef0",
        "/latest/user-data": b"hello world\nsecond line\n",
        "/latest/meta-data/public-keys/0/openssh-key": b"ssh-ed25519 AAAAC3Nza k1",
    }

    def do_PUT(self):
        self._reply(200, self.token.encode()) if self.imdsv2 else self._reply(405, b"")

    def do_GET(self):
        if self.imdsv2 and self.headers.get("X-aws-ec2-metadata-token") != self.token:
            return self._reply(401, b"")
        body = self.paths.get(self.path)
        self._reply(200, body) if body is not None else self._reply(404, b"")

    def _reply(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.mark.parametrize("imdsv2", [True, False], ids=["imdsv2", "imdsv1"])
def test_guest_reads_metadata_and_user_data(guest_dir, imdsv2):
    """QEMU directly (libvirt's user networking cannot forward): DHCP from
    QEMU's user network, 169.254.169.254:80 forwarded to a server on
    127.0.0.1, so no traffic leaves the host."""
    image = build_test_image(guest_dir / "image")
    handler = type("Metadata", (_Metadata,), {"imdsv2": imdsv2})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    console = guest_dir / "console.log"
    netdev = (
        "user,id=net0,restrict=on,net=169.254.169.0/24,host=169.254.169.2,"
        f"guestfwd=tcp:169.254.169.254:80-cmd:/bin/busybox nc 127.0.0.1 {server.server_port}"
    )
    qemu = subprocess.Popen(
        ["qemu-system-x86_64", "-accel", "tcg", "-machine", "pc", "-nodefaults", "-display", "none",
         "-m", "256", "-kernel", str(image.kernel), "-initrd", str(image.initramfs),
         "-append", "console=ttyS0 quiet panic=-1", "-serial", f"file:{console}",
         "-netdev", netdev, "-device", "virtio-net-pci,netdev=net0"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        done = wait_until(lambda: b"public-key: installed" in read_console_tail(console), BOOT_TIMEOUT)
        text = read_console_tail(console).decode(errors="replace")
        assert done is not None, f"guest did not report its metadata; console:\n{text}"
        assert "MALLEE-TEST-BOOTED\r\ninstance-id: i-0123456789abcdef0\r\nuser-data: hello world\r\n" in text
    finally:
        qemu.kill()
        qemu.wait()
        server.shutdown()
