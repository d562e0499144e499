"""RPC peers are components by their certificates' usage and role, both ways.

A tenant's bundling certificate, a component certificate of another role,
and a cloud-CA certificate without the component usage (as every certificate
was before roles were bound) serve as no RPC peer: the client refuses the
server before it sends a byte of the call, the server refuses the client.
"""
import asyncio
import datetime as dt
import ssl

import pytest
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from mallee import errors, rpc
from mallee.auth import Credential
from mallee.pki import COMPONENTS, init_pki, issue_user_cert, load_ca
from mallee.service import Site, start_sites, stop_sites
from tests.harness import free_port
from walrus.rpc_client import WalrusClient

SECRET = Credential("AKIAALICE00000000001", "s" * 40, "123456789012", "alice", "AIDA1", "admin")


def _files(tmp_path, name: str, cert: bytes, key: bytes):
    (tmp_path / f"{name}.pem").write_bytes(cert)
    (tmp_path / f"{name}-key.pem").write_bytes(key)
    return tmp_path / f"{name}.pem", tmp_path / f"{name}-key.pem"


def _tenant(tmp_path):
    return _files(tmp_path, "tenant", *issue_user_cert(tmp_path, "123456789012", "admin"))


def _legacy(tmp_path, cn: str):
    """A cloud-CA certificate with a role's CN and no usage or role: the old kind."""
    ca_cert, ca_key = load_ca(tmp_path)
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
            .issuer_name(ca_cert.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), False)
            .sign(ca_key, hashes.SHA256()))
    return _files(tmp_path, f"legacy-{cn}", cert.public_bytes(serialization.Encoding.PEM),
                  key.private_bytes(serialization.Encoding.PEM,
                                    serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()))


def _serving_context(tmp_path, cert, key) -> ssl.SSLContext:
    """What an impostor serves with: any certificate it holds, no client check."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(tmp_path / "ca.pem"))
    ctx.load_cert_chain(cert, key)
    return ctx


def _calling_context(tmp_path, cert, key) -> ssl.SSLContext:
    """What an impostor calls with: the cloud's CA trusted, no name checks."""
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(tmp_path / "ca.pem"))
    ctx.load_cert_chain(cert, key)
    ctx.check_hostname = False
    return ctx


def _fake_walrus(tls: ssl.SSLContext, received: list):
    """Takes whatever is posted to it, as an impostor would."""
    async def anything(request):
        received.append(await request.json())
        return web.json_response({"result": {"generation": 7}})

    app = rpc.rpc_application()
    app.router.add_post("/rpc/v1/{method}", anything)
    return app


async def _push_to(tls: ssl.SSLContext, pki_dir) -> list:
    """The CLC's WalrusClient pushes every secret to whoever serves with `tls`."""
    received: list = []
    port = free_port()
    runners = await start_sites([Site(_fake_walrus(tls, received), "127.0.0.1", port, tls)])
    client = WalrusClient("127.0.0.1", port, rpc.client_ssl_context(pki_dir, "clc"))
    try:
        await client.sync_credentials(7, [SECRET])
    except rpc.Unreachable:
        assert received == []  # refused before the secrets left
        raise
    finally:
        await client.close()
        await stop_sites(runners)
    return received


def test_the_real_walrus_certificate_receives_the_push(tmp_path):
    init_pki(tmp_path)
    received = asyncio.run(_push_to(rpc.server_ssl_context(tmp_path, "walrus"), tmp_path))
    assert received[0]["credentials"][0]["secret_access_key"] == SECRET.secret_access_key


def test_a_tenant_certificate_cannot_pose_as_walrus(tmp_path):
    init_pki(tmp_path)
    tls = _serving_context(tmp_path, *_tenant(tmp_path))
    with pytest.raises(rpc.Unreachable, match="certificate rejected"):
        asyncio.run(_push_to(tls, tmp_path))


@pytest.mark.parametrize("role", ["nc", "cc", "sc", "clc", "admin"])
def test_a_component_of_another_role_cannot_pose_as_walrus(tmp_path, role):
    init_pki(tmp_path)
    tls = rpc.server_ssl_context(tmp_path, role) if role != "admin" else _serving_context(
        tmp_path, tmp_path / "admin.pem", tmp_path / "admin-key.pem")
    with pytest.raises(rpc.Unreachable, match="certificate rejected"):
        asyncio.run(_push_to(tls, tmp_path))


def test_a_cloud_ca_certificate_without_a_role_cannot_pose_as_walrus(tmp_path):
    init_pki(tmp_path)
    tls = _serving_context(tmp_path, *_legacy(tmp_path, "walrus"))
    with pytest.raises(rpc.Unreachable, match="certificate rejected"):
        asyncio.run(_push_to(tls, tmp_path))


async def _call_as(tls: ssl.SSLContext, pki_dir) -> list:
    """Call a method every component may call, on a real component server."""
    ran: list = []

    async def echo(params, caller):
        ran.append(caller)
        return caller

    app = rpc.rpc_application()
    rpc.add_rpc_routes(app, {"echo": rpc.method(echo, *COMPONENTS)})
    port = free_port()
    runners = await start_sites([Site(app, "127.0.0.1", port,
                                      rpc.server_ssl_context(pki_dir, "cc"))])
    client = rpc.RpcClient("127.0.0.1", port, tls, role="cc")
    try:
        return [await client.call("echo"), ran]
    finally:
        await client.close()
        await stop_sites(runners)


def test_a_tenant_certificate_is_refused_at_the_handshake(tmp_path):
    init_pki(tmp_path)
    with pytest.raises(rpc.Unreachable):
        asyncio.run(_call_as(_calling_context(tmp_path, *_tenant(tmp_path)), tmp_path))


def test_a_cloud_ca_certificate_without_a_role_is_refused(tmp_path):
    init_pki(tmp_path)
    with pytest.raises(errors.UnauthorizedOperation, match="without a component certificate"):
        asyncio.run(_call_as(_calling_context(tmp_path, *_legacy(tmp_path, "clc")), tmp_path))


def test_a_component_certificate_names_its_caller(tmp_path):
    init_pki(tmp_path)
    for role in COMPONENTS:
        answer, ran = asyncio.run(_call_as(rpc.client_ssl_context(tmp_path, role), tmp_path))
        assert answer == role and ran == [role]


def test_a_typed_client_must_name_the_role_it_reaches(tmp_path):
    init_pki(tmp_path)
    with pytest.raises(TypeError, match="role"):
        rpc.RpcClient("127.0.0.1", 1, rpc.client_ssl_context(tmp_path, "clc"))


def test_init_on_an_existing_home_reissues_what_predates_roles(tmp_path):
    init_pki(tmp_path)
    kept = {n: (tmp_path / n).read_bytes()
            for n in ("ca.pem", "ca-key.pem", "clc.pem", "cloud-cert.pem", "secrets.key")}
    cert, key = _legacy(tmp_path, "nc")
    cert.replace(tmp_path / "nc.pem")
    key.replace(tmp_path / "nc-key.pem")
    for name in ("users-ca.pem", "users-ca-key.pem"):
        (tmp_path / name).unlink()
    with pytest.raises(errors.Unavailable, match="mallee init"):
        rpc.server_ssl_context(tmp_path, "nc")
    assert init_pki(tmp_path) is True
    rpc.server_ssl_context(tmp_path, "nc")
    assert (tmp_path / "users-ca.pem").exists()
    assert {n: (tmp_path / n).read_bytes() for n in kept} == kept
    assert init_pki(tmp_path) is False
