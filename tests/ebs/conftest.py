import shutil
import tempfile
from pathlib import Path

import pytest

from tests.harness import free_port, free_tgt_control_port


@pytest.fixture
def tgt_ports():
    """(iSCSI portal port, tgtd control socket) of a tgtd of this test's own."""
    ports = free_port(), free_tgt_control_port()
    yield ports
    from ebs.teardown import stop_tgtd
    stop_tgtd(ports[1])


@pytest.fixture
def libvirt_node():
    """(LibvirtDriver on qemu:///system, a guest directory, the test image)."""
    libvirt = pytest.importorskip("libvirt")
    from mallee.images.testimage import build_test_image
    from node_controller.hypervisor.guest_files import make_guest_dir
    from node_controller.hypervisor.libvirt_driver import LibvirtDriver
    try:
        libvirt.open("qemu:///system").close()
    except libvirt.libvirtError as exc:
        pytest.skip(f"libvirtd not reachable: {exc}")
    directory = make_guest_dir(Path(tempfile.mkdtemp(prefix="mallee-test-ebs-")))
    image = build_test_image(directory / "image")
    driver = LibvirtDriver("qemu:///system", domain_type="qemu")
    yield driver, directory, image
    driver.close()
    shutil.rmtree(directory, ignore_errors=True)
