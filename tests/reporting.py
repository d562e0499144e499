"""Summary lines (the standing suites' counts) that `pytest -q` shows at the
end, also when the suite runs on several xdist workers.

A worker's terminal output is not shown, so a line goes to a file in a
directory the controlling pytest made (tests/conftest.py); the controller
prints every worker's lines in its terminal summary.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

DIRECTORY = "PYTEST_SUMMARY_LINES_DIR"  # not MALLEE_*: settings refuse names they lack


def write_summary(line: str) -> None:
    directory = os.environ.get(DIRECTORY)
    if directory is None:  # not run under tests/conftest.py: say it now
        print(line)
        return
    with open(Path(directory) / f"{os.getpid()}.txt", "a") as out:
        out.write(line.rstrip("\n") + "\n")


def start() -> str:
    """Called once by the controlling process: workers inherit the directory."""
    directory = tempfile.mkdtemp(prefix="mallee-test-summary-")
    os.environ[DIRECTORY] = directory
    return directory


def lines(directory: str) -> list[str]:
    """Every line written, worker by worker, then the directory is gone."""
    found = []
    for path in sorted(Path(directory).glob("*.txt")):
        found.extend(path.read_text().splitlines())
    shutil.rmtree(directory, ignore_errors=True)
    return found
