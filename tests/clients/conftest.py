"""Fixtures of the client suite: a whole cloud in one process (tests/harness.py,
FakeDriver, free loopback ports), the test image published in it, and a tenant
of its own, so the real tools drive it as a new user's account would."""
import pytest

from tests.harness import Cloud, available_components


@pytest.fixture(scope="session")
def clients_cloud(tmp_path_factory):
    cloud = Cloud(tmp_path_factory.mktemp("clients-cloud"), available_components()).start()
    yield cloud
    cloud.stop()


@pytest.fixture(scope="session")
def clients_image(clients_cloud, tmp_path_factory):
    """The test image, public, registered by the cloud admin as `make up` does."""
    return clients_cloud.publish_test_image(tmp_path_factory.mktemp("clients-img"))
