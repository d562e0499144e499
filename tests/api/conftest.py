import importlib.util

import pytest

from tests.harness import MODULES, Cloud


def available_components():
    # Walrus joins the EC2 cloud once its app module exists.
    return tuple(c for c, m in MODULES.items()
                 if importlib.util.find_spec(m) is not None
                 and hasattr(importlib.import_module(m), "sites"))


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
    from mallee.images.publish import Signer, publish_test_image
    signer = Signer.from_env(cloud.cli_env())
    return publish_test_image(ec2, cloud.client("s3"), signer, tmp_path_factory.mktemp("img"))
