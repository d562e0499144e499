"""Shared by the bundle and image cache tests (no tests here): a cloud and a user identity."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mallee.pki import init_pki, issue_user_cert

ACCOUNT_ID = "123456789012"


@dataclass(frozen=True)
class Identity:
    pki_dir: Path
    cloud_cert: bytes
    cloud_key: bytes
    user_cert: bytes
    user_key: bytes

    def bundle_kwargs(self) -> dict:
        return dict(cloud_cert_pem=self.cloud_cert, user_cert_pem=self.user_cert,
                    user_key_pem=self.user_key, account_id=ACCOUNT_ID)


def make_identity(pki_dir: Path) -> Identity:
    init_pki(pki_dir)
    user_cert, user_key = issue_user_cert(pki_dir, ACCOUNT_ID, "admin")
    return Identity(pki_dir, (pki_dir / "cloud-cert.pem").read_bytes(),
                    (pki_dir / "cloud-pk.pem").read_bytes(), user_cert, user_key)
