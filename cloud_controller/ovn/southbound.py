"""Which chassis can carry an internet gateway: those whose ovn-controller
maps the outside network (`ovn-bridge-mappings` naming `mallee-outside`), read
from the southbound database's Chassis table (docs/vpc.md, "Gateways").

ovn-controller copies its Open_vSwitch external_ids:ovn-bridge-mappings into
its Chassis row's other_config (and, on older releases, external_ids), adds
the row when it starts and removes it when it stops cleanly. So this table is
the one place that says, at any moment, which nodes have an outside bridge:
a node that comes is seen as soon as its ovn-controller registers, a node
that leaves as soon as it deregisters, without the CLC knowing the nodes.

A read-only IDL of its own (only the Chassis table's name, other_config and
external_ids columns), on ovsdbapp's connection thread; `names()` reads the
local replica (no round trip). `on_change` is called from that thread when a
chassis row appears, goes or changes its mappings, so the caller can run a
converge pass at once instead of at the next periodic one.
"""
from __future__ import annotations

import logging

from mallee.ovn_names import OUTSIDE_NETWORK

log = logging.getLogger("mallee.clc.ovn")

MAPPINGS = "ovn-bridge-mappings"


def maps_outside(config: dict) -> bool:
    """True if an `ovn-bridge-mappings` value (`net:bridge,net:bridge`) names ours."""
    return any(pair.split(":", 1)[0].strip() == OUTSIDE_NETWORK
               for pair in config.get(MAPPINGS, "").split(",") if ":" in pair)


class OutsideChassis:
    """The blocking reader (called on AsyncNorthbound's worker thread)."""

    def __init__(self, remote: str, timeout: float = 10.0):
        self.remote = remote
        self.timeout = timeout
        self.connection = None
        self.on_change = None  # a callable, run on the IDL's thread
        self._failed = False

    def connect(self) -> None:
        if self.connection is not None:
            return
        from ovsdbapp.backend.ovs_idl import connection, idlutils

        owner = self

        class ChassisIdl(connection.OvsdbIdl):
            # only these three columns are monitored: any event is a row that came,
            # went or changed its mappings
            def notify(self, event, row, updates=None):
                if owner.on_change is not None:
                    owner.on_change()

        helper = idlutils.get_schema_helper(self.remote, "OVN_Southbound")
        helper.register_columns("Chassis", ["name", "other_config", "external_ids"])
        conn = connection.Connection(ChassisIdl(self.remote, helper), timeout=self.timeout)
        conn.start()
        self.connection = conn

    def names(self) -> list[str] | None:
        """The chassis that map the outside network, sorted; None while the SB
        database cannot be read (the caller then leaves gateway chassis as they are)."""
        try:
            self.connect()
        except Exception as exc:  # the SB server away: the next pass tries again
            if not self._failed:
                log.warning("ovn: cannot read the SB database's chassis: %r", exc)
            self._failed = True
            return None
        if self._failed:
            log.info("ovn: reading the SB database's chassis again")
        self._failed = False
        with self.connection.lock:
            # while the server is away the replica is the last one it sent: the
            # mappings as they were (a node that left meanwhile is seen on reconnect)
            return sorted(row.name for row in self.connection.idl.tables["Chassis"].rows.values()
                          if maps_outside(dict(row.other_config))
                          or maps_outside(dict(row.external_ids)))

    def close(self) -> None:
        if self.connection is not None:
            self.connection.stop()
            self.connection = None
