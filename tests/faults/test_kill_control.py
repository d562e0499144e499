"""Kill -9 the CLC and the CC in the middle of launches and terminates, at
each step (rows committed, request sent, reply not yet given) and from
outside under a burst of launches; start it again and everything converges
(tests/faults/instances.py says what that means)."""
from __future__ import annotations

import threading
import time

import pytest
from botocore.exceptions import ClientError

from tests.faults.instances import converge, every_instance, wait_for_room
from tests.faults.objects import FAILED_CALL
from tests.faults.processes import Component
from tests.faults.survival import SURVIVED
from tests.harness import Cloud

pytestmark = pytest.mark.faults
# Room for every instance the cases make (they are terminated only by some of them).
FAST = {"MALLEE_CLC_RESEND_AFTER_SECONDS": "2", "MALLEE_NC_CORES": "32",
        "MALLEE_NC_MEMORY_MB": "16384", "MALLEE_CLC_MAX_INSTANCES_PER_ACCOUNT": "64"}


def _cloud(tmp_path_factory, apart: str):
    """A cloud whose `apart` component is a process of its own."""
    cloud = Cloud(tmp_path_factory.mktemp(f"kill-{apart}"),
                  tuple(c for c in ("walrus", "sc", "nc", "cc", "clc") if c != apart),
                  env=FAST).start()
    component = Component(cloud, apart).start()
    return cloud, component


def _image(cloud: Cloud, tmp_path_factory) -> str:
    return cloud.publish_test_image(tmp_path_factory.mktemp("img"))["image"]


@pytest.fixture(scope="module", params=["clc", "cc"])
def control(request, tmp_path_factory):
    cloud, component = _cloud(tmp_path_factory, request.param)
    try:
        ec2 = cloud.client("ec2", read_timeout=30, connect_timeout=5)
        control = {"cloud": cloud, "component": component, "ec2": ec2,
                   "image": _image(cloud, tmp_path_factory), "returned": set()}
        component.stop()
        _start(control)
        control["kept"] = _launch(control)  # running before any fault, and after all of them
        yield control
    finally:
        component.stop()
        cloud.stop()


def _start(control, crash_at: str | None = None) -> None:
    """Start the component and wait (bounded) until the CLC sees room again
    (there is room for 32 m1.small: the cases make fewer)."""
    control["component"].start(crash_at=crash_at)
    wait_for_room(control["cloud"], control["ec2"])


def _restart_and_converge(control, fault: str) -> None:
    cloud, component, ec2 = control["cloud"], control["component"], control["ec2"]
    if component.proc.poll() is None:
        component.wait_killed()
    _start(control)
    states = converge(cloud, ec2, control["returned"])
    seen = every_instance(ec2)
    assert all(seen[i]["State"]["Name"] == "running" for i in control["kept"]), \
        "instances running before the fault did not survive it"
    SURVIVED.record(component.name, fault,
                    f"{sum(states.values())} instances ({len(control['returned'])} returned): "
                    + ", ".join(f"{n} {s}" for s, n in sorted(states.items()))
                    + "; 0 orphans on the node, 0 addresses held twice")


def _launch(control, count: int = 2) -> list[str]:
    made = control["ec2"].run_instances(ImageId=control["image"], MinCount=count,
                                        MaxCount=count, InstanceType="m1.small")
    ids = [i["InstanceId"] for i in made["Instances"]]
    control["returned"].update(ids)
    return ids


def _running(control, ids: list[str]) -> None:
    assert control["cloud"].wait_for(lambda: all(
        every_instance(control["ec2"])[i]["State"]["Name"] == "running" for i in ids),
        timeout=60), ids


LAUNCH_POINTS = {"clc": ["clc.run.recorded", "clc.run.sent"],
                 "cc": ["cc.launch.placed", "cc.launch.sent"]}
TERMINATE_POINTS = {"clc": ["clc.terminate.marked", "clc.terminate.sent"],
                    "cc": ["cc.terminate.sent"]}


def test_kill_in_launch(control):
    component = control["component"]
    for point in LAUNCH_POINTS[component.name]:
        component.stop()
        _start(control, point)
        try:
            _launch(control)  # the CC's points come after the CLC has answered
        except FAILED_CALL:
            assert component.name == "clc"  # killed before it answered: ids unknown
        _restart_and_converge(control, f"RunInstances ×2, kill at {point.split('.', 1)[1]}")


def test_kill_in_terminate(control):
    component, ec2 = control["component"], control["ec2"]
    for point in TERMINATE_POINTS[component.name]:
        ids = _launch(control)
        _running(control, ids)
        component.stop()
        _start(control, point)
        try:
            ec2.terminate_instances(InstanceIds=ids)
        except FAILED_CALL:
            assert component.name == "clc"
        _restart_and_converge(control, f"TerminateInstances ×2, kill at "
                                       f"{point.split('.', 1)[1]}")
        states = {i: every_instance(ec2)[i]["State"]["Name"] for i in ids}
        assert set(states.values()) == {"terminated"}, states


def test_kill_from_outside_during_a_burst(control):
    """No crash point: kill -9 by pid while four clients launch and one terminates."""
    component, ec2 = control["component"], control["ec2"]
    victims = _launch(control)
    _running(control, victims)

    def launch():
        for _ in range(3):
            try:
                _launch(control, 1)
            except FAILED_CALL:
                return  # the CLC is gone: what it answered before counts
            except ClientError as err:  # the CC is gone: the CLC sees no capacity
                assert err.response["Error"]["Code"] == "InsufficientInstanceCapacity", err
                return
    threads = [threading.Thread(target=launch) for _ in range(4)]
    threads.append(threading.Thread(target=lambda: _ignore(
        lambda: ec2.terminate_instances(InstanceIds=victims))))
    for t in threads:
        t.start()
    time.sleep(0.3)
    component.kill()
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads)
    _restart_and_converge(control, "launch burst + terminate, kill -9 from outside")


def _ignore(call):
    try:
        call()
    except FAILED_CALL:
        pass
