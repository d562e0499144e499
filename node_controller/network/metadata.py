"""The instance metadata service (IMDSv1 and v2) on 169.254.169.254:80.

The socket is made inside the node's namespace (namespace.socket_in_namespace)
and served by the NC's own event loop, so the responder reads the NC's
instance specs directly. The caller is the packet's source address, which
the bridge's anti-spoofing makes trustworthy; unknown callers get 403.

IMDSv2: PUT /latest/api/token with X-aws-ec2-metadata-token-ttl-seconds
(1..21600) returns a token bound to the caller's address; a GET carrying a
bad or expired token gets 401; a GET without one is IMDSv1, or 401 when the
instance's HttpTokens is `required`. Replies leave with IP TTL 1, so they
cannot be relayed beyond a guest; a token's reply leaves with the
instance's HttpPutResponseHopLimit (ModifyInstanceMetadataOptions), which
the CLC's network view carries to the node.
"""
from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import json
import secrets
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web

TOKEN_HEADER = "X-aws-ec2-metadata-token"
TTL_HEADER = "X-aws-ec2-metadata-token-ttl-seconds"
MAX_TOKEN_TTL = 21600
HOP_LIMIT = 1
VERSIONS = ("1.0", "2007-01-19", "2007-03-01", "2007-08-29", "2007-10-10", "2007-12-15",
            "2008-02-01", "2008-09-01", "2009-04-04", "2011-01-01", "2011-05-01", "2012-01-12",
            "2014-02-25", "2014-11-05", "2015-10-20", "2016-04-19", "2016-06-30", "2016-09-02",
            "latest")


@dataclass(frozen=True)
class Caller:
    spec: dict
    private_ip: str
    public_ip: str | None
    subnet: str
    region: str
    tokens_required: bool = False  # HttpTokens=required: a GET without a token is 401
    hop_limit: int = HOP_LIMIT  # HttpPutResponseHopLimit: the token reply's IP TTL


Resolve = Callable[[str], "Caller | None"]


class Tokens:
    """Stateless IMDSv2 tokens: expiry and caller address, signed with a key
    that lives as long as the process (a restarted NC invalidates them; the
    guest's next PUT gets a new one, as after an EC2 host change)."""

    def __init__(self):
        self._key = secrets.token_bytes(32)

    def _mac(self, body: str) -> str:
        return hmac.new(self._key, body.encode(), hashlib.sha256).hexdigest()[:32]

    def issue(self, caller_ip: str, ttl: int) -> str:
        body = f"{int(time.time()) + ttl}:{caller_ip}"
        return base64.urlsafe_b64encode(f"{body}:{self._mac(body)}".encode()).decode()

    def valid(self, token: str, caller_ip: str) -> bool:
        try:
            expiry, ip, mac = base64.urlsafe_b64decode(token.encode()).decode().split(":")
        except (ValueError, binascii.Error, UnicodeDecodeError):
            return False
        return (hmac.compare_digest(mac, self._mac(f"{expiry}:{ip}")) and ip == caller_ip
                and int(expiry) > time.time())


def meta_data(c: Caller) -> dict:
    """The meta-data/ tree: dicts are directories, strings are files."""
    s, md = c.spec, c.spec.get("metadata") or {}
    hostname = s.get("hostname") or "ip-" + c.private_ip.replace(".", "-")
    zone = (md.get("placement") or {}).get("availability-zone") or s.get("zone") or ""
    groups = md.get("security-groups") or s.get("security_groups") or []
    mac = s["mac"].lower()
    interface = {"device-number": "0", "interface-id": f"eni-{s['instance_id'][2:]}",
                 "local-hostname": hostname, "local-ipv4s": c.private_ip, "mac": mac,
                 "owner-id": str(s.get("account_id") or ""),
                 "security-group-ids": "\n".join(s.get("groups") or ()),
                 "security-groups": "\n".join(groups),
                 "subnet-ipv4-cidr-block": c.subnet, "vpc-ipv4-cidr-block": c.subnet}
    macs = {mac: interface}
    for port in s.get("vpc_ports") or ():  # VPC mode: each network interface (docs/vpc.md)
        port_mac = port["mac"].lower()
        own = {**interface} if port_mac == mac else {"owner-id": interface["owner-id"]}
        own.update({
            "device-number": str(port.get("device_index") or 0),
            "interface-id": port["name"].removeprefix("mallee-"), "mac": port_mac,
            "local-ipv4s": "\n".join([port["private_ip"], *port.get("secondary_ips", ())]),
            "subnet-id": port["subnet_id"]})
        if port.get("group_ids") is not None:
            own["security-group-ids"] = "\n".join(port["group_ids"])
        macs[port_mac] = own
    tree = {
        "ami-id": md.get("ami-id") or (s.get("image") or {}).get("image_id") or "",
        "ami-launch-index": str(md.get("ami-launch-index", s.get("launch_index", 0))),
        "ami-manifest-path": md.get("ami-manifest-path", "(unknown)"),
        "block-device-mapping": {"ami": "/dev/sda1", "root": "/dev/sda1",
                                 "ephemeral0": "sdb", "swap": "sdc"},
        "hostname": hostname,
        "instance-action": "none",
        "instance-id": s["instance_id"],
        "instance-type": md.get("instance-type") or s.get("instance_type") or "",
        "local-hostname": md.get("local-hostname") or hostname,
        "local-ipv4": c.private_ip,
        "mac": mac,
        "network": {"interfaces": {"macs": macs}},
        "placement": {"availability-zone": zone, "region": c.region},
        "reservation-id": md.get("reservation-id") or s.get("reservation_id") or "",
        "security-groups": "\n".join(groups),
    }
    for key in ("kernel-id", "ramdisk-id"):
        value = md.get(key) or (s.get(key.split("-")[0]) or {}).get("image_id")
        if value:
            tree[key] = value
    if c.public_ip:
        tree["public-ipv4"] = c.public_ip
        tree["public-hostname"] = md.get("public-hostname") or "ec2-" + c.public_ip.replace(".", "-")
        interface["public-ipv4s"] = c.public_ip
    if s.get("public_key"):
        tree["public-keys"] = {"0": {"openssh-key": s["public_key"].strip() + "\n"}}
    return tree


def identity_document(c: Caller) -> dict:
    s, md = c.spec, c.spec.get("metadata") or {}
    return {
        "accountId": str(s.get("account_id") or ""), "architecture": "x86_64",
        "availabilityZone": (md.get("placement") or {}).get("availability-zone") or s.get("zone"),
        "imageId": md.get("ami-id") or (s.get("image") or {}).get("image_id"),
        "instanceId": s["instance_id"],
        "instanceType": md.get("instance-type") or s.get("instance_type"),
        "kernelId": (s.get("kernel") or {}).get("image_id"),
        "ramdiskId": (s.get("ramdisk") or {}).get("image_id"),
        "pendingTime": s.get("launch_time"), "privateIp": c.private_ip,
        "region": c.region, "version": "2017-09-30",
        "billingProducts": None, "devpayProductCodes": None, "marketplaceProductCodes": None,
    }


def _listing(directory: dict) -> str:
    return "\n".join(key + "/" if isinstance(value, dict) else key
                     for key, value in directory.items())


def _walk(tree: dict, parts: list[str]) -> str | dict | None:
    node: str | dict = tree
    for part in parts:
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def _set_ttl(request: web.Request, ttl: int) -> None:
    """This connection's replies leave with IP TTL `ttl` (the listener's is HOP_LIMIT):
    a token then reaches a container behind the guest only if the owner allowed
    the extra hops."""
    sock = request.transport.get_extra_info("socket") if request.transport else None
    if sock is not None and ttl != HOP_LIMIT:
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, ttl)


def create_metadata_app(resolve: Resolve) -> web.Application:
    tokens = Tokens()

    def text(body: str, status: int = 200) -> web.Response:
        return web.Response(text=body, status=status, content_type="text/plain")

    def caller_of(request: web.Request) -> Caller:
        caller = resolve(request.remote or "")
        if caller is None:
            raise web.HTTPForbidden(text="Forbidden\n")
        return caller

    async def put_token(request: web.Request) -> web.Response:
        caller = caller_of(request)
        if "X-Forwarded-For" in request.headers:  # as EC2: no tokens through proxies
            raise web.HTTPForbidden(text="Forbidden\n")
        raw = request.headers.get(TTL_HEADER, "")
        if not raw.isdigit() or not 1 <= int(raw) <= MAX_TOKEN_TTL:
            return text("Bad Request\n", 400)
        response = text(tokens.issue(caller.private_ip, int(raw)))
        response.headers[TTL_HEADER] = raw
        _set_ttl(request, caller.hop_limit)
        return response

    async def get(request: web.Request) -> web.Response:
        caller = caller_of(request)
        token = request.headers.get(TOKEN_HEADER)
        if token is None and caller.tokens_required:  # IMDSv1 refused, as EC2 does
            return text("Unauthorized\n", 401)
        if token is not None and not tokens.valid(token, caller.private_ip):
            return text("Unauthorized\n", 401)
        path = request.match_info["path"]
        if path in ("", "/"):
            return text("\n".join(VERSIONS))
        version, _, rest = path.strip("/").partition("/")
        if version not in VERSIONS:
            return text("Not Found\n", 404)
        if rest == "":
            return text("dynamic\nmeta-data\nuser-data")
        top, _, below = rest.partition("/")
        if top == "user-data":
            data = caller.spec.get("user_data")
            if not data or below:
                return text("Not Found\n", 404)
            return web.Response(body=base64.b64decode(data),
                                content_type="application/octet-stream")
        if top == "meta-data":
            tree = meta_data(caller)
            parts = [p for p in below.split("/") if p]
            if parts[:1] == ["public-keys"] and len(parts) == 1 and "public-keys" in tree:
                return text(f"0={caller.spec.get('key_name') or 'key'}")
            node = _walk(tree, parts)
        elif top == "dynamic":
            tree = {"instance-identity": {"document": json.dumps(identity_document(caller),
                                                                 indent=2)}}
            node = _walk(tree, [p for p in below.split("/") if p])
        else:
            node = None
        if node is None:
            return text("Not Found\n", 404)
        return text(_listing(node) if isinstance(node, dict) else node)

    app = web.Application()
    app.router.add_put("/latest/api/token", put_token)
    app.router.add_get("/{path:.*}", get)
    return app


class _AnswerAfterHalfClose(asyncio.Protocol):
    """One connection of the metadata server: aiohttp's own handler, except that
    the client shutting its side down does not end the connection. busybox nc
    (the test image's IMDSv2 token PUT) half-closes right after its request,
    and a protocol whose eof_received() returns a false value makes asyncio
    close the socket before aiohttp answers (aio-libs/aiohttp#3659). Returning
    True keeps the write side open; aiohttp closes the connection after the
    reply to an HTTP/1.0 or `Connection: close` request (busybox nc's)."""

    def __init__(self, inner: asyncio.Protocol):
        self._inner = inner

    def connection_made(self, transport) -> None:
        self._inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        self._inner.data_received(data)

    def eof_received(self) -> bool:
        self._inner.eof_received()
        return True

    def connection_lost(self, exc: BaseException | None) -> None:
        self._inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._inner.resume_writing()


class MetadataServer:
    """Serves a metadata app on a listening socket that the caller made (the NC:
    on 169.254.169.254 in the node's namespace, with the hop limit)."""

    def __init__(self, app: web.Application):
        self._runner = web.AppRunner(app, access_log=None)
        self._server: asyncio.Server | None = None

    async def start(self, sock) -> None:
        await self._runner.setup()
        factory = self._runner.server  # aiohttp's protocol factory (web.Server)
        self._server = await asyncio.get_running_loop().create_server(
            lambda: _AnswerAfterHalfClose(factory()), sock=sock)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        await self._runner.cleanup()
        if self._server is not None:
            await self._server.wait_closed()
