from __future__ import annotations

from mallee.errors import ApiError


class ImageCacheError(ApiError):
    """An image could not be fetched or prepared on this node (the bundle itself may be fine;
    bundle problems are mallee.bundle.BundleError)."""
    code = "Unavailable"
    status = 503
    default_message = "The image could not be prepared on the node."
