"""`mallee image bundle` as a user runs it after `source eucarc` (upload/register need a cloud)."""
from __future__ import annotations

import io
import os

import pytest

from mallee_cli import main as cli
from mallee.bundle import parse_manifest, verify_signature
from mallee_cli.image import ProgressBar
from tests.unit.bundle_fixtures import ACCOUNT_ID, make_identity


@pytest.fixture
def eucarc_env(tmp_path, monkeypatch):
    ident = make_identity(tmp_path / "pki")
    for name, data in (("cloud-cert.pem", ident.cloud_cert), ("cert.pem", ident.user_cert),
                       ("pk.pem", ident.user_key)):
        (tmp_path / name).write_bytes(data)
    monkeypatch.setenv("EUCALYPTUS_CERT", str(tmp_path / "cloud-cert.pem"))
    monkeypatch.setenv("EC2_CERT", str(tmp_path / "cert.pem"))
    monkeypatch.setenv("EC2_PRIVATE_KEY", str(tmp_path / "pk.pem"))
    monkeypatch.setenv("EC2_USER_ID", ACCOUNT_ID)
    monkeypatch.setenv("MALLEE_HOME", str(tmp_path / "home"))
    return ident


def test_bundle_writes_parts_and_a_signed_manifest(eucarc_env, tmp_path, capsys):
    image = tmp_path / "vmlinuz"
    image.write_bytes(os.urandom(50_000))
    assert cli.main(["image", "bundle", "-i", str(image), "-d", str(tmp_path / "out"),
                     "--kernel", "true", "--part-size", "20000"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[-1] == f"Wrote manifest {tmp_path / 'out' / 'vmlinuz.manifest.xml'}"
    assert len(out) == 4  # three parts of a ~50 kB gzip of random bytes, then the manifest
    xml = (tmp_path / "out" / "vmlinuz.manifest.xml").read_bytes()
    manifest = parse_manifest(xml)
    assert (manifest.image_type, manifest.kernel_id, manifest.user) == ("kernel", "true",
                                                                       ACCOUNT_ID)
    assert verify_signature(xml, eucarc_env.user_cert)


@pytest.mark.parametrize("argv, message", [
    (["--kernel", "aki-1", "--image-type", "kernel"], "kernel bundle takes no"),
    (["--ramdisk", "true", "--kernel", "aki-1"], "ramdisk bundle takes no"),
    (["--kernel", "true", "-B", "ami=sda1"], "for machine images"),
])
def test_bundle_refuses_contradictory_flags(eucarc_env, tmp_path, capsys, argv, message):
    image = tmp_path / "img"
    image.write_bytes(b"x")
    assert cli.main(["image", "bundle", "-i", str(image), *argv]) == 1
    assert message in capsys.readouterr().err


def test_missing_credentials_say_what_to_do(eucarc_env, tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("EC2_CERT")
    image = tmp_path / "img"
    image.write_bytes(b"x")
    assert cli.main(["image", "bundle", "-i", str(image), "-d", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("mallee: no user certificate") and "EC2_CERT" in err
    assert "\n" not in err


def test_progress_bar_draws_on_a_terminal():
    class Tty(io.StringIO):
        def isatty(self):
            return True
    stream = Tty()
    bar = ProgressBar("Bundling image", stream=stream, width=10)
    bar(5 * 2**20, 10 * 2**20)
    bar(10 * 2**20, 10 * 2**20)
    bar.close()
    assert stream.getvalue().endswith("\rBundling image [##########] 100%  10.0/10.0 MiB\n")
