"""Bundles as euca-bundle-image makes them: round trip, tampering, signature, shape, memory."""
from __future__ import annotations

import gc
import hashlib
import os
import re
import subprocess
import tarfile
import tracemalloc
import xml.etree.ElementTree as ET

import pytest

from mallee.bundle import (BadPartDigest, CorruptImage, CorruptManifest, WrongBundleKey,
                           bundle_image, parse_manifest, unbundle, verify_signature)
from tests.unit.bundle_fixtures import ACCOUNT_ID, make_identity

MiB = 2**20


@pytest.fixture(scope="module")
def ident(tmp_path_factory):
    return make_identity(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def image(tmp_path):
    path = tmp_path / "disk.img"
    # Random data with zero runs: exercises gzip, holes in the output, and uneven parts.
    with open(path, "wb") as f:
        f.write(os.urandom(3 * MiB + 1234))
        f.write(bytes(MiB))
        f.write(os.urandom(4321))
    return path


def _bundle(ident, image, out_dir, **kw):
    kw.setdefault("part_size", 512 * 1024)
    return bundle_image(image, out_dir, **ident.bundle_kwargs(), **kw)


def _unbundle(bundle, key, out):
    return unbundle(bundle.manifest, lambda name: open(bundle.manifest_path.parent / name, "rb"),
                    key, out)


def test_round_trip_gives_back_the_same_bytes(ident, image, tmp_path):
    bundle = _bundle(ident, image, tmp_path / "b")
    assert len(bundle.part_paths) > 4
    assert [p.name for p in bundle.part_paths] == [f"disk.img.part.{i}"
                                                   for i in range(len(bundle.part_paths))]
    assert bundle.manifest_path.name == "disk.img.manifest.xml"
    out = _unbundle(bundle, ident.cloud_key, tmp_path / "restored.img")
    assert out.read_bytes() == image.read_bytes()
    # The user's own key opens it too (user_encrypted_key/iv), as in EC2.
    again = _unbundle(bundle, ident.user_key, tmp_path / "restored2.img")
    assert again.read_bytes() == image.read_bytes()


def test_pipeline_is_what_openssl_gzip_and_tar_would_undo(ident, image, tmp_path):
    """cat parts | openssl enc -d -aes-128-cbc -K -iv | gunzip | tar: the tools euca2ools uses."""
    bundle = _bundle(ident, image, tmp_path / "b")
    xml = bundle.manifest_path.read_bytes()
    manifest = parse_manifest(xml)
    (tmp_path / "cloud-pk.pem").write_bytes(ident.cloud_key)
    key = subprocess.run(["openssl", "pkeyutl", "-decrypt", "-inkey", tmp_path / "cloud-pk.pem",
                          "-pkeyopt", "rsa_padding_mode:pkcs1"],
                         input=bytes.fromhex(manifest.ec2_encrypted_key), capture_output=True,
                         check=True).stdout.decode()
    iv = subprocess.run(["openssl", "pkeyutl", "-decrypt", "-inkey", tmp_path / "cloud-pk.pem"],
                        input=bytes.fromhex(manifest.ec2_encrypted_iv), capture_output=True,
                        check=True).stdout.decode()
    assert (key, iv) == manifest.decrypt_key_iv(ident.cloud_key)
    # The signature is what `openssl dgst -sha1 -sign` makes over <machine_configuration><image>.
    (tmp_path / "user.pem").write_bytes(ident.user_cert)
    pub = subprocess.run(["openssl", "x509", "-pubkey", "-noout", "-in", tmp_path / "user.pem"],
                         capture_output=True, check=True).stdout
    (tmp_path / "user.pub").write_bytes(pub)
    (tmp_path / "sig").write_bytes(bytes.fromhex(manifest.signature))
    signed = xml[xml.index(b"<machine_configuration>"):xml.index(b"</image>") + len(b"</image>")]
    subprocess.run(["openssl", "dgst", "-sha1", "-verify", tmp_path / "user.pub", "-signature",
                    tmp_path / "sig"], input=signed, capture_output=True, check=True)
    cipher = b"".join(p.read_bytes() for p in bundle.part_paths)
    for part, path in zip(manifest.parts, bundle.part_paths):
        assert hashlib.sha1(path.read_bytes()).hexdigest() == part.digest
    assert len(cipher) == manifest.bundled_size
    plain = subprocess.run(["openssl", "enc", "-d", "-aes-128-cbc", "-K", key, "-iv", iv],
                           input=cipher, capture_output=True, check=True).stdout
    tar_bytes = subprocess.run(["gzip", "-dc"], input=plain, capture_output=True,
                               check=True).stdout
    assert hashlib.sha1(tar_bytes).hexdigest() == manifest.digest
    (tmp_path / "t.tar").write_bytes(tar_bytes)
    with tarfile.open(tmp_path / "t.tar") as tar:
        (member,) = tar.getmembers()
        assert member.name == "disk.img" and member.size == image.stat().st_size
        assert tar.extractfile(member).read() == image.read_bytes()


def test_tampered_part_is_refused_and_leaves_nothing(ident, image, tmp_path):
    bundle = _bundle(ident, image, tmp_path / "b")
    victim = bundle.part_paths[2]
    data = bytearray(victim.read_bytes())
    data[100] ^= 0xFF
    victim.write_bytes(bytes(data))
    (tmp_path / "out").mkdir()
    with pytest.raises(BadPartDigest, match=r"disk\.img\.part\.2"):
        _unbundle(bundle, ident.cloud_key, tmp_path / "out" / "x.img")
    assert list((tmp_path / "out").iterdir()) == []


def test_wrong_private_key_is_a_clear_error(ident, image, tmp_path):
    bundle = _bundle(ident, image, tmp_path / "b")
    stranger = make_identity(tmp_path / "other-pki")
    with pytest.raises(WrongBundleKey):
        _unbundle(bundle, stranger.cloud_key, tmp_path / "x.img")
    assert not (tmp_path / "x.img").exists()


def test_manifest_with_a_wrong_image_digest_is_refused(ident, image, tmp_path):
    bundle = _bundle(ident, image, tmp_path / "b")
    xml = bundle.manifest_path.read_bytes()
    bad = re.sub(rb'(<digest algorithm="SHA1">)[0-9a-f]{40}', rb"\g<1>" + b"0" * 40, xml, count=1)
    with pytest.raises(CorruptImage, match="SHA1"):
        unbundle(parse_manifest(bad), lambda n: open(tmp_path / "b" / n, "rb"), ident.cloud_key,
                 tmp_path / "x.img")
    assert not (tmp_path / "x.img").exists()


def test_signature_verifies_and_any_change_breaks_it(ident, image, tmp_path):
    bundle = _bundle(ident, image, tmp_path / "b")
    xml = bundle.manifest_path.read_bytes()
    assert verify_signature(xml, ident.user_cert)
    assert not verify_signature(xml, ident.cloud_cert)  # signed by the user, not the cloud
    assert not verify_signature(xml.replace(b"<architecture>x86_64", b"<architecture>i386"),
                                ident.user_cert)
    assert not verify_signature(xml.replace(ACCOUNT_ID.encode(), b"999999999999"),
                                ident.user_cert)
    assert not verify_signature(re.sub(rb"<signature>\w+</signature>", b"", xml),
                                ident.user_cert)


def test_manifest_shape_matches_euca2ools(ident, image, tmp_path):
    bundle = _bundle(ident, image, tmp_path / "b", arch="x86_64", kernel_id="aki-12345678",
                     ramdisk_id="ari-12345678",
                     block_device_mappings={"ami": "sda1", "root": "/dev/sda1"})
    xml = bundle.manifest_path.read_bytes()
    assert xml.startswith(b"<manifest><version>2007-10-10</version><bundler>")
    root = ET.fromstring(xml)
    assert [c.tag for c in root] == ["version", "bundler", "machine_configuration", "image",
                                     "signature"]
    assert [c.tag for c in root.find("bundler")] == ["name", "version", "release"]
    mc = root.find("machine_configuration")
    assert [c.tag for c in mc] == ["architecture", "kernel_id", "ramdisk_id",
                                   "block_device_mapping"]
    assert [[(e.tag, e.text) for e in m] for m in mc.find("block_device_mapping")] == [
        [("device", "sda1"), ("virtual", "ami")], [("device", "/dev/sda1"), ("virtual", "root")]]
    img = root.find("image")
    assert [c.tag for c in img] == ["name", "user", "digest", "size", "bundled_size", "type",
                                    "ec2_encrypted_key", "user_encrypted_key",
                                    "ec2_encrypted_iv", "user_encrypted_iv", "parts"]
    assert img.find("digest").attrib == {"algorithm": "SHA1"}
    assert img.find("ec2_encrypted_key").attrib == {"algorithm": "AES-128-CBC"}
    assert img.find("user").text == ACCOUNT_ID and img.find("type").text == "machine"
    assert img.find("size").text == str(image.stat().st_size)
    parts = img.find("parts")
    assert parts.get("count") == str(len(bundle.part_paths))
    assert [c.tag for c in parts[0]] == ["filename", "digest"] and parts[0].get("index") == "0"
    assert parts[0].find("digest").attrib == {"algorithm": "SHA1"}
    # RSA-2048 ciphertexts, hex; the key is a 32-hex-char string inside.
    assert re.fullmatch(r"[0-9a-f]{512}", img.find("ec2_encrypted_key").text)
    m = parse_manifest(xml)
    assert (m.kernel_id, m.ramdisk_id, m.default_kernel_id) == ("aki-12345678", "ari-12345678",
                                                                "aki-12345678")
    assert m.block_device_mappings == (("ami", "sda1"), ("root", "/dev/sda1"))
    assert all(re.fullmatch(r"[0-9a-f]{32}", v) for v in m.decrypt_key_iv(ident.cloud_key))


def test_kernel_bundles_carry_euca2ools_true_marker(ident, image, tmp_path):
    bundle = _bundle(ident, image, tmp_path / "b", image_type="kernel", prefix="vmlinuz")
    m = parse_manifest(bundle.manifest_path.read_bytes())
    assert (m.image_type, m.kernel_id, m.default_kernel_id, m.name) == ("kernel", "true", None,
                                                                        "vmlinuz")


@pytest.mark.parametrize("xml", [b"", b"<manifest>", b"<other/>",
                                 b"<manifest><machine_configuration/></manifest>",
                                 b'<!DOCTYPE x [<!ENTITY a "b">]><manifest/>'])
def test_corrupt_manifests_are_refused(xml):
    with pytest.raises(CorruptManifest):
        parse_manifest(xml)
    assert not verify_signature(xml, b"")


def test_memory_stays_bounded_for_a_64_mib_sparse_image(ident, tmp_path):
    image = tmp_path / "sparse.img"
    with open(image, "wb") as f:
        f.truncate(64 * MiB)
        f.seek(40 * MiB)
        f.write(os.urandom(MiB))  # some data the zeros do not compress away
    gc.collect()
    tracemalloc.start()
    try:
        bundle = bundle_image(image, tmp_path / "b", **ident.bundle_kwargs())
        _, bundle_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        out = _unbundle(bundle, ident.cloud_key, tmp_path / "restored.img")
        _, unbundle_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert bundle_peak < 8 * MiB, bundle_peak
    assert unbundle_peak < 8 * MiB, unbundle_peak
    assert out.stat().st_size == 64 * MiB
    assert out.stat().st_blocks * 512 < 8 * MiB  # the zeros came back as holes
    with open(out, "rb") as restored, open(image, "rb") as original:
        restored.seek(40 * MiB)
        original.seek(40 * MiB)
        assert restored.read(MiB) == original.read(MiB)
