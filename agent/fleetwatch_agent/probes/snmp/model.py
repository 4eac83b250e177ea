"""What one snmp collection produced: the devices as polled, link changes seen, the cursors they advance."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fleetwatch_agent.probes.snmp.wire import NetworkDevice


@dataclass(frozen=True)
class LinkChange:
    """An interface whose operational state differs from the poll of the last report kept."""

    device: str
    interface: str
    up: bool
    if_index: int
    time_unix_ms: int  # when the poll that saw it ended


@dataclass(frozen=True)
class SnmpResult:
    """One cycle: every configured device in configuration order, reachable or not."""

    # NetworkDevice messages as fleetwatch_snmp's poller made them (or, for a device the poll did
    # not reach, as wire.unanswered made them).
    devices: tuple[NetworkDevice, ...]
    link_changes: tuple[LinkChange, ...] = ()
    # Devices whose poll the probe's budget cut off (reported as timeouts).
    devices_cut: int = 0
    # Link states committed with this report (linkstate.py).
    cursors: dict[str, str] = field(default_factory=dict)
