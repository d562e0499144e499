"""The bundle manifest (`<manifest>` version 2007-10-10), as euca2ools 3 writes it.

Layout (one line, no XML declaration, element order as euca2ools' BundleManifest):

    <manifest><version>2007-10-10</version>
      <bundler><name/><version/><release/></bundler>
      <machine_configuration><architecture/>[<kernel_id/>][<ramdisk_id/>]
        [<block_device_mapping><mapping><device/><virtual/></mapping>...</block_device_mapping>]
        [<product_codes><product_code/>...</product_codes>]</machine_configuration>
      <image><name/><user/><digest algorithm="SHA1"/><size/><bundled_size/><type/>
        <ec2_encrypted_key algorithm="AES-128-CBC"/><user_encrypted_key algorithm=.../>
        <ec2_encrypted_iv/><user_encrypted_iv/>
        <parts count="N"><part index="i"><filename/><digest algorithm="SHA1"/></part>...</parts>
      </image>
      <signature>hex RSA-SHA1 over the bytes of <machine_configuration>...</image></signature>
    </manifest>

The signature covers the serialized `<machine_configuration>` element followed
directly by the `<image>` element. Verification takes those two substrings
from the manifest's own bytes (as Eucalyptus's cloud does), so a manifest
verifies exactly as written, whatever its whitespace elsewhere.
"""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field, replace

from mallee.bundle import crypto
from mallee.bundle.errors import CorruptManifest, WrongBundleKey

MANIFEST_VERSION = "2007-10-10"
DIGEST_ALGORITHM = "SHA1"
IMAGE_TYPES = ("machine", "kernel", "ramdisk")
BUNDLER_NAME = "mallee"
BUNDLER_VERSION = "0.1.0"


@dataclass(frozen=True)
class ManifestPart:
    index: int
    filename: str
    digest: str  # hex SHA1 of the part file's bytes


@dataclass(frozen=True)
class Manifest:
    architecture: str
    name: str                 # the image's file name (the bundle prefix)
    user: str                 # the bundling account's id
    image_type: str           # machine | kernel | ramdisk
    digest: str               # hex SHA1 of the tar stream (before gzip)
    size: int                 # the image file's size in bytes
    bundled_size: int         # sum of the parts' sizes
    ec2_encrypted_key: str
    user_encrypted_key: str
    ec2_encrypted_iv: str
    user_encrypted_iv: str
    parts: tuple[ManifestPart, ...]
    kernel_id: str | None = None
    ramdisk_id: str | None = None
    block_device_mappings: tuple[tuple[str, str], ...] = ()  # (virtual, device)
    product_codes: tuple[str, ...] = ()
    signature: str = ""
    digest_algorithm: str = DIGEST_ALGORITHM
    enc_algorithm: str = crypto.ENC_ALGORITHM
    version: str = MANIFEST_VERSION
    bundler: tuple[str, str, str] = field(default=(BUNDLER_NAME, BUNDLER_VERSION, "0"))

    @property
    def default_kernel_id(self) -> str | None:
        """The aki- a machine image boots with; None for kernel bundles' marker "true"."""
        return None if self.kernel_id in (None, "true") else self.kernel_id

    @property
    def default_ramdisk_id(self) -> str | None:
        return None if self.ramdisk_id in (None, "true") else self.ramdisk_id

    def decrypt_key_iv(self, private_key_pem: bytes) -> tuple[str, str]:
        """The AES key and IV, opened with the cloud's key (or, failing that, the user's)."""
        try:
            return (crypto.decrypt_hex_secret(self.ec2_encrypted_key, private_key_pem),
                    crypto.decrypt_hex_secret(self.ec2_encrypted_iv, private_key_pem))
        except WrongBundleKey:
            return (crypto.decrypt_hex_secret(self.user_encrypted_key, private_key_pem),
                    crypto.decrypt_hex_secret(self.user_encrypted_iv, private_key_pem))


# --- writing ------------------------------------------------------------------
def _child(parent: ET.Element, tag: str, text: str | int | None = None,
           **attrs: str) -> ET.Element:
    element = ET.SubElement(parent, tag, attrs)
    if text is not None:
        element.text = str(text)
    return element


def _machine_configuration(m: Manifest) -> ET.Element:
    mc = ET.Element("machine_configuration")
    _child(mc, "architecture", m.architecture)
    # euca2ools writes kernel_id/ramdisk_id for every image type: Eucalyptus marks
    # kernel and ramdisk bundles with the value "true".
    if m.kernel_id:
        _child(mc, "kernel_id", m.kernel_id)
    if m.ramdisk_id:
        _child(mc, "ramdisk_id", m.ramdisk_id)
    if m.image_type == "machine" and m.block_device_mappings:
        bdm = _child(mc, "block_device_mapping")
        for virtual, device in sorted(m.block_device_mappings):
            mapping = _child(bdm, "mapping")
            _child(mapping, "device", device)
            _child(mapping, "virtual", virtual)
    if m.image_type == "machine" and m.product_codes:
        codes = _child(mc, "product_codes")
        for code in m.product_codes:
            _child(codes, "product_code", code)
    return mc


def _image(m: Manifest) -> ET.Element:
    image = ET.Element("image")
    _child(image, "name", m.name)
    _child(image, "user", m.user)
    _child(image, "digest", m.digest, algorithm=m.digest_algorithm)
    _child(image, "size", m.size)
    _child(image, "bundled_size", m.bundled_size)
    _child(image, "type", m.image_type)
    _child(image, "ec2_encrypted_key", m.ec2_encrypted_key, algorithm=m.enc_algorithm)
    _child(image, "user_encrypted_key", m.user_encrypted_key, algorithm=m.enc_algorithm)
    _child(image, "ec2_encrypted_iv", m.ec2_encrypted_iv)
    _child(image, "user_encrypted_iv", m.user_encrypted_iv)
    parts = _child(image, "parts", count=str(len(m.parts)))
    for part in m.parts:
        element = _child(parts, "part", index=str(part.index))
        _child(element, "filename", part.filename)
        _child(element, "digest", part.digest, algorithm=m.digest_algorithm)
    return image


def _bytes(element: ET.Element) -> bytes:
    return ET.tostring(element, encoding="unicode").encode("utf-8")


def sign_and_render(manifest: Manifest, user_key_pem: bytes) -> tuple[Manifest, bytes]:
    """Sign the manifest with the user's key; returns it with its signature, and its XML."""
    signed_part = _bytes(_machine_configuration(manifest)) + _bytes(_image(manifest))
    signature = crypto.sign_sha1_hex(signed_part, user_key_pem)
    bundler = ET.Element("bundler")
    for tag, value in zip(("name", "version", "release"), manifest.bundler):
        _child(bundler, tag, value)
    xml = (b"<manifest>" + _bytes(_child(ET.Element("x"), "version", manifest.version))
           + _bytes(bundler) + signed_part
           + _bytes(_child(ET.Element("x"), "signature", signature)) + b"</manifest>")
    return replace(manifest, signature=signature), xml


# --- reading ------------------------------------------------------------------
def _text(parent: ET.Element, path: str, required: bool = True) -> str | None:
    element = parent.find(path)
    if element is None or element.text is None or not element.text.strip():
        if required:
            raise CorruptManifest(f"the manifest has no <{path}>")
        return None
    return element.text.strip()


def _int(parent: ET.Element, path: str) -> int:
    value = _text(parent, path)
    try:
        return int(value)
    except ValueError:
        raise CorruptManifest(f"the manifest's <{path}> is not a number: {value!r}") from None


def _parts(image: ET.Element) -> tuple[ManifestPart, ...]:
    container = image.find("parts")
    if container is None:
        raise CorruptManifest("the manifest has no <image><parts>")
    parts = []
    for element in container.findall("part"):
        try:
            index = int(element.get("index", ""))
        except ValueError:
            raise CorruptManifest("a manifest <part> has no numeric index") from None
        parts.append(ManifestPart(index, _text(element, "filename"), _text(element, "digest")))
    parts.sort(key=lambda p: p.index)
    declared = container.get("count")
    if [p.index for p in parts] != list(range(len(parts))) or not parts or (
            declared is not None and declared != str(len(parts))):
        raise CorruptManifest("the manifest's parts are not numbered 0..count-1")
    if any("/" in p.filename or p.filename in ("", ".", "..") for p in parts):
        raise CorruptManifest("a manifest part's file name is not a plain file name")
    return tuple(parts)


def _mappings(mc: ET.Element) -> tuple[tuple[str, str], ...]:
    # euca2ools writes block_device_mapping/mapping; its own reader looks for
    # block_device_mappings/block_device_mapping, so accept both.
    found = mc.findall("block_device_mapping/mapping") + \
        mc.findall("block_device_mappings/block_device_mapping")
    return tuple(sorted((_text(m, "virtual"), _text(m, "device")) for m in found))


def parse_manifest(xml_bytes: bytes) -> Manifest:
    if b"<!DOCTYPE" in xml_bytes or b"<!ENTITY" in xml_bytes:
        raise CorruptManifest("a manifest may not carry a DTD or entities")
    try:
        root = ET.fromstring(xml_bytes)
    except ET.ParseError as err:
        raise CorruptManifest(f"the manifest is not well-formed XML ({err})") from None
    if root.tag != "manifest":
        raise CorruptManifest(f"the document is a <{root.tag}>, not a <manifest>")
    mc, image = root.find("machine_configuration"), root.find("image")
    if mc is None or image is None:
        raise CorruptManifest("the manifest lacks <machine_configuration> or <image>")
    image_type = _text(image, "type")
    if image_type not in IMAGE_TYPES:
        raise CorruptManifest(f"unknown image type {image_type!r}")
    digest = image.find("digest")
    key = image.find("ec2_encrypted_key")
    return Manifest(
        version=_text(root, "version"),
        bundler=tuple(_text(root, f"bundler/{t}", required=False) or ""
                      for t in ("name", "version", "release")),
        architecture=_text(mc, "architecture"),
        kernel_id=_text(mc, "kernel_id", required=False),
        ramdisk_id=_text(mc, "ramdisk_id", required=False),
        block_device_mappings=_mappings(mc),
        product_codes=tuple(e.text.strip() for e in mc.findall("product_codes/product_code")
                            if e.text and e.text.strip()),
        name=_text(image, "name"),
        user=_text(image, "user"),
        image_type=image_type,
        digest=_text(image, "digest"),
        digest_algorithm=(digest.get("algorithm") or DIGEST_ALGORITHM).upper(),
        size=_int(image, "size"),
        bundled_size=_int(image, "bundled_size"),
        ec2_encrypted_key=_text(image, "ec2_encrypted_key"),
        user_encrypted_key=_text(image, "user_encrypted_key"),
        ec2_encrypted_iv=_text(image, "ec2_encrypted_iv"),
        user_encrypted_iv=_text(image, "user_encrypted_iv"),
        enc_algorithm=(key.get("algorithm") or crypto.ENC_ALGORITHM).upper(),
        parts=_parts(image),
        signature=_text(root, "signature", required=False) or "",
    )


_MC = re.compile(rb"<machine_configuration[\s>].*?</machine_configuration>", re.S)
_IMAGE = re.compile(rb"<image[\s>].*</image>", re.S)


def signed_bytes(xml_bytes: bytes) -> bytes | None:
    """The exact bytes the signature covers: <machine_configuration>...</...><image>...</image>."""
    mc, image = _MC.search(xml_bytes), _IMAGE.search(xml_bytes)
    if mc is None or image is None:
        return None
    return mc.group(0) + image.group(0)


def verify_signature(manifest_xml_bytes: bytes, cert_pem: bytes) -> bool:
    """True if the manifest was signed by the key of `cert_pem` and not changed since."""
    match = re.search(rb"<signature>\s*([0-9a-fA-F]+)\s*</signature>", manifest_xml_bytes)
    covered = signed_bytes(manifest_xml_bytes)
    if match is None or covered is None:
        return False
    return crypto.verify_sha1_hex(covered, match.group(1).decode(), cert_pem)
