"""Dropbear for the test image: the host's own binaries (Debian's dropbear-bin)
and the shared libraries `ldd` says they need, copied at the same paths, so
the image still builds without root and in well under a second."""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

DROPBEAR = Path("/usr/sbin/dropbear")
DROPBEARKEY = Path("/usr/bin/dropbearkey")
PASSWD = b"root:x:0:0:root:/root:/bin/sh\n"
GROUP = b"root:x:0:\n"
SHELLS = b"/bin/sh\n"

_LDD_PATH = re.compile(r"(/\S+)")


def shared_libraries(binary: Path) -> list[Path]:
    """Absolute paths of the libraries (and the loader) a binary needs."""
    out = subprocess.run(["ldd", str(binary)], check=True, capture_output=True, text=True).stdout
    libs = []
    for line in out.splitlines():
        target = line.split("=>", 1)[-1]
        match = _LDD_PATH.search(target)
        if match:
            libs.append(Path(match.group(1)))
    return libs


def ssh_server_files() -> list[tuple[str, bytes, int]]:
    """(path inside the guest, content, mode) for dropbear, its libraries and
    the account files it reads. Raises FileNotFoundError without dropbear-bin."""
    for binary in (DROPBEAR, DROPBEARKEY):
        if not binary.is_file():
            raise FileNotFoundError(f"no {binary}: install dropbear-bin")
    files: dict[str, tuple[bytes, int]] = {}
    for binary in (DROPBEAR, DROPBEARKEY):
        files[str(binary).lstrip("/")] = (binary.read_bytes(), 0o755)
        for lib in shared_libraries(binary):
            # resolve symlinks (libz.so.1 -> libz.so.1.2.13); the guest needs the name ldd gave
            files[str(lib).lstrip("/")] = (lib.resolve().read_bytes(), 0o755)
    files["etc/passwd"] = (PASSWD, 0o644)
    files["etc/group"] = (GROUP, 0o644)
    files["etc/shells"] = (SHELLS, 0o644)
    return [(path, data, mode) for path, (data, mode) in sorted(files.items())]


def parent_dirs(paths: list[str]) -> list[str]:
    """Every directory the files need, parents first."""
    dirs = set()
    for path in paths:
        parts = path.split("/")[:-1]
        dirs.update("/".join(parts[:i]) for i in range(1, len(parts) + 1))
    return sorted(dirs, key=lambda d: (d.count("/"), d))
