import asyncio

import pytest
from aiohttp import web

from mallee import errors, rpc, settings
from mallee.pki import SecretBox, init_pki
from mallee.service import Site, start_sites, stop_sites


def test_environment_overrides_defaults(tmp_path):
    s = settings.load(home=tmp_path, env={"MALLEE_CC_NODES": "10.0.0.2:8775, 10.0.0.3:8775",
                                          "MALLEE_CLC_PORT": "9999"})
    assert s.cc.nodes == ("10.0.0.2:8775", "10.0.0.3:8775")
    assert s.clc.port == 9999
    assert s.vmtype("m1.small").memory == 256


def test_config_file_overrides_defaults(tmp_path):
    (tmp_path / "mallee.toml").write_text('[cc]\nscheduler = "GREEDY"\n'
                                          '[vmtypes]\n"x1.tiny" = {cpu=1, memory=64, disk=1}\n')
    s = settings.load(home=tmp_path, env={})
    assert s.cc.scheduler == "GREEDY"
    assert s.vmtype("x1.tiny").disk == 1


def test_secrets_are_sealed(tmp_path):
    init_pki(tmp_path)
    box = SecretBox(tmp_path)
    sealed = box.seal("s3cr3t")
    assert b"s3cr3t" not in sealed and box.open(sealed) == "s3cr3t"


def test_rpc_needs_a_cloud_certificate_and_an_allowed_role(tmp_path):
    init_pki(tmp_path)

    async def echo(params, caller):
        return {"caller": caller, "x": params["x"]}

    async def scenario():
        app = web.Application()
        rpc.add_rpc_routes(app, {"echo": rpc.method(echo, "clc")})
        port = 18000 + (hash(str(tmp_path)) % 2000)
        runners = await start_sites([Site(app, "127.0.0.1", port,
                                          rpc.server_ssl_context(tmp_path, "cc"))])
        try:
            clc = rpc.RpcClient("127.0.0.1", port, rpc.client_ssl_context(tmp_path, "clc"),
                                role="cc")
            assert await clc.call("echo", x=1) == {"caller": "clc", "x": 1}
            nc = rpc.RpcClient("127.0.0.1", port, rpc.client_ssl_context(tmp_path, "nc"), role="cc")
            with pytest.raises(errors.UnauthorizedOperation):
                await nc.call("echo", x=1)
            with pytest.raises(errors.InvalidAction):
                await clc.call("nope")
            await clc.close()
            await nc.close()
            other = tmp_path / "other"
            init_pki(other)  # a different cloud's CA is not trusted
            stranger = rpc.RpcClient("127.0.0.1", port, rpc.client_ssl_context(other, "clc"),
                                     role="cc")
            with pytest.raises(rpc.Unreachable):
                await stranger.call("echo", x=1)
            await stranger.close()
        finally:
            await stop_sites(runners)
    asyncio.run(scenario())


def test_unreachable_peer_says_why():
    async def scenario(tmp):
        client = rpc.RpcClient("127.0.0.1", 1, rpc.client_ssl_context(tmp, "clc"), role="cc")
        with pytest.raises(rpc.Unreachable, match="cannot connect"):
            await client.call("health")
        await client.close()
    import tempfile
    from pathlib import Path
    with tempfile.TemporaryDirectory() as tmp:
        init_pki(Path(tmp))
        asyncio.run(scenario(Path(tmp)))


def test_unknown_keys_in_a_file_or_the_environment_are_errors_that_name_them(tmp_path):
    (tmp_path / "mallee.toml").write_text("[clc]\nprot = 9773\n")
    with pytest.raises(settings.SettingsError, match="'prot'"):
        settings.load(tmp_path, {})
    (tmp_path / "mallee.toml").write_text("[clcc]\nport = 9773\n")
    with pytest.raises(settings.SettingsError, match=r"\[clcc\]"):
        settings.load(tmp_path, {})
    (tmp_path / "mallee.toml").unlink()
    with pytest.raises(settings.SettingsError, match="MALLEE_CLC_PROT"):
        settings.load(tmp_path, {"MALLEE_CLC_PROT": "9773"})
    with pytest.raises(settings.SettingsError, match="MALLEE_CLC_PORT"):
        settings.load(tmp_path, {"MALLEE_CLC_PORT": "not-a-port"})
    loaded = settings.load(tmp_path, {"MALLEE_CLC_PORT": "9773", "MALLEE_HOME": str(tmp_path)})
    assert loaded.clc.port == 9773 and loaded.network.uplink_netns == "mallee-outside"


def test_the_network_mode_is_edge_unless_set_and_only_edge_or_vpc(tmp_path):
    assert settings.load(tmp_path, {}).network.mode == "edge"
    assert settings.load(tmp_path, {"MALLEE_NETWORK_MODE": "vpc"}).network.mode == "vpc"
    (tmp_path / "mallee.toml").write_text('[network]\nmode = "midonet"\n')
    with pytest.raises(settings.SettingsError, match="mode = 'midonet'"):
        settings.load(tmp_path, {})
