"""A tenant's bundling certificate, as the eucarc hands it out, is no RPC peer.

The tenant holds the certificate and its private key (EC2_CERT,
EC2_PRIVATE_KEY): it must reach no RPC method of any tier, and serving with
it must not make the CLC's Walrus client push it every secret key.
"""
import ssl

import pytest
from aiohttp import web

from cloud_controller.client import AdminClient
from cluster_controller.client import ClusterClient
from ebs.client import StorageClient
from mallee import rpc
from mallee.service import Site, start_sites, stop_sites
from node_controller.client import NodeClient
from tests.harness import free_port
from walrus.rpc_client import WalrusClient


@pytest.fixture(scope="module")
def tenant_cert(cloud, alice):
    env = cloud.cli_env(alice)
    return env["EC2_CERT"], env["EC2_PRIVATE_KEY"]


def _ports(settings):
    return {AdminClient: settings.clc.rpc_port, ClusterClient: settings.cc.port,
            NodeClient: settings.nc.port, WalrusClient: settings.walrus.rpc_port,
            StorageClient: settings.sc.port}


@pytest.mark.parametrize("client_class", [AdminClient, ClusterClient, NodeClient,
                                          WalrusClient, StorageClient])
def test_a_tenant_certificate_reaches_no_rpc_method(cloud, tenant_cert, client_class):
    tls = ssl.create_default_context(cafile=str(cloud.settings.pki_dir / "ca.pem"))
    tls.load_cert_chain(*tenant_cert)
    tls.check_hostname = False  # a tenant does not care who answers

    async def attempt():
        client = client_class("127.0.0.1", _ports(cloud.settings)[client_class], tls)
        try:
            return await client.health()
        finally:
            await client.close()
    with pytest.raises(rpc.Unreachable):  # refused at the handshake
        cloud.run(attempt())


def test_a_tenant_certificate_cannot_pose_as_walrus(cloud, alice, tenant_cert):
    received = []

    async def take(request):
        received.append(await request.read())
        return web.json_response({"result": {"generation": 1}})

    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(*tenant_cert)
    app = rpc.rpc_application()
    app.router.add_post("/rpc/v1/{method}", take)
    port = free_port()

    async def push():
        runners = await start_sites([Site(app, "127.0.0.1", port, tls)])
        clc = WalrusClient("127.0.0.1", port,
                           rpc.client_ssl_context(cloud.settings.pki_dir, "clc"))
        try:
            await clc.sync_credentials(1, [cloud.admin, alice])
        finally:
            await clc.close()
            await stop_sites(runners)
    with pytest.raises(rpc.Unreachable, match="certificate rejected"):
        cloud.run(push())
    assert received == []
