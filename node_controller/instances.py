"""The instances on this node: prepare, boot, watch, end.

The NC keeps no database: libvirt's domains and the instance directories
(`<state_dir>/instances/<id>/spec.json`) are the truth, so a restarted NC
finds its instances again. Every call is idempotent on the instance id.
"""
from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import shutil
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from mallee import errors
from mallee.faults import crash_point
from mallee.files import write_atomic, write_json_atomic
from mallee.metrics import TierMetrics
from node_controller.hypervisor import (
    DirectKernelBoot,
    DomainNotFound,
    DomainSpec,
    DomainState,
    FileDisk,
    Hypervisor,
    TapInterface,
    read_console_tail,
)
from node_controller.ebs_disks import ROOT_DEV, secret_usage, target_dev, volume_disk
from node_controller.hypervisor.console import trim_console
from node_controller.hypervisor.guest_files import make_guest_dir
from node_controller.imagecache import ImageCache, ImageSource, make_overlay, make_sparse
from node_controller.network.ovn_plug import OvnPlug, nic_taps, vpc_port
from node_controller.network.port import Port
from node_controller.network.service import NodeNetwork

log = logging.getLogger(__name__)

KERNEL_CMDLINE = "console=ttyS0 root=/dev/vda panic=-1"
SWAP_GB = 0.5
GiB = 2**30
CONSOLE_TRIM_SECONDS = 1.0
LAUNCHED = "launched"  # in the instance dir once the guest has been resumed: the launch is done
STOP_GRACE_SECONDS = 60.0  # a stop waits this long for the guest to power off (ACPI), then pulls the plug


@dataclass
class Instance:
    spec: dict
    directory: Path
    state: str = "pending"  # pending | running | shutoff | failed
    reason: str | None = None
    images: list[str] = field(default_factory=list)  # pinned cache entries
    task: asyncio.Task | None = None
    # The CHAP passwords of its volumes' exports (secret usage -> password): held in
    # memory only until the domain is defined (libvirt keeps them then), never on disk.
    secrets: dict[str, str] = field(default_factory=dict)
    stopping: asyncio.Task | None = None

    @property
    def volumes(self) -> list[dict]:
        """The EBS volumes it boots with ({volume_id, device, root, connection}),
        the root volume first."""
        return sorted(self.spec.get("volumes") or (), key=lambda v: not v.get("root"))

    @property
    def id(self) -> str:
        return self.spec["instance_id"]


GUEST_STATES = ("pending", "running", "shutoff", "failed")  # Instance.state's values


def add_guest_gauges(metrics: TierMetrics, manager: "InstanceManager") -> None:
    """The node's guests by state and its capacity, total and free (capacity less
    what its instances were given), as the NC's gauges (docs/metrics.md)."""
    def guests():
        counts = dict.fromkeys(GUEST_STATES, 0)
        for inst in manager.instances.values():
            counts[inst.state] = counts.get(inst.state, 0) + 1
        return {(state,): n for state, n in counts.items()}
    metrics.add_gauge("mallee_nc_guests", "Instances on this node, by state", ("state",), guests)
    cap = manager.capacity
    # (metric suffix, bytes per unit, capacity): free() gives (cores, memory MiB, disk GiB)
    resources = (("cores", 1, cap.cores), ("memory_bytes", 2**20, cap.memory_mb),
                 ("disk_bytes", 2**30, cap.disk_gb))
    for index, (resource, unit, total) in enumerate(resources):
        what = resource.replace("_bytes", "")
        metrics.add_gauge(f"mallee_nc_capacity_{resource}",
                          f"The {what} this node offers to instances", (),
                          lambda total=total, unit=unit: {(): total * unit})
        metrics.add_gauge(f"mallee_nc_free_{resource}",
                          f"The {what} no instance on this node was given", (),
                          lambda index=index, unit=unit: {(): manager.free()[index] * unit})


class InstanceManager:
    def __init__(self, driver: Hypervisor, cache: ImageCache, root: Path, capacity,
                 network: NodeNetwork | None = None, initiator: str = "",
                 ovn: OvnPlug | None = None):
        self.driver = driver
        self.initiator = initiator  # this node's iSCSI initiator IQN (mallee/iscsi.py)
        self.network = network
        self.ovn = ovn  # VPC mode with real guests: NICs on br-int (network/ovn_plug.py)
        self.cache = cache
        self.root = make_guest_dir(root)
        self.capacity = capacity  # node_controller.resources.Capacity
        self.instances: dict[str, Instance] = {}
        self._domain_locks: dict[str, threading.Lock] = {}

    async def _call(self, fn, *args):
        """Blocking hypervisor calls run off the event loop."""
        return await asyncio.to_thread(fn, *args)

    async def _call_on(self, name: str, fn, *args):
        """A call on one domain, serialised with every other call on it. A
        cancelled launch cannot stop its thread: a terminate must wait for an
        in-flight define, or the domain would be defined after its removal."""
        lock = self._domain_locks.setdefault(name, threading.Lock())

        def locked():
            with lock:
                return fn(*args)
        return await asyncio.to_thread(locked)

    # -- start-up ---------------------------------------------------------------
    async def recover(self) -> None:
        """Find this node's instances again after a restart. A launch the NC
        was killed in the middle of is finished by finish_launches() (once
        the data plane is up); a domain of ours without a spec is removed."""
        domains = {d.name: d for d in await self._call(self.driver.list_domains)}
        for spec_file in sorted(self.root.glob("*/spec.json")):
            spec = json.loads(spec_file.read_text())
            inst = Instance(spec, spec_file.parent)
            domain = domains.get(inst.id)
            # A launched guest is never started again here (its domain gone or
            # off: describe says shutoff); a paused one was killed before resume.
            paused = domain is not None and domain.state == DomainState.PAUSED
            if (inst.directory / LAUNCHED).exists() and not paused:
                inst.state = "running"
                for key in ("image", "kernel", "ramdisk"):
                    if spec.get(key):
                        self.cache.pin(spec[key]["image_id"])
                        inst.images.append(spec[key]["image_id"])
            self.instances[inst.id] = inst
        for name in domains.keys() - self.instances.keys():
            await self._remove_orphan(name)
        log.info("recovered %d instance(s)", len(self.instances))

    def finish_launches(self) -> None:
        """Resume every launch recover() found unfinished, from the step it reached."""
        for inst in self.instances.values():
            if inst.state == "pending" and inst.task is None:
                log.info("%s: finishing the launch a restart interrupted", inst.id)
                inst.task = asyncio.create_task(self._launch(inst))

    async def _remove_orphan(self, name: str) -> None:
        """A domain with no spec (its write was lost, or a terminate was cut
        short): ours only if this NC's instance root made it."""
        try:
            owner = await self._call(self.driver.domain_owner, name)
        except DomainNotFound:
            return
        if owner != str(self.root):
            return
        log.warning("%s: a domain without an instance spec; removing it", name)
        await self._remove_domain(name)
        await asyncio.to_thread(shutil.rmtree, self.root / name, True)

    def _wired(self, spec: dict) -> bool:
        """A NIC only with an address from the CC and a data plane to plug it
        into; otherwise no NIC at all (QEMU's user-mode NIC would let guest
        traffic out of the host)."""
        return bool(spec.get("private_ip")) and self.network is not None and self.network.enforcing

    def _on_ovn(self, spec: dict) -> bool:
        """A NIC on br-int: the spec names an OVN port and this node has a chassis."""
        return vpc_port(spec) is not None and self.ovn is not None

    def network_ports(self) -> list[Port]:
        """The running guests' NICs, for rebuilding the data plane after a restart."""
        return [Port.from_spec(i.spec) for i in self.instances.values()
                if i.state == "running" and self._wired(i.spec)]

    def ovn_specs(self) -> list[dict]:
        """The running guests on br-int, for their metadata after a restart."""
        return [i.spec for i in self.instances.values()
                if i.state == "running" and self._on_ovn(i.spec)]

    # -- capacity -----------------------------------------------------------------
    def used(self) -> tuple[int, int, int]:
        specs = [i.spec for i in self.instances.values()]
        return (sum(s["cpu"] for s in specs), sum(s["memory_mb"] for s in specs),
                sum(s["disk_gb"] for s in specs))

    def free(self) -> tuple[int, int, int]:
        cores, memory, disk = self.used()
        c = self.capacity
        return c.cores - cores, c.memory_mb - memory, c.disk_gb - disk

    # -- run ----------------------------------------------------------------------
    async def run(self, spec: dict) -> dict:
        instance_id = spec["instance_id"]
        existing = self.instances.get(instance_id)
        if existing is not None:
            return {"instance_id": instance_id, "state": existing.state}
        cores, memory, disk = self.free()
        if spec["cpu"] > cores or spec["memory_mb"] > memory or spec["disk_gb"] > disk:
            raise errors.InsufficientInstanceCapacity(
                f"node has {cores} cores, {memory} MiB, {disk} GiB free; "
                f"{spec['instance_type']} needs {spec['cpu']}, {spec['memory_mb']}, "
                f"{spec['disk_gb']}")
        spec, secrets = _without_passwords(spec)
        directory = make_guest_dir(self.root / instance_id)
        write_json_atomic(directory / "spec.json", spec, 0o600)  # user data, keys, URLs
        crash_point("nc.run.spec_written")
        inst = self.instances[instance_id] = Instance(spec, directory, secrets=secrets)
        inst.task = asyncio.create_task(self._launch(inst))
        return {"instance_id": instance_id, "state": inst.state}

    async def _image(self, inst: Instance, key: str) -> Path | None:
        source = inst.spec.get(key)
        if not source:
            return None
        path = await self.cache.ensure(ImageSource.from_params(source), pin=True)
        inst.images.append(source["image_id"])
        return path

    async def _launch(self, inst: Instance) -> None:
        """Each step starts from what the previous one left, so a launch an NC
        restart interrupted resumes here at the step it reached."""
        started = time.monotonic()
        try:
            base = await self._image(inst, "image")
            kernel = await self._image(inst, "kernel")
            ramdisk = await self._image(inst, "ramdisk")
            wired, on_ovn = self._wired(inst.spec), self._on_ovn(inst.spec)
            plugger = self.ovn if on_ovn else self.network if wired else None
            state = await self._domain_state(inst.id)
            if state in (None, DomainState.SHUTOFF):
                # The tap is made fresh for every start; libvirt opens it (managed='no').
                taps = [] if not plugger else await self.ovn.create_taps(inst.spec) \
                    if on_ovn else [await plugger.create_tap(inst.id)]
                if state is None:
                    domain = await self._prepare(inst, base, kernel, ramdisk, taps)
                    await self._put_secrets(inst)
                    await self._call_on(inst.id, self.driver.define, domain)
                    crash_point("nc.launch.defined")
                await self._call_on(inst.id, self.driver.start, inst.id, plugger is not None)
                crash_point("nc.launch.started_paused")
            if plugger:  # vCPUs wait while the tap joins the node's namespace or br-int
                await plugger.plug(inst.spec)
            crash_point("nc.launch.before_resume")
            await self._call_on(inst.id, self.driver.resume, inst.id)
            await asyncio.to_thread(write_atomic, inst.directory / LAUNCHED, "", 0o600)
            inst.state = "running"
            log.info("%s running after %.2fs", inst.id, time.monotonic() - started)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # any failure: report it; the CC cleans up and retries
            inst.state, inst.reason = "failed", _describe(exc)
            log.warning("%s failed to launch: %s", inst.id, inst.reason)
            await self._remove_domain(inst.id)
            await self._drop_secrets(inst)
            await self._unplug(inst.id)

    async def _put_secrets(self, inst: Instance) -> None:
        """Each volume's CHAP password into its libvirt secret, before the domain that
        names them is defined (undefining it removes them)."""
        for volume in inst.volumes:
            usage = secret_usage(volume["volume_id"], inst.id)
            if usage not in inst.secrets:
                raise errors.IncorrectState(
                    f"the CHAP password for {volume['volume_id']} is gone (an NC restart "
                    f"before the guest was defined); the launch must be sent again")
            await self._call(self.driver.put_secret, usage, inst.secrets[usage])

    async def _drop_secrets(self, inst: Instance) -> None:
        for volume in inst.volumes:
            await self._call(self.driver.drop_secret, secret_usage(volume["volume_id"], inst.id))

    async def _domain_state(self, name: str) -> DomainState | None:
        try:
            return await self._call_on(name, self.driver.domain_state, name)
        except DomainNotFound:
            return None

    async def _root_disk(self, inst: Instance, base: Path | None) -> tuple[object, int]:
        """The guest's first disk (vda) and the local bytes it takes: an EBS root
        volume (nothing local, no overlay), or a qcow2 overlay on the image."""
        spec = inst.spec
        volume = next((v for v in inst.volumes if v.get("root")), None)
        if volume is not None:
            return volume_disk(inst.id, volume["volume_id"], volume["connection"],
                               self.initiator, ROOT_DEV), 0
        if base is None:
            raise errors.InvalidParameterValue(f"{inst.id} has neither an image nor a root volume")
        # The overlay grows to its base's virtual size, which the image's
        # owner chose: it must fit the VM type's disk, beside the swap.
        root_bytes = await _virtual_size(base)
        room_gb = spec["disk_gb"] - SWAP_GB
        if root_bytes > room_gb * GiB:
            raise errors.InvalidParameterValue(
                f"the image's root disk is {root_bytes / GiB:.1f} GiB, more than the "
                f"{room_gb:g} GiB that {spec['instance_type']} gives it "
                f"({spec['disk_gb']} GiB less {SWAP_GB:g} GiB of swap)")
        root = await make_overlay(base, inst.directory / "root.qcow2")
        return FileDisk(root, ROOT_DEV, "qcow2", serial="root"), root_bytes

    async def _prepare(self, inst: Instance, base: Path | None, kernel: Path | None,
                       ramdisk: Path | None, taps: list[str]) -> DomainSpec:
        spec, directory = inst.spec, inst.directory
        root, root_bytes = await self._root_disk(inst, base)
        disks = [root]
        ephemeral_gb = spec["disk_gb"] - -(-root_bytes // GiB) - SWAP_GB
        if ephemeral_gb >= 1:
            disks.append(FileDisk(make_sparse(directory / "ephemeral0.raw", int(ephemeral_gb)),
                                  "vdb", "raw", serial="ephemeral0"))
        disks.append(FileDisk(make_sparse(directory / "swap.raw", SWAP_GB), "vdc", "raw",
                              serial="swap"))
        for volume in inst.volumes:  # plugged at the devices they had (a start after a stop)
            if not volume.get("root"):
                disks.append(volume_disk(inst.id, volume["volume_id"], volume["connection"],
                                         self.initiator,
                                         target_dev(volume.get("device", ""),
                                                    (d.target_dev for d in disks))))
        boot = DirectKernelBoot(kernel, ramdisk, KERNEL_CMDLINE) if kernel else None
        console = directory / "console.log"
        console.touch(0o600)
        return DomainSpec(name=inst.id, vcpus=spec["cpu"], memory_mb=spec["memory_mb"],
                          boot=boot, disks=tuple(disks),
                          interfaces=self.nics(spec, taps),
                          console_path=console, owner=str(self.root))

    def nics(self, spec: dict, taps: list[str]) -> tuple[TapInterface, ...]:
        """The domain's NICs: on OVN one per network interface in device-index order
        (the guest's eth0, eth1, ...), each on its tap; an EDGE guest's one."""
        if not taps:
            return ()
        if self._on_ovn(spec):
            return tuple(TapInterface(port["mac"], tap, checksum_offload=False)
                         for (_, port), tap in zip(nic_taps(spec), taps))
        return (TapInterface(spec["mac"], taps[0]),)

    # -- end ------------------------------------------------------------------------
    async def _remove_domain(self, name: str) -> None:
        for step in (self.driver.destroy, self.driver.undefine):
            with contextlib.suppress(DomainNotFound):
                await self._call_on(name, step, name)

    async def _unplug(self, instance_id: str) -> None:
        """Tap, lease, rules, set membership and NAT go; a failure is logged
        (the instance is gone either way) and the next change retries."""
        for plugger in (self.ovn, self.network):  # off br-int before its tap goes
            if plugger is None:
                continue
            try:
                await plugger.unplug(instance_id)
            except Exception as exc:  # noqa: BLE001
                log.warning("%s: network cleanup failed: %s", instance_id, _describe(exc))

    async def terminate(self, instance_id: str) -> dict:
        inst = self.instances.pop(instance_id, None)
        if inst is not None and inst.task is not None and not inst.task.done():
            inst.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await inst.task
        await self._remove_domain(instance_id)
        if inst is not None:  # a launch that failed before its define left them
            await self._drop_secrets(inst)
        crash_point("nc.terminate.domain_removed")
        self._domain_locks.pop(instance_id, None)
        await self._unplug(instance_id)
        directory = inst.directory if inst else self.root / instance_id
        await asyncio.to_thread(shutil.rmtree, directory, True)
        for image_id in inst.images if inst else ():
            self.cache.unpin(image_id)
        return {"instance_id": instance_id, "state": "terminated"}

    async def stop(self, instance_id: str, force: bool = False) -> dict:
        """Shut the guest down (the ACPI power button, STOP_GRACE_SECONDS, then the
        plug; force: the plug at once) and remove it from this node as terminate
        does: domain, taps, directory. Its volumes are not the node's: they stay
        (the CLC ends their exports). Returns at once; describe reports the
        instance `stopping` until it is gone. Asking again joins the stop."""
        inst = self.instances.get(instance_id)
        if inst is None:
            return {"instance_id": instance_id, "state": "stopped"}
        if force:
            await self._call_on(instance_id, self.driver.destroy, instance_id)
        if inst.stopping is None:
            inst.stopping = asyncio.create_task(self._stop(inst, force))
        return {"instance_id": instance_id, "state": "stopping"}

    async def _stop(self, inst: Instance, force: bool) -> None:
        if inst.task is not None and not inst.task.done():
            inst.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await inst.task
        try:
            if not force:
                await self._call_on(inst.id, self.driver.shutdown, inst.id)
                deadline = time.monotonic() + STOP_GRACE_SECONDS
                while time.monotonic() < deadline and await self._domain_state(inst.id) not in (
                        None, DomainState.SHUTOFF, DomainState.CRASHED):
                    await asyncio.sleep(0.5)
        except Exception as exc:  # noqa: BLE001 - the plug is pulled below either way
            log.warning("%s: ACPI shutdown failed: %s", inst.id, _describe(exc))
        log.info("%s stopped; removing it from this node", inst.id)
        await self.terminate(inst.id)

    async def reboot(self, instance_id: str) -> dict:
        self._get(instance_id)
        await self._call_on(instance_id, self.driver.reboot, instance_id)
        return {"instance_id": instance_id}

    def console(self, instance_id: str) -> dict:
        inst = self._get(instance_id)
        tail = read_console_tail(inst.directory / "console.log")
        return {"instance_id": instance_id, "timestamp": time.time(),
                "output": base64.b64encode(tail).decode()}

    async def trim_consoles(self) -> None:
        """Keep every guest's console log bounded (hypervisor/console.py)."""
        for inst in list(self.instances.values()):
            await asyncio.to_thread(trim_console, inst.directory / "console.log")

    async def keep_consoles_bounded(self, interval: float = CONSOLE_TRIM_SECONDS) -> None:
        """The NC's background loop: a guest printing without end fills at most
        a trim interval's worth past the limit."""
        while True:
            try:
                await self.trim_consoles()
            except OSError as exc:
                log.warning("console trim failed: %s", exc)
            await asyncio.sleep(interval)

    def _get(self, instance_id: str) -> Instance:
        inst = self.instances.get(instance_id)
        if inst is None:
            raise errors.InvalidInstanceIDNotFound(f"{instance_id} is not on this node.")
        return inst

    # -- report ---------------------------------------------------------------------
    async def describe(self) -> list[dict]:
        domains = {d.name: d.state for d in await self._call(self.driver.list_domains)}
        out = []
        for inst in self.instances.values():
            state = inst.state
            if inst.stopping is not None:
                state = "stopping"
            elif state == "running":
                domain_state = domains.get(inst.id)
                if domain_state in (None, DomainState.SHUTOFF, DomainState.CRASHED):
                    state = "shutoff"  # the guest powered itself off (or vanished)
            # private_ip: a restarted CC learns from here which addresses are taken.
            out.append({"instance_id": inst.id, "state": state, "reason": inst.reason,
                        "private_ip": inst.spec.get("private_ip"),
                        "cpu": inst.spec["cpu"], "memory_mb": inst.spec["memory_mb"],
                        "disk_gb": inst.spec["disk_gb"]})
        return out

    def running_ids(self) -> list[str]:
        """The instances whose guests should be running (what the sampler reads)."""
        return [i.id for i in self.instances.values()
                if i.state == "running" and i.stopping is None]

    def in_use(self, image_id: str) -> bool:
        return any(image_id in i.images for i in self.instances.values())


async def _virtual_size(path: Path) -> int:
    proc = await asyncio.create_subprocess_exec(
        "qemu-img", "info", "--output=json", str(path),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, _ = await proc.communicate()
    return json.loads(out)["virtual-size"]


def _without_passwords(spec: dict) -> tuple[dict, dict[str, str]]:
    """The spec as it may be written to disk, and its volumes' CHAP passwords."""
    secrets, volumes = {}, []
    for volume in spec.get("volumes") or ():
        connection = dict(volume["connection"])
        secrets[secret_usage(volume["volume_id"], spec["instance_id"])] = \
            connection.pop("chap_password")
        volumes.append({**volume, "connection": connection})
    return {**spec, "volumes": volumes}, secrets


def _describe(exc: BaseException) -> str:
    message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    return message.splitlines()[0][:500]
