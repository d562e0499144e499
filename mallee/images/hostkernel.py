"""The host's own Debian kernel and its modules, which the test image reuses."""
from __future__ import annotations

import gzip
import lzma
import platform
import subprocess
from pathlib import Path

BOOT_DIR = Path("/boot")
MODULES_ROOT = Path("/lib/modules")


def host_kernel() -> Path | None:
    """The running kernel's image if /boot has it (containers may run another
    kernel than the one installed), else the newest installed one."""
    running = BOOT_DIR / f"vmlinuz-{platform.release()}"
    if running.is_file():
        return running
    installed = sorted(BOOT_DIR.glob("vmlinuz-*"))
    return installed[-1] if installed else None


def kernel_version(kernel: Path) -> str:
    return kernel.name.removeprefix("vmlinuz-")


def modules_in_load_order(version: str, wanted: list[str]) -> list[Path]:
    """Module files for `wanted` and everything they depend on, dependencies
    first, read from modules.dep (each line lists a module's full dependency
    chain, innermost last, as modprobe loads them in reverse)."""
    modules_dir = MODULES_ROOT / version
    dependencies: dict[str, list[str]] = {}
    for line in (modules_dir / "modules.dep").read_text().splitlines():
        module, _, deps = line.partition(":")
        dependencies[module_name(module)] = [module, *deps.split()]
    ordered: list[Path] = []
    for name in wanted:
        if name not in dependencies:
            raise LookupError(f"kernel {version} has no loadable module {name!r} (built in?)")
        module, *deps = dependencies[name]
        for relative in [*reversed(deps), module]:
            path = modules_dir / relative
            if path not in ordered:
                ordered.append(path)
    return ordered


def module_name(path: str | Path) -> str:
    return Path(path).name.split(".ko")[0].replace("-", "_")


def read_module(path: Path) -> bytes:
    """An uncompressed .ko: busybox insmod cannot load compressed modules."""
    data = path.read_bytes()
    if path.suffix == ".xz":
        return lzma.decompress(data)
    if path.suffix == ".gz":
        return gzip.decompress(data)
    if path.suffix == ".zst":
        return subprocess.run(["zstd", "-dc", str(path)], capture_output=True, check=True).stdout
    return data
