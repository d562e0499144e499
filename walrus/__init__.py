"""Walrus: Mallee's S3-compatible bucket store (images, bundles, user data, snapshots)."""


def sites(settings):
    from walrus.app import sites as _sites
    return _sites(settings)
