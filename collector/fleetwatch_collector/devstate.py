"""One network device as the collector sees it: its newest poll, its interfaces' oper view, flips and traps.

Pure state and rules, shared by devices polled by agents (kinds/netdev.py) and by the collector
itself (snmpcentral.py). Nothing here does I/O or knows where an observation came from beyond its kind.

The oper view of an interface is the collector's belief about its operational state, with the
time of the observation that set or last confirmed it. Four sources feed it:

    poll (agent report, central poll)  --\\
    LinkChange event (agent)            --+--> view: up?, at, pending  --> oper_up, oper_changes_total
    trap linkDown / linkUp (collector) --/

A flip (a change of the view) is counted once, by whichever source saw it first:

- a poll newer than the view that disagrees with it flips it;
- a trap that disagrees flips it at once;
- a flip counted so is ``pending`` until the agent's LinkChange to the same state arrives, which
  counts nothing (it is that same flip, seen later: the agent's poll after a trap, or a backlog
  whose newest report, applied first, already showed the new state);
- any other LinkChange counts: each is a change the agent saw between two of its polls, applied
  once by report seq, also when it arrives late in a backlog (it moves the view only when it is
  newer than what the view knows). A LinkChange of an interface the view does not hold is counted;
  it makes a view only for a device no kept poll answered yet, and only while its owner has room
  (kinds/netdev.py), so the views stay bounded by the polls.

What is kept per interface is bounded and small (tests/security/test_bounded_memory_devices.py): the
poll's DeviceInterface inside one copy of the NetworkDevice (upb, about 0.7 KiB at the longest
texts), one IfView, and its ifname once, shared by ``names`` and ``oper``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fleetwatch_collector.textformat import distinct
from fleetwatch_proto.limits import MAX_DEVICE_INTERFACES
from fleetwatch_proto.v1 import fleetwatch_pb2 as pb

TRAP_KINDS = ("link_down", "link_up", "cold_start", "warm_start", "authentication_failure", "other")


@dataclass(frozen=True)
class DeviceTrap:
    """An accepted notification from a known device, as the collector applies it."""

    kind: str  # one of TRAP_KINDS
    received_unix: float
    if_index: int | None = None
    if_name: str | None = None


@dataclass(slots=True)
class IfView:
    """The collector's view of one interface's operational state."""

    up: bool
    at: float  # Unix seconds of the newest observation that set or confirmed it
    pending: bool = False  # a flip counted by a poll or trap that no LinkChange has matched yet


def new_counters() -> dict[str, Any]:
    """What the store keeps of one device: flips by interface, traps by kind, the last trap's time."""
    return {"changes": {}, "traps": dict.fromkeys(TRAP_KINDS, 0), "last_trap": 0.0}


def ifname(nic: pb.DeviceInterface) -> str:
    """The ``ifname`` label of an interface: its name, or its ifIndex when it has none."""
    return nic.name or f"ifindex-{nic.index}"


@dataclass
class DeviceView:
    """One device: the newest poll, its interfaces' oper view, and (in ``counters``) what is counted.

    ``counters`` is a plain JSON-able dict (``new_counters``), persisted by its owner."""

    name: str
    poller: str  # "agent" or "central"
    device: pb.NetworkDevice | None = None  # the newest poll
    polled_at: float = 0.0  # Unix seconds of the newest poll (0: none yet)
    sys_name: str = ""  # from the newest poll that answered
    sys_object_id: str = ""
    oper: dict[str, IfView] = field(default_factory=dict)  # by ifname
    names: dict[int, str] = field(default_factory=dict)  # ifIndex -> ifname of the newest answered poll
    counters: dict[str, Any] = field(default_factory=new_counters)

    def interfaces(self) -> list[pb.DeviceInterface]:
        """The interfaces of the newest poll when it answered (one per ifname), else none."""
        if self.device is None or not self.device.reachable:
            return []
        return distinct(self.device.interfaces, ifname)

    def changes(self, name: str) -> int:
        count: int = self.counters["changes"].get(name, 0)
        return count

    def size(self) -> int:
        """Interfaces the view keeps of its newest poll (what it costs grows with them)."""
        return len(self.device.interfaces) if self.device is not None else 0


def _flip(view: DeviceView, name: str, up: bool, at: float, pending: bool) -> None:
    view.oper[name] = IfView(up, at, pending)
    _count(view, name)


def _count(view: DeviceView, name: str) -> None:
    """One flip more of interface ``name``; the counts of interfaces no view holds go first."""
    changes: dict[str, int] = view.counters["changes"]
    if name not in changes and len(changes) >= MAX_DEVICE_INTERFACES:
        for gone in [n for n in changes if n not in view.oper]:  # keep those of present interfaces
            del changes[gone]
    changes[name] = changes.get(name, 0) + 1


def observe(view: DeviceView, name: str, up: bool, at: float) -> bool:
    """A poll saw interface ``name`` ``up`` at ``at``; True when that flipped the view."""
    current = view.oper.get(name)
    if current is None:
        view.oper[name] = IfView(up, at)
        return False
    if at < current.at:  # older than what the view knows
        return False
    if up != current.up:
        _flip(view, name, up, at, pending=True)
        return True
    current.at = at
    return False


def take_poll(view: DeviceView, device: pb.NetworkDevice, at: float) -> bool:
    """Keep a poll of the device made at ``at`` unless an equal or newer one is kept; True if kept."""
    if at <= view.polled_at and view.device is not None:
        return False
    view.device = kept = pb.NetworkDevice.FromString(device.SerializeToString())  # no view into a request
    view.polled_at = at
    if not device.reachable:
        del kept.interfaces[:]  # never shown (interfaces()): not kept either
        return True
    view.sys_name, view.sys_object_id = device.sys_name, device.sys_object_id
    present = [(nic, _same(view.names.get(nic.index), ifname(nic))) for nic in view.interfaces()]
    view.names = {nic.index: name for nic, name in present}
    for nic, name in present:
        observe(view, name, nic.oper_up, at)
    for gone in set(view.oper) - set(view.names.values()):
        del view.oper[gone]
    return True


def _same(kept: str | None, name: str) -> str:
    """``name``, as the string kept since an earlier poll when equal: one copy for ``names`` and ``oper``."""
    return kept if kept == name else name


def link_change(view: DeviceView, change: pb.LinkChange, at: float, room: bool) -> None:
    """Apply one LinkChange event (called once per applied report): count it unless it is a pending flip.

    An interface the view does not hold gets a view only with ``room`` and while no answered poll is
    kept (before the first one, or after a restart): the poll of the same report then sees it."""
    name = change.interface or view.names.get(change.if_index, "")
    if not name:
        name = f"ifindex-{change.if_index}"
    current = view.oper.get(name)
    if current is None and (view.names or not room):  # the kept poll does not show it: counted only
        _count(view, name)
        return
    if current is None:
        _flip(view, name, change.up, at, pending=False)
        return
    if current.pending and current.up == change.up:
        current.pending = False  # the change a poll or a trap already counted
        current.at = max(current.at, at)
        return
    if at < current.at:  # a late event: counted, the view stays newer
        _count(view, name)
        return
    _flip(view, name, change.up, at, pending=False)


def apply_trap(view: DeviceView, trap: DeviceTrap) -> None:
    """Count an accepted trap; a linkDown/linkUp of a known interface sets its oper view at once."""
    kind = trap.kind if trap.kind in TRAP_KINDS else "other"
    traps: dict[str, int] = view.counters["traps"]
    traps[kind] = traps.get(kind, 0) + 1
    view.counters["last_trap"] = max(float(view.counters["last_trap"]), trap.received_unix)
    if kind not in ("link_down", "link_up"):
        return
    name = view.names.get(trap.if_index) if trap.if_index is not None else None
    if name is None and trap.if_name and trap.if_name in view.oper:
        name = trap.if_name
    current = view.oper.get(name) if name is not None else None
    if name is None or current is None:  # an interface the polls do not show (filtered, or unknown)
        return
    up = kind == "link_up"
    if up != current.up:
        _flip(view, name, up, max(current.at, trap.received_unix), pending=True)
