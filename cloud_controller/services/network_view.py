"""The network view of each cluster (docs/network.md), and pushing it down.

The view is computed from the database: the cluster's live instances that
have an address (with their public address and group ids), and every group
of the accounts that own them with its rules. Its version grows whenever its
content changes (a digest is kept with the version, both survive restarts).
The CLC pushes the view to the CC right after any change it makes (groups,
rules, addresses: their services notify the network notifier, which this
subscribes to) and whenever a poll shows the CC holding an older version
or the instance set changed; the CC forwards it to its nodes.
"""
from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import json
import logging

from cloud_controller.db.network import NetworkRepository
from cloud_controller.services.notify import ChangeNotifier
from mallee import errors

log = logging.getLogger(__name__)


def metadata_options(row) -> dict:
    """What the node's metadata service enforces for one instance (its launch
    spec carries it first, the view after every ModifyInstanceMetadataOptions)."""
    return {"http_tokens": row["http_tokens"],
            "http_put_response_hop_limit": row["http_put_response_hop_limit"]}


def rules_view(rules) -> list[dict]:
    """Stored rules (one per target) as the view's rules (targets per port range)."""
    merged: dict[tuple, dict] = {}
    for r in rules:
        if not (r["cidr"] or r["source_group_id"]):
            continue  # IPv6 and prefix-list rules: guests here have no IPv6, EDGE no lists
        key = (r["protocol"], r["from_port"], r["to_port"])
        rule = merged.setdefault(key, {"protocol": r["protocol"], "from_port": r["from_port"],
                                       "to_port": r["to_port"], "cidrs": [],
                                       "source_groups": []})
        if r["cidr"]:
            rule["cidrs"].append(r["cidr"])
        else:
            rule["source_groups"].append(r["source_group_id"])
    for rule in merged.values():
        rule["cidrs"].sort()
        rule["source_groups"].sort()
    return sorted(merged.values(), key=lambda r: (r["protocol"], r["from_port"], r["to_port"]))


class NetworkViews:
    def __init__(self, db, settings, clusters, *, instances, security_groups,
                 network_changed: ChangeNotifier):
        self.db = db
        self.settings = settings
        self.clusters = clusters  # ClusterMonitor
        self.instances = instances  # InstanceService: each instance's groups
        self.security_groups = security_groups  # SecurityGroupService: groups and rules
        self.repo = NetworkRepository(db)
        self.pushed: dict[str, dict] = {}  # cluster -> {"version", "error"} of the last push
        self._dirty = False
        self._task: asyncio.Task | None = None
        self._lock = asyncio.Lock()
        network_changed.subscribe(self.push_soon)

    def _subnet(self, cluster) -> tuple[str, str]:
        reported = cluster.network or {}
        subnet = reported.get("subnet") or self.settings.network.private_subnet
        gateway = reported.get("gateway") or str(
            ipaddress.IPv4Network(subnet, strict=False).network_address + 1)
        return subnet, gateway

    async def content(self, cluster) -> dict:
        rows = await self.instances_of(cluster.ref.name)
        member_of = await self.instances.groups_of([r["id"] for r in rows])
        accounts = sorted({r["account_id"] for r in rows})
        groups = await self.security_groups.of_accounts(accounts)
        rules = await self.security_groups.rules_of([g["id"] for g in groups])
        by_group: dict[str, list] = {g["id"]: [] for g in groups}
        for rule in rules:
            by_group[rule["group_id"]].append(rule)
        subnet, gateway = self._subnet(cluster)
        reserved = await self.repo.reserved(cluster.ref.name)
        return {
            "subnet": subnet, "gateway": gateway,
            "reserved": [{"instance_id": r["id"], "private_ip": r["private_ip"]}
                         for r in reserved],
            "instances": [{"instance_id": r["id"], "mac": r["mac"],
                           "private_ip": r["private_ip"], "public_ip": r["public_ip"],
                           "groups": sorted(g["id"] for g in member_of[r["id"]]),
                           "metadata": metadata_options(r)}
                          for r in rows],
            "groups": [{"group_id": g["id"],
                        "ingress": rules_view([r for r in by_group[g["id"]] if not r["egress"]]),
                        "egress": rules_view([r for r in by_group[g["id"]] if r["egress"]])}
                       for g in sorted(groups, key=lambda g: g["id"])],
        }

    async def instances_of(self, cluster_name: str):
        return await self.repo.instances(cluster_name)

    async def current(self, cluster) -> dict:
        """The cluster's view with its version (a new version if the content changed)."""
        async with self._lock:
            content = await self.content(cluster)
            digest = hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()
            version, known, epoch = await self.repo.version(cluster.ref.name)
            if digest != known:
                async with self.db.unit():  # the version read and bumped in one unit
                    version, known, _ = await self.repo.version(cluster.ref.name)
                    if digest != known:
                        version += 1
                        await self.repo.set_version(cluster.ref.name, version, digest)
                    _, _, epoch = await self.repo.version(cluster.ref.name)
            return {"version": version, "epoch": epoch, **content}

    async def push(self, cluster) -> dict:
        view = await self.current(cluster)
        try:
            answer = await cluster.client.apply_network(view)
            self.pushed[cluster.ref.name] = {"version": answer.get("version"), "error": None}
        except errors.ApiError as err:
            log.warning("network view %d for %s not delivered: %s", view["version"],
                        cluster.ref.name, err.message)
            self.pushed[cluster.ref.name] = {"version": None, "error": err.message}
        return view

    def push_soon(self) -> None:
        """Something in a view changed: push every cluster's view now (coalesced)."""
        self._dirty = True
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._push_while_dirty())

    async def _push_while_dirty(self) -> None:
        while self._dirty:
            self._dirty = False
            for cluster in self.clusters.clusters:
                if cluster.error is None:
                    await self.push(cluster)

    async def after_poll(self, cluster) -> None:
        """Each poll: push when the instance set changed or the CC holds an older view."""
        if cluster.error is not None:
            return
        view = await self.current(cluster)
        if (cluster.network or {}).get("version", 0) < view["version"]:
            await self.push(cluster)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
