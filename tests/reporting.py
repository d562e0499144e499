"""A summary line that `pytest -q` still shows (the standing suites' counts)."""
from __future__ import annotations

import contextlib


def write_summary(request, line: str) -> None:
    """Write through the terminal reporter, outside output capture."""
    plugins = request.config.pluginmanager
    reporter, capture = plugins.getplugin("terminalreporter"), plugins.getplugin("capturemanager")
    uncaptured = capture.global_and_fixture_disabled() if capture else contextlib.nullcontext()
    with uncaptured:
        if reporter is not None:
            reporter.write_line("")
            reporter.write_line(line)
        else:
            print(line)
