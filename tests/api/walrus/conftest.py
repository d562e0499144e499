"""Fixtures for the Walrus tests: one real Walrus for the session, its accounts
and clients, and a fresh bucket per test."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from mallee import pki
from tests.api.walrus.helpers import ALICE, BOB, ADMIN, WalrusServer, awscli, client_for


@pytest.fixture(scope="session")
def walrus_home(tmp_path_factory) -> Path:
    home = tmp_path_factory.mktemp("mallee-home")
    pki.init_pki(home / "pki")
    return home


@pytest.fixture(scope="session")
def server(walrus_home):
    srv = WalrusServer(walrus_home).start()
    srv.push(1)
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def fast(tmp_path_factory):
    """A Walrus of the module's own whose lifecycle "day" lasts one second, its worker
    passing five times a second, to watch rules act."""
    home = tmp_path_factory.mktemp("walrus-lifecycle")
    pki.init_pki(home / "pki")
    server = WalrusServer(home, lifecycle_day_seconds=1,
                          lifecycle_interval_seconds=0.2).start()
    server.push(1)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def s3(server):
    return client_for(server, ALICE)


@pytest.fixture(scope="session")
def s3_when_required(server):
    return client_for(server, ALICE, request_checksum_calculation="when_required",
                      response_checksum_validation="when_required")


@pytest.fixture(scope="session")
def s3_bob(server):
    return client_for(server, BOB)


@pytest.fixture(scope="session")
def s3_admin(server):
    return client_for(server, ADMIN)


_counter = iter(range(1_000_000))


def empty_bucket(s3, name: str) -> None:
    """Delete every version and delete marker (a test may have enabled versioning), as
    AWS's docs empty a bucket: a plain object is its `null` version."""
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=name):
        for item in page.get("Versions", []) + page.get("DeleteMarkers", []):
            s3.delete_object(Bucket=name, Key=item["Key"], VersionId=item["VersionId"])


@pytest.fixture
def bucket(s3):
    """A fresh bucket owned by alice, emptied and removed afterwards."""
    name = f"test-{os.getpid()}-{next(_counter)}"
    s3.create_bucket(Bucket=name)
    yield name
    empty_bucket(s3, name)
    for upload in s3.list_multipart_uploads(Bucket=name).get("Uploads", []):
        s3.abort_multipart_upload(Bucket=name, Key=upload["Key"], UploadId=upload["UploadId"])
    s3.delete_bucket(Bucket=name)


@pytest.fixture
def aws(server, tmp_path):
    """awscli (the venv's) as alice, path-style, against the test Walrus."""
    return awscli(server, tmp_path)
