"""The NC's metadata server answers clients that half-close after their
request, as the test image's token PUT through busybox nc does (and as EC2's
service does); plain aiohttp serving drops such a request
(aio-libs/aiohttp#3659), which MetadataServer exists to avoid."""
from __future__ import annotations

import asyncio
import socket

from node_controller.network.metadata import Caller, MetadataServer, create_metadata_app

GUEST = Caller({"instance_id": "i-0123456789abcdef0", "mac": "52:54:00:12:34:56"},
               "10.64.0.5", None, "10.64.0.0/16", "mallee")
TOKEN_PUT = (b"PUT /latest/api/token HTTP/1.0\r\nHost: 169.254.169.254\r\n"
             b"X-aws-ec2-metadata-token-ttl-seconds: 300\r\n\r\n")


def exchange(port: int, half_close: bool, request: bytes = TOKEN_PUT) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(request)
        if half_close:
            sock.shutdown(socket.SHUT_WR)  # busybox nc, at the end of its input
        reply = b""
        while chunk := sock.recv(4096):
            reply += chunk
        return reply


def served(half_close: bool, request: bytes = TOKEN_PUT) -> bytes:
    async def main() -> bytes:
        # As node_controller/network/service.py serves it, on a socket of our own.
        sock = socket.create_server(("127.0.0.1", 0))
        sock.setblocking(False)
        server = MetadataServer(create_metadata_app(lambda ip: GUEST))
        await server.start(sock)
        try:
            return await asyncio.to_thread(exchange, sock.getsockname()[1], half_close,
                                           request)
        finally:
            await server.close()
    return asyncio.run(main())


def test_token_put_is_answered():
    assert served(half_close=False).startswith(b"HTTP/1.0 200 ")


def test_token_put_is_answered_when_the_client_half_closes():
    assert served(half_close=True).startswith(b"HTTP/1.0 200 ")

