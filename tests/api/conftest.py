import pytest

from tests.harness import Cloud, available_components


@pytest.fixture(scope="session")
def cloud(tmp_path_factory):
    c = Cloud(tmp_path_factory.mktemp("cloud"), available_components()).start()
    yield c
    c.stop()


@pytest.fixture(scope="session")
def ec2(cloud):
    return cloud.client("ec2")


@pytest.fixture(scope="session")
def alice(cloud):
    return cloud.new_account("alice")


@pytest.fixture(scope="session")
def alice_ec2(cloud, alice):
    return cloud.client("ec2", alice)


@pytest.fixture(scope="session")
def published(cloud, ec2, tmp_path_factory):
    """The test image, bundled, uploaded and registered as `make up` does."""
    return cloud.publish_test_image(tmp_path_factory.mktemp("img"))
