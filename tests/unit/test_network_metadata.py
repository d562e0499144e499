"""The metadata responder's answers (IMDSv1/v2, tree, user data, 403)."""
from __future__ import annotations

import asyncio
import base64
import json

from aiohttp.test_utils import TestClient, TestServer

from node_controller.network.metadata import Caller, create_metadata_app, meta_data

SPEC = {"instance_id": "i-0123456789abcdef0", "mac": "D0:0D:01:23:45:67",
        "account_id": "123456789012", "reservation_id": "r-1", "instance_type": "m1.small",
        "zone": "mallee-1a", "image": {"image_id": "emi-12345678"}, "key_name": "k1",
        "public_key": "ssh-ed25519 AAAA k1", "user_data": base64.b64encode(b"#!/bin/sh\necho hi\n").decode(),
        "hostname": "ip-10-64-0-5", "groups": ["sg-1"],
        "metadata": {"security-groups": ["web"], "placement": {"availability-zone": "mallee-1a"}}}


def served(resolve):
    """Run an async test body against the app with this resolver."""
    def wrap(fn):
        def test():
            async def main():
                async with TestClient(TestServer(create_metadata_app(resolve))) as client:
                    await fn(client)
            asyncio.run(main())
        test.__name__ = fn.__name__
        return test
    return wrap


KNOWN = {"127.0.0.1": Caller(SPEC, "10.64.0.5", "192.0.2.10", "10.64.0.0/16", "mallee")}.get


async def body(resp):
    return resp.status, await resp.text()


@served(KNOWN)
async def test_v1_tree_and_leaves(client):
    assert await body(await client.get("/latest/meta-data/instance-id")) == (200, SPEC["instance_id"])
    status, listing = await body(await client.get("/latest/meta-data/"))
    for key in ("ami-id", "hostname", "local-ipv4", "public-ipv4", "public-keys/", "placement/",
                "block-device-mapping/", "network/", "security-groups", "reservation-id", "mac"):
        assert key in listing.split("\n")
    assert await body(await client.get("/latest/meta-data/local-ipv4")) == (200, "10.64.0.5")
    assert await body(await client.get("/latest/meta-data/public-ipv4")) == (200, "192.0.2.10")
    assert await body(await client.get("/latest/meta-data/public-keys")) == (200, "0=k1")
    assert (await body(await client.get("/latest/meta-data/public-keys/0/openssh-key")))[1].startswith("ssh-ed25519")
    assert await body(await client.get("/latest/meta-data/placement/availability-zone")) == (200, "mallee-1a")
    assert await body(await client.get("/latest/meta-data/security-groups")) == (200, "web")
    macs = await body(await client.get("/latest/meta-data/network/interfaces/macs/d0:0d:01:23:45:67/local-ipv4s"))
    assert macs == (200, "10.64.0.5")
    assert (await client.get("/latest/meta-data/nope")).status == 404
    assert await body(await client.get("/latest/user-data")) == (200, "#!/bin/sh\necho hi\n")
    doc = json.loads(await (await client.get("/latest/dynamic/instance-identity/document")).text())
    assert doc["instanceId"] == SPEC["instance_id"] and doc["privateIp"] == "10.64.0.5"
    assert doc["imageId"] == "emi-12345678" and doc["accountId"] == "123456789012"


@served(KNOWN)
async def test_v2_tokens(client):
    assert (await client.put("/latest/api/token")).status == 400  # no TTL
    assert (await client.put("/latest/api/token",
                             headers={"X-aws-ec2-metadata-token-ttl-seconds": "0"})).status == 400
    resp = await client.put("/latest/api/token", headers={"X-aws-ec2-metadata-token-ttl-seconds": "60"})
    token = await resp.text()
    assert resp.status == 200 and resp.headers["X-aws-ec2-metadata-token-ttl-seconds"] == "60"
    ok = await client.get("/latest/meta-data/instance-id", headers={"X-aws-ec2-metadata-token": token})
    assert ok.status == 200
    bad = await client.get("/latest/meta-data/instance-id",
                           headers={"X-aws-ec2-metadata-token": token[:-2] + "xx"})
    assert bad.status == 401
    forwarded = await client.put("/latest/api/token", headers={
        "X-aws-ec2-metadata-token-ttl-seconds": "60", "X-Forwarded-For": "1.2.3.4"})
    assert forwarded.status == 403


@served(lambda ip: None)
async def test_unknown_callers_get_403(anonymous):
    assert (await anonymous.get("/latest/meta-data/instance-id")).status == 403
    assert (await anonymous.put("/latest/api/token",
                                headers={"X-aws-ec2-metadata-token-ttl-seconds": "5"})).status == 403


@served(lambda ip: Caller({**SPEC, "user_data": None}, "10.64.0.5", None, "10.64.0.0/16", "r"))
async def test_no_user_data_and_no_public_ip_are_404(client):
    assert (await client.get("/latest/user-data")).status == 404
    assert (await client.get("/latest/meta-data/public-ipv4")).status == 404


REQUIRED = {"127.0.0.1": Caller(SPEC, "10.64.0.5", None, "10.64.0.0/16", "mallee",
                                tokens_required=True, hop_limit=3)}.get


@served(REQUIRED)
async def test_http_tokens_required_refuses_imdsv1_and_serves_v2(client):
    assert (await client.get("/latest/meta-data/instance-id")).status == 401
    token = await (await client.put("/latest/api/token", headers={
        "X-aws-ec2-metadata-token-ttl-seconds": "60"})).text()
    answer = await client.get("/latest/meta-data/instance-id",
                              headers={"X-aws-ec2-metadata-token": token})
    assert (answer.status, await answer.text()) == (200, SPEC["instance_id"])


def test_a_token_reply_leaves_with_the_instances_hop_limit():
    import socket
    from types import SimpleNamespace
    from node_controller.network.metadata import _set_ttl
    with socket.create_server(("127.0.0.1", 0)) as server, \
            socket.create_connection(server.getsockname()) as _, server.accept()[0] as conn:
        request = SimpleNamespace(transport=SimpleNamespace(get_extra_info=lambda k: conn))
        _set_ttl(request, 3)
        assert conn.getsockopt(socket.IPPROTO_IP, socket.IP_TTL) == 3


def test_the_view_carries_metadata_options_to_the_port():
    from node_controller.network.port import Port
    from node_controller.network.view import ViewError, parse_view
    import pytest
    item = {"instance_id": SPEC["instance_id"], "mac": SPEC["mac"], "private_ip": "10.64.0.5",
            "metadata": {"http_tokens": "required", "http_put_response_hop_limit": 4}}
    view = parse_view({"version": 2, "subnet": "10.64.0.0/16", "gateway": "10.64.0.1",
                       "instances": [item], "groups": []})
    entry = view.instance(SPEC["instance_id"])
    assert (entry.metadata.tokens_required, entry.metadata.hop_limit) == (True, 4)
    port = Port.from_spec({**SPEC, "private_ip": "10.64.0.5",
                           "metadata_options": {"http_tokens": "optional",
                                                "http_put_response_hop_limit": 1}})
    assert (port.tokens_required, port.hop_limit) == (False, 1)
    for bad in ({"http_tokens": "sometimes", "http_put_response_hop_limit": 1},
                {"http_tokens": "required", "http_put_response_hop_limit": 65}):
        with pytest.raises(ViewError):
            parse_view({"version": 2, "subnet": "10.64.0.0/16", "gateway": "10.64.0.1",
                        "instances": [{**item, "metadata": bad}], "groups": []})


def test_every_network_interface_is_in_the_macs_tree():
    """VPC mode: network/interfaces/macs has one entry per NIC of the spec, with its
    device number, interface id, addresses (secondary ones too), subnet and groups,
    as cloud-init's EC2 datasource reads them to configure every NIC."""
    ports = [{"name": "mallee-eni-0aa", "mac": "D0:0D:01:23:45:67", "device_index": 0,
              "private_ip": "10.64.0.5", "secondary_ips": ["10.64.0.6"],
              "subnet_id": "subnet-1", "group_ids": ["sg-1"]},
             {"name": "mallee-eni-0bb", "mac": "d0:0d:00:00:00:02", "device_index": 1,
              "private_ip": "10.64.1.9", "secondary_ips": [], "subnet_id": "subnet-2",
              "group_ids": ["sg-2", "sg-3"]}]
    tree = meta_data(Caller({**SPEC, "vpc_ports": ports}, "10.64.0.5", None, "10.64.0.0/16",
                            "mallee"))
    macs = tree["network"]["interfaces"]["macs"]
    assert set(macs) == {"d0:0d:01:23:45:67", "d0:0d:00:00:00:02"}
    first, second = macs["d0:0d:01:23:45:67"], macs["d0:0d:00:00:00:02"]
    assert (first["device-number"], first["interface-id"], first["local-ipv4s"],
            first["subnet-id"], first["security-group-ids"]) == \
        ("0", "eni-0aa", "10.64.0.5\n10.64.0.6", "subnet-1", "sg-1")
    assert "local-hostname" in first
    assert (second["device-number"], second["interface-id"], second["local-ipv4s"],
            second["subnet-id"], second["security-group-ids"], second["mac"]) == \
        ("1", "eni-0bb", "10.64.1.9", "subnet-2", "sg-2\nsg-3", "d0:0d:00:00:00:02")
