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


@pytest.fixture(scope="module")
def vpc_env():
    """Settings a module's vpc-mode cloud adds to the ones below (override it there)."""
    return {}


@pytest.fixture(scope="module")
def vcloud(tmp_path_factory, request, vpc_env):
    """A vpc-mode cloud of the module's own: FakeDriver nodes, real ovsdb-servers and
    ovn-northd, a reconcile pass every 0.3 s."""
    from mallee.ovn_central import missing_binaries
    if missing_binaries():
        pytest.skip(f"OVN not installed: {missing_binaries()} (scripts/host-deps.sh)")
    name = request.module.__name__.rpartition(".")[2]
    c = Cloud(tmp_path_factory.mktemp(name), available_components(),
              env={"MALLEE_NETWORK_MODE": "vpc", "MALLEE_NETWORK_OVN_RECONCILE_SECONDS": "0.3",
                   **vpc_env}).start()
    yield c
    c.stop()


@pytest.fixture(scope="module")
def vec2(vcloud):
    return vcloud.client("ec2")


@pytest.fixture(scope="module")
def vimage(vcloud, tmp_path_factory):
    """The test image, registered in the module's vpc-mode cloud."""
    return vcloud.publish_test_image(tmp_path_factory.mktemp("img"))["image"]
