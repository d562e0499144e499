"""EC2/Eucalyptus image bundles (euca-bundle-image's format): make, read, verify, unpack.

See docs/bundles.md for the format and how the tiers use it.
"""
from mallee.bundle.bundler import (DEFAULT_PART_SIZE, Bundle, bundle_image, manifest_filename,
                                   part_filename)
from mallee.bundle.errors import (BadPartDigest, BundleError, CorruptImage, CorruptManifest,
                                  WrongBundleKey)
from mallee.bundle.manifest import Manifest, ManifestPart, parse_manifest, verify_signature
from mallee.bundle.unbundler import Unbundler, unbundle, unbundle_async

__all__ = ["DEFAULT_PART_SIZE", "Bundle", "bundle_image", "manifest_filename", "part_filename",
           "BadPartDigest", "BundleError", "CorruptImage", "CorruptManifest", "WrongBundleKey",
           "Manifest", "ManifestPart", "parse_manifest", "verify_signature",
           "Unbundler", "unbundle", "unbundle_async"]
# Uploading needs boto3: import it from mallee.bundle.upload (the NC never does).
