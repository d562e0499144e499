"""Helpers for the Walrus tests: a real Walrus on free loopback ports, the
test accounts pushed to it over the RPC, clients, hand-signed requests and
the error code and status of a failed call."""
from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

import boto3
from botocore.config import Config

from mallee import settings as mallee_settings
from mallee.rpc import RpcClient, client_ssl_context
from mallee.service import start_sites, stop_sites

import walrus
from tests.harness import free_port


@dataclass
class Account:
    access_key_id: str
    secret_access_key: str
    account_id: str
    account_name: str
    user_name: str
    is_admin: bool = False

    def credential(self) -> dict:
        return {"access_key_id": self.access_key_id, "secret_access_key": self.secret_access_key,
                "account_id": self.account_id, "account_name": self.account_name,
                "user_id": "AIDA" + self.account_id, "user_name": self.user_name,
                "is_admin": self.is_admin, "active": True}


ALICE = Account("AKIAALICE00000000001", "alice-secret/with+chars0000000000000000", "111111111111",
                "alice", "admin")
BOB = Account("AKIABOB0000000000002", "bob-secret-key-00000000000000000000000000", "222222222222",
              "bob", "admin")
ADMIN = Account("AKIAEUCALYPTUS000003", "cloud-admin-secret-000000000000000000000", "000000000000",
                "eucalyptus", "admin", is_admin=True)


class WalrusServer:
    def __init__(self, home: Path, **walrus_settings):
        self.home = home
        self.port, self.rpc_port = free_port(), free_port()
        env = {"MALLEE_HOME": str(home)}
        self.settings = mallee_settings.load(home, env).replace(
            walrus={"port": self.port, "rpc_port": self.rpc_port, **walrus_settings})
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.runners = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def run(self, coro, timeout=60):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def start(self) -> "WalrusServer":
        self.thread.start()
        self.runners = self.run(start_sites(walrus.sites(self.settings)))
        return self

    def stop(self) -> None:
        self.run(stop_sites(self.runners))
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)

    def rpc(self, method: str, **params):
        async def call():
            client = RpcClient("127.0.0.1", self.rpc_port,
                               client_ssl_context(self.settings.pki_dir, "clc"), role="walrus")
            try:
                return await client.call(method, **params)
            finally:
                await client.close()
        return asyncio.run(call())

    def push(self, generation: int, accounts=(ALICE, BOB, ADMIN)):
        return self.rpc("sync_credentials", generation=generation,
                        credentials=[a.credential() for a in accounts])


def client_for(server, account: Account, **config):
    return boto3.client("s3", endpoint_url=server.endpoint, region_name="mallee",
                        aws_access_key_id=account.access_key_id,
                        aws_secret_access_key=account.secret_access_key,
                        config=Config(s3={"addressing_style": "path"},
                                      retries={"max_attempts": 1}, **config))



def code(exc_info) -> str:
    return exc_info.value.response["Error"]["Code"]


def status(exc_info) -> int:
    return exc_info.value.response["ResponseMetadata"]["HTTPStatusCode"]


def sign_v4(account: Account, method: str, url: str, headers: dict, payload_hash: str):
    """SigV4 header auth written out by hand, so tests control every header
    (botocore rewrites x-amz-content-sha256). Returns (headers, seed, signing key, date, scope)."""
    import hashlib
    from datetime import datetime, timezone
    from urllib.parse import parse_qsl, urlsplit

    from mallee.auth import sigv4

    parts = urlsplit(url)
    amz_date = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    headers = {**headers, "Host": parts.netloc, "x-amz-date": amz_date,
               "x-amz-content-sha256": payload_hash}
    lowered = {k.lower(): v for k, v in headers.items()}
    names = tuple(sorted(lowered))
    canonical = "\n".join([method, parts.path or "/",
                           sigv4.canonical_query(parse_qsl(parts.query, keep_blank_values=True)),
                           sigv4.canonical_headers(lowered, names), ";".join(names), payload_hash])
    scope = sigv4.Scope(account.access_key_id, amz_date[:8], "mallee", "s3")
    to_sign = "\n".join([sigv4.ALGORITHM, amz_date, scope.text,
                         hashlib.sha256(canonical.encode()).hexdigest()])
    key = sigv4.signing_key(account.secret_access_key, scope)
    signature = sigv4.sign(key, to_sign)
    headers["Authorization"] = (f"{sigv4.ALGORITHM} Credential={account.access_key_id}/"
                                f"{scope.text}, SignedHeaders={';'.join(names)}, "
                                f"Signature={signature}")
    return headers, signature, key, amz_date, scope.text


def signed(server, account: Account, method: str, path: str, body: bytes = b"",
           headers: dict | None = None, payload_hash: str | None = None):
    """Send a hand-signed SigV4 request (for inputs SDKs refuse to produce)."""
    import hashlib

    import requests
    url = server.endpoint + path
    payload_hash = payload_hash or hashlib.sha256(body).hexdigest()
    final, *_ = sign_v4(account, method, url, headers or {}, payload_hash)
    return requests.request(method, url, data=body, headers=final)


def upgraded(path: Path, examine):
    """Open the Walrus database at `path` (applying every migration it lacks), run
    `await examine(db)` and close it again; returns what examine returned."""
    from walrus.db import Database

    async def run():
        db = Database(path)
        await db.open()
        try:
            return await examine(db)
        finally:
            await db.close()
    return asyncio.run(run())


def awscli(server: "WalrusServer", tmp_path: Path, account: "Account" = ALICE):
    """awscli (the venv's) as `account`, path-style, against `server`: run(*args, check)."""
    config, creds = tmp_path / "aws-config", tmp_path / "aws-credentials"
    config.write_text("[default]\nregion = mallee\ns3 =\n    addressing_style = path\n")
    creds.write_text(f"[default]\naws_access_key_id = {account.access_key_id}\n"
                     f"aws_secret_access_key = {account.secret_access_key}\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_ENDPOINT_URL_S3=server.endpoint, AWS_CONFIG_FILE=str(config),
               AWS_SHARED_CREDENTIALS_FILE=str(creds))
    aws = str(Path(sys.executable).with_name("aws"))

    def run(*args, check=True):
        done = subprocess.run([aws, *args], env=env, capture_output=True, text=True,
                              timeout=120)
        if check:
            assert done.returncode == 0, done.stderr
        return done
    return run
