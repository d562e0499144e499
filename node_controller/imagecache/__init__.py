"""The node's image cache and the qemu-img helpers for instance disks (docs/bundles.md)."""
from node_controller.imagecache.cache import ENTRY_FILES, CacheEntry, ImageCache, ImageSource
from node_controller.imagecache.errors import ImageCacheError
from node_controller.imagecache.qemu_img import make_overlay, make_sparse

__all__ = ["ENTRY_FILES", "CacheEntry", "ImageCache", "ImageSource", "ImageCacheError",
           "make_overlay", "make_sparse"]
