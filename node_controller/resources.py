"""What a node can give to instances: cores, memory and disk, total and free."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from mallee.settings import NcSettings


@dataclass(frozen=True)
class Capacity:
    cores: int
    memory_mb: int
    disk_gb: int


def host_memory_mb() -> int:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) // 1024
    return 0


def host_capacity(nc: NcSettings, instance_dir: Path) -> Capacity:
    """Configured values win; 0 means measure the host, less what it keeps back."""
    instance_dir.mkdir(parents=True, exist_ok=True)
    st = os.statvfs(instance_dir)
    disk_gb = st.f_blocks * st.f_frsize // 2**30
    return Capacity(
        cores=nc.cores or os.cpu_count() or 1,
        memory_mb=nc.memory_mb or max(0, host_memory_mb() - nc.reserved_memory_mb),
        disk_gb=nc.disk_gb or max(0, disk_gb - nc.reserved_disk_gb),
    )


def free_disk_gb(instance_dir: Path, reserved_gb: int) -> int:
    st = os.statvfs(instance_dir)
    return max(0, st.f_bavail * st.f_frsize // 2**30 - reserved_gb)
