"""The CLC's services wired together once per process (created by create_app)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import aiosqlite

from cloud_controller.services.accounts import AccountService
from cloud_controller.services.clusters import ClusterMonitor
from cloud_controller.services.images import ImageService
from cloud_controller.services.instances import InstanceService
from cloud_controller.services.launcher import Launcher
from cloud_controller.services.keypairs import KeyPairService
from cloud_controller.services.tags import TagService
from cloud_controller.services.walrus_sync import WalrusSync
from mallee.settings import Settings


@dataclass
class Cloud:
    settings: Settings
    db: aiosqlite.Connection
    accounts: AccountService
    keypairs: KeyPairService
    tags: TagService
    clusters: ClusterMonitor
    walrus: WalrusSync
    images: ImageService
    instances: InstanceService
    launcher: Launcher
    # EDGE networking (services/vpcs.py, security_groups.py, addresses.py, network_view.py)
    vpcs: Any = None
    security_groups: Any = None
    addresses: Any = None
    network: Any = None
