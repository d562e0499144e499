"""FakeDriver's boot delay ([nc] fake_boot_seconds, `mallee sim up --boot-seconds`):
a power-on takes that long, and holds up no other domain meanwhile."""
from __future__ import annotations

import threading
import time

from node_controller.hypervisor import DomainSpec, DomainState, FakeDriver


def test_a_power_on_takes_the_boot_time_and_blocks_no_one_else():
    driver = FakeDriver(boot_seconds=0.4)
    for name in ("a", "b"):
        driver.define(DomainSpec(name=name, vcpus=1, memory_mb=64))
    booting = threading.Thread(target=driver.start, args=("a",))
    started = time.monotonic()
    booting.start()
    time.sleep(0.05)
    # while "a" boots, the node still answers about its domains at once
    before = time.monotonic()
    assert {d.name: d.state for d in driver.list_domains()}["a"] == DomainState.SHUTOFF
    assert time.monotonic() - before < 0.1
    booting.join(5)
    assert time.monotonic() - started >= 0.4
    assert driver.domain_state("a") == DomainState.RUNNING

    driver.start("b", paused=True)  # no boot while paused: the wait is at the resume
    assert driver.domain_state("b") == DomainState.PAUSED
    before = time.monotonic()
    driver.resume("b")
    assert time.monotonic() - before >= 0.4 and driver.domain_state("b") == DomainState.RUNNING
    before = time.monotonic()
    driver.start("a")
    driver.resume("b")  # already running: nothing to wait for
    assert time.monotonic() - before < 0.1


def test_no_boot_time_by_default():
    driver = FakeDriver()
    driver.define(DomainSpec(name="a", vcpus=1, memory_mb=64))
    before = time.monotonic()
    driver.start("a")
    assert time.monotonic() - before < 0.1
