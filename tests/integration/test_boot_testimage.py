"""The test image boots under libvirt on qemu:///system (TCG where KVM does
not work), prints its marker, powers off on the ACPI button, and leaves
nothing behind. Run with -s to see the measured boot time."""
from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiohttp import web

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
from node_controller.network.metadata import (HOP_LIMIT, TOKEN_HEADER, Caller, MetadataServer,
                                              create_metadata_app)

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


USER_DATA = b"hello world\nsecond line\n"
GUEST = {"instance_id": "i-0123456789abcdef0", "mac": "52:54:00:12:34:56",  # QEMU's default
         "key_name": "k1", "public_key": "ssh-ed25519 AAAAC3Nza k1",
         "user_data": base64.b64encode(USER_DATA).decode()}


@contextlib.contextmanager
def metadata_service(imdsv2: bool) -> Iterator[tuple[int, list[tuple[str, str, bool]]]]:
    """The NC's own metadata responder (create_metadata_app), served as the NC
    serves it (MetadataServer on a listening socket with the hop limit), but on
    127.0.0.1 and on an event loop in a thread of its own. QEMU forwards the
    guest's connections from 127.0.0.1, so that address resolves to the guest.
    Yields the port and the requests seen: (method, path, carried a token).
    imdsv2=False answers the token PUT 405, as a service without IMDSv2
    (Eucalyptus's own), so the guest must fall back to IMDSv1."""
    guest = Caller(GUEST, "169.254.169.15", None, "169.254.169.0/24", "mallee")
    app = create_metadata_app(lambda ip: guest if ip == "127.0.0.1" else None)
    seen: list[tuple[str, str, bool]] = []

    @web.middleware
    async def observe(request: web.Request, handler):
        seen.append((request.method, request.path, TOKEN_HEADER in request.headers))
        if request.method == "PUT" and not imdsv2:
            return web.Response(status=405)
        return await handler(request)

    app.middlewares.append(observe)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, HOP_LIMIT)
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    sock.setblocking(False)
    server = MetadataServer(app)

    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        asyncio.run_coroutine_threadsafe(server.start(sock), loop).result(10)
        yield sock.getsockname()[1], seen
    finally:
        asyncio.run_coroutine_threadsafe(server.close(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
        sock.close()


@pytest.mark.parametrize("imdsv2", [pytest.param(True, id="imdsv2"),
                                    pytest.param(False, id="imdsv1")])
def test_guest_reads_metadata_and_user_data(guest_dir, imdsv2):
    """QEMU directly (libvirt's user networking cannot forward): DHCP from
    QEMU's user network, 169.254.169.254:80 forwarded to the NC's metadata
    service on 127.0.0.1, so no traffic leaves the host."""
    image = build_test_image(guest_dir / "image")
    with metadata_service(imdsv2) as (port, seen):
        _boot_and_read_metadata(guest_dir, image, port)
    gets = [(path, token) for method, path, token in seen if method == "GET"]
    assert ("PUT", "/latest/api/token", False) in seen
    assert {path for path, _ in gets} >= {"/latest/meta-data/instance-id", "/latest/user-data",
                                          "/latest/meta-data/public-keys/0/openssh-key"}
    assert all(token == imdsv2 for _, token in gets), gets  # v2: every read with its token


def _boot_and_read_metadata(guest_dir: Path, image, port: int) -> None:
    console = guest_dir / "console.log"
    netdev = (
        "user,id=net0,restrict=on,net=169.254.169.0/24,host=169.254.169.2,"
        f"guestfwd=tcp:169.254.169.254:80-cmd:/bin/busybox nc 127.0.0.1 {port}"
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
