from __future__ import annotations

from mallee.errors import ApiError


class ImageCacheError(ApiError):
    """An image could not be fetched or prepared on this node (the bundle itself may be fine;
    bundle problems are mallee.bundle.BundleError)."""
    code = "Unavailable"
    status = 503
    default_message = "The image could not be prepared on the node."


class ImageChanged(ImageCacheError):
    """The bundle in Walrus is not the one registered: its manifest's digest
    differs from the one RegisterImage kept, or a part differs from it."""
    code = "InvalidManifest"
    status = 400
    default_message = "The image's bundle has changed since it was registered."

    @classmethod
    def of(cls, image_id: str, what: str) -> "ImageChanged":
        return cls(f"image {image_id} has changed since it was registered ({what}); "
                   f"its owner must register the new bundle as a new image")
