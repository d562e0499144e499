"""The NC's metadata responder answers clients that half-close after their
request, as the test image's token PUT through busybox nc does (and as EC2's
service does). aiohttp drops such a request (aio-libs/aiohttp#3659), so until
the NC serves metadata with half-closed connections kept open this fails:
strict xfail, so the fix turns it into a plain pass and must drop the mark."""
from __future__ import annotations

import asyncio
import socket

import pytest
from aiohttp import web

from node_controller.network.metadata import Caller, create_metadata_app

GUEST = Caller({"instance_id": "i-0123456789abcdef0", "mac": "52:54:00:12:34:56"},
               "10.64.0.5", None, "10.64.0.0/16", "mallee")
TOKEN_PUT = (b"PUT /latest/api/token HTTP/1.0\r\nHost: 169.254.169.254\r\n"
             b"X-aws-ec2-metadata-token-ttl-seconds: 300\r\n\r\n")


def exchange(port: int, half_close: bool) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(TOKEN_PUT)
        if half_close:
            sock.shutdown(socket.SHUT_WR)  # busybox nc, at the end of its input
        reply = b""
        while chunk := sock.recv(4096):
            reply += chunk
        return reply


def served(half_close: bool) -> bytes:
    async def main() -> bytes:
        # As node_controller/network/service.py serves it: an AppRunner, no access log.
        runner = web.AppRunner(create_metadata_app(lambda ip: GUEST), access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        try:
            return await asyncio.to_thread(exchange, runner.addresses[0][1], half_close)
        finally:
            await runner.cleanup()
    return asyncio.run(main())


def test_token_put_is_answered():
    assert served(half_close=False).startswith(b"HTTP/1.0 200 ")


@pytest.mark.xfail(strict=True, reason="aiohttp closes on a client's half-close before it "
                   "replies (aio-libs/aiohttp#3659); the NC's metadata server must keep it open")
def test_token_put_is_answered_when_the_client_half_closes():
    assert served(half_close=True).startswith(b"HTTP/1.0 200 ")
