"""Shared fixtures live in the conftest files beside the tests; helpers in
modules of this package (tests.harness, tests.api.walrus.helpers, ...).

`make test` runs the suite on two pytest-xdist workers with the scheduler
below: the suites that drive the host itself (libvirt guests, tgtd, network
namespaces, kill -9 of components, Terraform and Ansible against a guest
cloud) are one unit of work, run one after another on one worker as they
always were, and come first; every other file is a unit of its own (its
module fixtures set up once) and runs on whichever worker is free. So the
in-process API suites overlap the minutes the host suites wait for TCG
guests.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from tests import reporting

TESTS = Path(__file__).parent
HOST_SUITES = {"integration", "faults", "ebs", "clients", "libvirt"}
HOST = "host suites"


def work_unit(nodeid: str) -> str:
    """tests/api/test_x.py::test_y -> the file; every host suite's test -> HOST."""
    path = nodeid.split("::", 1)[0]
    parts = Path(path).parts
    return HOST if len(parts) > 1 and parts[1] in HOST_SUITES else path


def pytest_collection_modifyitems(items):
    # Host suites first (a stable sort keeps every file's own order), so the
    # long unit starts at once and the short files fill the other worker.
    items.sort(key=lambda item: work_unit(item.nodeid) != HOST)


@pytest.hookimpl(optionalhook=True)  # pytest -p no:xdist runs without it
def pytest_xdist_make_scheduler(config, log):
    from xdist.scheduler import LoadScopeScheduling  # only when run with -n

    class HostSuitesTogether(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return work_unit(nodeid)

    config.option.loadscopereorder = False  # the collection order above
    return HostSuitesTogether(config, log)


def pytest_configure(config):
    if not hasattr(config, "workerinput"):  # the controller, or a run without xdist
        config.stash[SUMMARY] = reporting.start()


def pytest_terminal_summary(terminalreporter, config):
    directory = config.stash.get(SUMMARY, None)
    if directory is not None:
        for line in reporting.lines(directory):
            terminalreporter.write_line(line)


SUMMARY = pytest.StashKey[str]()
