"""The network view as the CC holds it and sends it to its nodes (read with
the admin certificate, as `mallee status` does)."""
from __future__ import annotations

from cluster_controller.client import ClusterClient
from mallee.rpc import client_ssl_context


def cc_admin_call(cloud, method: str):
    """One of the CC's admin-readable calls (ClusterClient's method of that name)."""
    async def call():
        ref = cloud.settings.clusters[0]
        client = ClusterClient(ref.host, ref.port,
                               client_ssl_context(cloud.settings.pki_dir, "admin"))
        try:
            return await getattr(client, method)()
        finally:
            await client.close()
    return cloud.run(call())


def cc_network(cloud):
    """The CC's describe_network, as the admin CLI would read it."""
    return cc_admin_call(cloud, "describe_network")


def view_instance(cloud, instance_id):
    view = cc_network(cloud)["view"] or {}
    return next((i for i in view.get("instances", []) if i["instance_id"] == instance_id), None)
