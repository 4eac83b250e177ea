"""Link changes against the last report kept: each device's interface states are a cursor.

The operational state (up or not) of every interface of a device, as the poll of the newest
spooled report saw it, is the cursor ``snmp-links:<device>``: ``"<ifIndex>:<0|1>,..."``. A poll
that sees an interface in another state makes a LinkChange, and the new states are committed in
the same spool transaction as the report carrying it (probes/context.py): a report that was not
kept is redone from the same cursor, a change seen while the collector was unreachable arrives
later, exactly once, and an agent restarted compares with what it reported before it stopped.

No change is made for an interface seen for the first time, nor for a device that did not
answer (its states are kept until it answers again).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Protocol

from fleetwatch_agent.probes.snmp.model import LinkChange

CURSOR_PREFIX = "snmp-links:"


class Interface(Protocol):
    """What is read of a DeviceInterface message."""

    @property
    def index(self) -> int: ...

    @property
    def name(self) -> str: ...

    @property
    def oper_up(self) -> bool: ...


class Device(Protocol):
    """What is read of a NetworkDevice message."""

    @property
    def name(self) -> str: ...

    @property
    def reachable(self) -> bool: ...

    @property
    def error_class(self) -> int: ...

    @property
    def interfaces(self) -> Sequence[Interface]: ...


def encode(states: Mapping[int, bool]) -> str:
    return ",".join(f"{index}:{int(up)}" for index, up in sorted(states.items()))


def decode(value: str) -> dict[int, bool]:
    """The states of a cursor value; entries that do not parse are left out."""
    states: dict[int, bool] = {}
    for entry in value.split(","):
        index, sep, up = entry.partition(":")
        if sep and index.isdigit() and up in ("0", "1"):
            states[int(index)] = up == "1"
    return states


def track(
    committed: Mapping[str, str],
    polled: Iterable[tuple[Device, int]],
    configured: Iterable[str],
) -> tuple[list[LinkChange], dict[str, str]]:
    """Link changes of the polled devices (with their poll's end in ms) and the cursor updates.

    The cursors of devices no longer configured are cleared ("").
    """
    changes: list[LinkChange] = []
    updates: dict[str, str] = {}
    for device, time_unix_ms in polled:
        if not device.reachable or device.error_class:
            continue
        key = CURSOR_PREFIX + device.name
        before = decode(committed.get(key, ""))
        now: dict[int, bool] = {}
        for nic in device.interfaces:
            now[nic.index] = bool(nic.oper_up)
            if nic.index in before and before[nic.index] != now[nic.index]:
                changes.append(LinkChange(device.name, nic.name, now[nic.index], nic.index, time_unix_ms))
        value = encode(now)
        if value != committed.get(key, ""):
            updates[key] = value
    names = {CURSOR_PREFIX + name for name in configured}
    for key, value in committed.items():
        if key.startswith(CURSOR_PREFIX) and key not in names and value:
            updates[key] = ""
    return changes, updates
