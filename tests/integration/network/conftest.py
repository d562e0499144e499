from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from node_controller.network import DataPlane, NetworkConfig
from tests.integration.network.netutil import sh, unique

SUBNET = "10.77.0.0/16"
GATEWAY = "10.77.0.1"
PUBLIC_GATEWAY = "192.0.2.1"     # the outside world's own address
UPLINK_ADDRESS = "192.0.2.2/24"  # the node namespace's uplink


def pytest_collection_modifyitems(items):
    # A conftest hook sees every collected item: mark only this directory's.
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.path).parents:
            item.add_marker(pytest.mark.integration)


@pytest.fixture(autouse=True)
def _root_only():
    if os.geteuid() != 0 or not shutil.which("ip"):
        pytest.skip("network namespaces need root and iproute2")


@pytest.fixture
def public_ns():
    """The outside world: a namespace with a bridge the node's uplink joins."""
    name = unique("mtpub-")
    sh("ip", "netns", "add", name)
    sh("ip", "-n", name, "link", "add", "pub0", "type", "bridge")
    sh("ip", "-n", name, "addr", "add", f"{PUBLIC_GATEWAY}/24", "dev", "pub0")
    sh("ip", "-n", name, "link", "set", "pub0", "up")
    sh("ip", "-n", name, "link", "set", "lo", "up")
    yield name
    sh("ip", "netns", "delete", name, check=False)


@pytest.fixture
def state_dir():
    directory = Path(tempfile.mkdtemp(prefix="mallee-net-"))
    directory.chmod(0o755)
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def config(public_ns) -> NetworkConfig:
    return NetworkConfig(node=unique("t"), subnet=SUBNET, uplink_netns=public_ns,
                         uplink_bridge="pub0", uplink_address=UPLINK_ADDRESS,
                         uplink_gateway="", dns_domain="mallee.internal")


@pytest.fixture
def plane(config, state_dir):
    plane = DataPlane(config, state_dir / "network")
    plane.ensure()
    yield plane
    plane.teardown()


@pytest.fixture
def guests():
    made = []
    yield made
    for guest in made:
        guest.delete()
