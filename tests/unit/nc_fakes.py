"""Stand-ins for the NC's image cache in InstanceManager tests."""
from __future__ import annotations

from pathlib import Path


class StubCache:
    """Every image is `base`, already cached; pins are recorded."""

    def __init__(self, base: Path | None):
        self.base, self.pins = base, []

    async def ensure(self, source, pin=False):
        if pin:
            self.pins.append(source.image_id)
        return self.base

    def pin(self, image_id):
        self.pins.append(image_id)

    def unpin(self, image_id):
        self.pins.remove(image_id)
