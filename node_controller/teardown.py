"""The NC's entry point for ending a node: after its process has stopped, end
the guests it started (those with an instance directory under its state dir)
and remove its data plane, so nothing of the node is left. `mallee down` and
the test harness call it."""
from __future__ import annotations

from mallee.settings import Settings
from node_controller.hypervisor import DomainNotFound
from node_controller.network.dataplane import NetworkConfig, teardown_all
from node_controller.network.ovn_metadata import remove_leftovers


def end_node(settings: Settings) -> list[str]:
    """Returns the instance ids it ended."""
    instances_dir = settings.nc.state_path / "instances"
    ended = sorted(p.name for p in instances_dir.glob("i-*")) if instances_dir.exists() else []
    if settings.nc.driver != "libvirt":
        return ended  # the fake driver's guests ended with its process
    if ended:
        from node_controller.hypervisor.libvirt_driver import LibvirtDriver
        driver = LibvirtDriver(settings.nc.libvirt_uri, domain_type="qemu")  # no probe
        try:
            for name in ended:
                for step in (driver.destroy, driver.undefine):
                    try:
                        step(name)
                    except DomainNotFound:
                        pass
        finally:
            driver.close()
    teardown_all(settings.nc.name, NetworkConfig.from_settings(settings).link)
    remove_leftovers(settings.nc.name)  # VPC mode: metadata namespaces of a killed NC
    return ended
