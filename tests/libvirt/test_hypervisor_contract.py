"""One contract for every Hypervisor: FakeDriver, LibvirtDriver on libvirt's
in-process test:///default, and (marked integration) LibvirtDriver on
qemu:///system booting the real test image under QEMU.

Domains are named mallee-test-*, live in their own scratch dir, and are
destroyed and undefined afterwards whatever the outcome.
"""
from __future__ import annotations

import dataclasses
import secrets
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from mallee.images.testimage import build_test_image
from node_controller.hypervisor import (
    BOOT_MARKER,
    DirectKernelBoot,
    DomainExists,
    DomainNotFound,
    DomainSpec,
    DomainState,
    FakeDriver,
    Hypervisor,
    InvalidDomainState,
    read_console_tail,
)
from node_controller.hypervisor.guest_files import make_guest_dir

libvirt = pytest.importorskip("libvirt")
from node_controller.hypervisor.libvirt_driver import LibvirtDriver  # noqa: E402


INITRAMFS_CMDLINE = "console=ttyS0 quiet panic=-1"


@dataclass(frozen=True)
class Target:
    make: Callable[[], Hypervisor]
    boots_guest: bool  # a started domain prints the boot marker on its console
    timeout: float  # bound for a guest to boot or power off


def _system_libvirt() -> Hypervisor:
    try:
        libvirt.open("qemu:///system").close()
    except libvirt.libvirtError as exc:
        pytest.skip(f"libvirtd not reachable: {exc}")
    return LibvirtDriver("qemu:///system", domain_type="qemu")  # the KVM probe is tested by the boot test


TARGETS = [
    pytest.param(Target(FakeDriver, boots_guest=True, timeout=5), id="fake"),
    pytest.param(Target(lambda: LibvirtDriver("test:///default"), boots_guest=False, timeout=5), id="libvirt-test"),
    pytest.param(Target(_system_libvirt, boots_guest=True, timeout=90), id="libvirt-qemu", marks=pytest.mark.integration),
]


@pytest.fixture(scope="module", params=TARGETS)
def target(request) -> Target:
    return request.param


@pytest.fixture(scope="module")
def driver(target) -> Hypervisor:
    return target.make()


@pytest.fixture(scope="module")
def guest_dir() -> Iterator[Path]:
    directory = make_guest_dir(Path(tempfile.mkdtemp(prefix="mallee-test-")))
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="module")
def image(guest_dir):
    return build_test_image(guest_dir / "image")


@pytest.fixture
def make_spec(driver, guest_dir, image) -> Iterator[Callable[..., DomainSpec]]:
    created: list[str] = []

    def make(**overrides) -> DomainSpec:
        name = f"mallee-test-{secrets.token_hex(4)}"
        created.append(name)
        values = dict(
            name=name,
            vcpus=1,
            memory_mb=192,
            # no root disk: the image runs from its initramfs (the boot test covers the disk)
            boot=DirectKernelBoot(image.kernel, image.initramfs, INITRAMFS_CMDLINE),
            console_path=guest_dir / f"{name}.log",
        )
        return DomainSpec(**(values | overrides))

    yield make
    for name in created:
        driver.destroy(name)
        driver.undefine(name)


def wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.1)


def markers(spec: DomainSpec) -> int:
    return read_console_tail(spec.console_path).count(BOOT_MARKER.encode())


def wait_booted(target: Target, spec: DomainSpec, count: int = 1) -> None:
    if target.boots_guest:
        wait_for(lambda: markers(spec) >= count, target.timeout, f"boot marker #{count} of {spec.name}")


def names(driver: Hypervisor) -> set[str]:
    return {status.name for status in driver.list_domains()}


def test_satisfies_protocol(driver):
    assert isinstance(driver, Hypervisor)


def test_host_info(driver):
    info = driver.host_info()
    assert info.cores > 0 and info.memory_mb > 0
    assert info.hypervisor in {"kvm", "qemu", "fake", "test"}


def test_defined_domain_is_listed_shut_off(driver, make_spec):
    spec = make_spec(vcpus=2, memory_mb=256)
    driver.define(spec)
    [status] = [s for s in driver.list_domains() if s.name == spec.name]
    assert status.state == DomainState.SHUTOFF
    assert (status.uuid, status.vcpus, status.memory_mb, status.persistent) == (spec.uuid, 2, 256, True)
    assert driver.domain_state(spec.name) == DomainState.SHUTOFF


def test_redefining_same_uuid_updates_other_uuid_clashes(driver, make_spec):
    spec = make_spec()
    driver.define(spec)
    driver.define(DomainSpec(**(spec.__dict__ | {"memory_mb": 256})))
    assert [s.memory_mb for s in driver.list_domains() if s.name == spec.name] == [256]
    with pytest.raises(DomainExists):
        driver.define(DomainSpec(**(spec.__dict__ | {"uuid": "5f0c3a4e-0000-4000-8000-000000000001"})))


def test_start_is_idempotent_and_boots(driver, target, make_spec):
    spec = make_spec()
    driver.define(spec)
    driver.start(spec.name)
    driver.start(spec.name)
    assert driver.domain_state(spec.name) == DomainState.RUNNING
    wait_booted(target, spec)


def test_start_paused_then_resume(driver, target, make_spec):
    spec = make_spec()
    driver.define(spec)
    driver.start(spec.name, paused=True)
    assert driver.domain_state(spec.name) == DomainState.PAUSED
    driver.start(spec.name)  # already started: nothing to do, stays paused
    assert driver.domain_state(spec.name) == DomainState.PAUSED
    driver.resume(spec.name)
    driver.resume(spec.name)
    assert driver.domain_state(spec.name) == DomainState.RUNNING
    wait_booted(target, spec)


def test_acpi_shutdown_powers_off(driver, target, make_spec):
    spec = make_spec()
    driver.define(spec)
    driver.start(spec.name)
    wait_booted(target, spec)  # a guest only handles the button once booted
    driver.shutdown(spec.name)
    wait_for(lambda: driver.domain_state(spec.name) == DomainState.SHUTOFF, target.timeout, "ACPI power off")
    driver.shutdown(spec.name)  # already off: nothing to do
    assert spec.name in names(driver)


def test_destroy_is_idempotent(driver, make_spec):
    spec = make_spec()
    driver.define(spec)
    driver.start(spec.name)
    driver.destroy(spec.name)
    assert driver.domain_state(spec.name) == DomainState.SHUTOFF
    driver.destroy(spec.name)
    driver.destroy("mallee-test-missing")


def test_undefine_removes_and_is_idempotent(driver, make_spec):
    spec = make_spec()
    driver.define(spec)
    driver.undefine(spec.name)
    assert spec.name not in names(driver)
    driver.undefine(spec.name)
    with pytest.raises(DomainNotFound):
        driver.domain_state(spec.name)


def test_undefined_running_domain_lingers_until_it_stops(driver, make_spec):
    spec = make_spec()
    driver.define(spec)
    driver.start(spec.name)
    driver.undefine(spec.name)
    [status] = [s for s in driver.list_domains() if s.name == spec.name]
    assert status.state == DomainState.RUNNING and not status.persistent
    driver.undefine(spec.name)
    driver.destroy(spec.name)
    assert spec.name not in names(driver)


def test_reboot(driver, target, make_spec):
    spec = make_spec()
    driver.define(spec)
    with pytest.raises(InvalidDomainState):
        driver.reboot(spec.name)
    driver.start(spec.name)
    wait_booted(target, spec)
    driver.reboot(spec.name)
    wait_booted(target, spec, count=2)
    driver.reboot(spec.name, hard=True)
    wait_booted(target, spec, count=3)
    assert driver.domain_state(spec.name) == DomainState.RUNNING


def test_missing_domain(driver):
    for call in (driver.start, driver.resume, driver.reboot, driver.domain_state):
        with pytest.raises(DomainNotFound):
            call("mallee-test-missing")


def test_resume_needs_a_paused_domain(driver, make_spec):
    spec = make_spec()
    driver.define(spec)
    with pytest.raises(InvalidDomainState):
        driver.resume(spec.name)


def test_racing_starts_and_destroys_all_succeed(driver, make_spec):
    spec = make_spec()
    driver.define(spec)
    errors: list[BaseException] = []

    def run(call: Callable[[str], None]) -> None:
        threads = [threading.Thread(target=lambda: _record(errors, call, spec.name)) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    run(driver.start)
    assert driver.domain_state(spec.name) == DomainState.RUNNING
    run(driver.destroy)
    assert driver.domain_state(spec.name) == DomainState.SHUTOFF
    assert errors == []


def _record(errors: list[BaseException], call: Callable[[str], None], name: str) -> None:
    try:
        call(name)
    except BaseException as exc:  # noqa: BLE001 - reported by the test
        errors.append(exc)


def test_fake_driver_handles_a_thousand_domains(tmp_path):
    driver = FakeDriver()
    started = time.monotonic()
    for n in range(1000):
        spec = DomainSpec(name=f"i-{n:017x}", vcpus=1, memory_mb=256, console_path=tmp_path / f"{n}.log")
        driver.define(spec)
        driver.start(spec.name)
    statuses = driver.list_domains()
    elapsed = time.monotonic() - started
    assert len(statuses) == 1000 and {s.state for s in statuses} == {DomainState.RUNNING}
    assert read_console_tail(tmp_path / "999.log").startswith(BOOT_MARKER.encode())
    assert elapsed < 5, f"1,000 define+start+list took {elapsed:.2f} s"


def _volume(serial: str = "vol-0123456789abcdef0") -> "IscsiDisk":
    from node_controller.hypervisor import IscsiDisk
    return IscsiDisk(host="127.0.0.1", port=3260, iqn=f"iqn.2026-12.org.mallee:{serial}",
                     lun=1, initiator="iqn.2026-12.org.mallee:node.t", chap_user=f"{serial}-u",
                     secret_usage=f"mallee-test-{serial}", serial=serial, target_dev="vdb")


def test_volume_attach_and_detach_are_idempotent(driver, target, make_spec):
    """A volume (iSCSI disk) goes into a domain and out again, twice over without
    change; its CHAP secret goes with it. The real iSCSI path (a guest using the
    disk) is tests/ebs/test_volume_attach.py's, with a tgtd of its own."""
    if not isinstance(driver, FakeDriver):
        # test:///default has no secrets; QEMU would log in to the target.
        pytest.skip("libvirt's own path: tests/ebs/test_volume_attach.py, with a tgtd")
    spec = make_spec()
    driver.define(spec)
    disk = _volume()
    driver.attach_disk(spec.name, disk, "chap-password-1")
    driver.attach_disk(spec.name, disk, "chap-password-1")
    assert disk.serial in driver.disks(spec.name)
    driver.detach_disk(spec.name, disk.serial)
    assert disk.serial not in driver.disks(spec.name)
    driver.detach_disk(spec.name, disk.serial)  # not there: nothing to do
    driver.detach_disk("mallee-test-missing", disk.serial)  # no domain: nothing to do
    assert disk.secret_usage not in driver.secrets


def test_a_domain_defined_with_a_volume_takes_its_secret_along(driver, make_spec):
    """An EBS root (or a volume a start brings) is in the definition from the start:
    its secret is put first, and undefining the domain removes it; dropping a
    secret that is not there is fine. Libvirt's own path is
    tests/ebs/test_ebs_root_boot.py's, with a tgtd and QEMU."""
    if not isinstance(driver, FakeDriver):
        pytest.skip("libvirt's own path: tests/ebs/test_ebs_root_boot.py, with a tgtd")
    disk = _volume("vol-0fedcba987654321f")
    driver.put_secret(disk.secret_usage, "chap-password-2")
    spec = replace(make_spec(), disks=(disk,))
    driver.define(spec)
    assert driver.disks(spec.name) == {disk.serial: "vdb"}
    driver.undefine(spec.name)
    assert disk.secret_usage not in driver.secrets
    driver.drop_secret(disk.secret_usage)


def test_guest_counters_of_running_domains_only(driver, target, make_spec):
    """The CloudWatch sampler's one call (node_controller/guest_metrics.py): counters
    of the named domains that run, none for stopped or missing ones."""
    spec = make_spec()
    driver.define(spec)
    assert driver.guest_counters([spec.name, "mallee-test-missing"]) == {}
    driver.start(spec.name)
    wait_booted(target, spec)
    counters = driver.guest_counters([spec.name, "mallee-test-missing"])
    assert set(counters) == {spec.name}
    values = dataclasses.asdict(counters[spec.name])
    assert all(isinstance(v, int) and v >= 0 for v in values.values()), values
    driver.destroy(spec.name)
    assert driver.guest_counters([spec.name]) == {}
