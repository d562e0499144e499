"""`mallee admin` goes through the CLC's admin RPC (mutual TLS, admin role), as
it would from any host of a multi-host cloud; a new key works at once in S3."""
import boto3
import pytest
from botocore.config import Config

from cloud_controller.client import AdminClient
from mallee import errors
from mallee.rpc import client_ssl_context


def _env_of(path) -> dict:
    values = {}
    for line in path.read_text().splitlines():
        if line.startswith("export "):
            key, _, value = line[len("export "):].partition("=")
            values[key] = value.strip("'")
    return values


@pytest.fixture(scope="module")
def slow_polling_cloud(tmp_path_factory):
    """A cloud whose CLC polls Walrus only every 10 minutes: a new key must reach
    Walrus because it changed, not because a poll came round."""
    from tests.harness import Cloud
    c = Cloud(tmp_path_factory.mktemp("slow"), components=("walrus", "clc"),
              env={"MALLEE_CLC_POLL_SECONDS": "600"}).start()
    yield c
    c.stop()


def test_account_create_then_s3_at_once_with_the_new_key(slow_polling_cloud):
    cloud = slow_polling_cloud
    made = cloud.mallee("admin", "account-create", "xavier")
    assert made.returncode == 0, made.stderr
    eucarc = cloud.home / "credentials" / "xavier" / "admin" / "eucarc"
    assert str(eucarc) in made.stdout
    env = _env_of(eucarc)
    s3 = boto3.client("s3", endpoint_url=env["AWS_ENDPOINT_URL_S3"],
                      region_name=env["AWS_DEFAULT_REGION"],
                      aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
                      aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
                      config=Config(retries={"max_attempts": 1}))
    assert s3.list_buckets()["Buckets"] == []  # the first try, no InvalidAccessKeyId
    listed = cloud.mallee("admin", "--output", "json", "account-list")
    assert listed.returncode == 0 and '"xavier"' in listed.stdout


def test_key_lifecycle_through_the_command(cloud):
    assert cloud.mallee("admin", "account-create", "yvonne").returncode == 0
    made = cloud.mallee("admin", "key-create", "yvonne")
    assert made.returncode == 0, made.stderr
    key_id = made.stdout.split()[0]
    assert key_id in cloud.mallee("admin", "key-list", "--account", "yvonne").stdout
    assert cloud.mallee("admin", "key-disable", key_id).returncode == 0
    assert "Inactive" in cloud.mallee("admin", "key-list", "--account", "yvonne").stdout
    assert cloud.mallee("admin", "key-delete", key_id).returncode == 0
    gone = cloud.mallee("admin", "key-delete", key_id)
    assert gone.returncode == 1 and f"No access key {key_id}" in gone.stderr
    again = cloud.mallee("admin", "account-create", "yvonne")
    assert again.returncode == 1 and "already exists" in again.stderr


@pytest.mark.parametrize("role", ["nc", "cc", "walrus"])
def test_only_the_admin_certificate_may_administer_accounts(cloud, role):
    async def attempt():
        client = AdminClient("127.0.0.1", cloud.settings.clc.rpc_port,
                             client_ssl_context(cloud.settings.pki_dir, role))
        try:
            await client.account_create(f"by-{role}")
        finally:
            await client.close()
    with pytest.raises(errors.UnauthorizedOperation):
        cloud.run(attempt())


def test_a_missing_rpc_parameter_is_a_clear_error(cloud):
    with pytest.raises(errors.MissingParameter):
        cloud.run(cloud.admin_client.call("account_create"))
