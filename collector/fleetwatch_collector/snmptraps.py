"""Accepted SNMP notifications to device series: the sender's address names a known device, or it is dropped.

Known devices are those of the devices file (central) and those agents report
(``NetworkDevice.address``). A trap changes the device's state at once and its lines are rendered
again within FLUSH_SECONDS: a burst of traps from one device renders it once. Rendering takes at most
a third of the event loop: after a flush that took t seconds, the next one waits at least 2t (an
agent with hundreds of interfaces takes a large fraction of a second to render).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from fleetwatch_collector.agentstate import AgentEntry
from fleetwatch_collector.devicesfile import address_host
from fleetwatch_collector.devstate import DeviceTrap
from fleetwatch_collector.fleet import FleetState
from fleetwatch_collector.kinds import netdev
from fleetwatch_collector.selfmetrics import CollectorMetrics
from fleetwatch_collector.snmpapi import TrapEvent
from fleetwatch_collector.snmpcentral import CentralPoller, ip_of

log = logging.getLogger(__name__)
FLUSH_SECONDS = 0.05
# The index of agents' device addresses is rebuilt on a miss, at most this often.
REINDEX_SECONDS = 5.0
MAX_LOGGED_SENDERS = 256
# Whose device a trap is for: ("", name) a central device; (agent_id, name) a device of that agent.
Target = tuple[str, str]


class TrapRouter:
    """``on_trap`` is the trap server's callback (in the event loop)."""

    def __init__(
        self,
        fleet: FleetState,
        central: CentralPoller | None,
        metrics: CollectorMetrics,
        saved: Callable[[str], None] = lambda agent_id: None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._fleet = fleet
        self._central = central
        self._metrics = metrics
        self._saved = saved  # told the agent ids whose counters a trap changed (to store them)
        self._clock = clock
        self._pending: dict[Target, list[DeviceTrap]] = {}
        self._flush: asyncio.TimerHandle | None = None
        self._quiet_until = 0.0  # monotonic time before which no flush starts
        self._agents: dict[str, Target] = {}  # IP address -> an agent's device
        self._indexed_at = float("-inf")
        self._logged: set[str] = set()

    def on_trap(self, event: TrapEvent) -> None:
        sender = ip_of(event.sender) or event.sender
        target = self._find(sender)
        if target is None:
            self._metrics.traps_rejected.count("unknown_sender")
            if sender not in self._logged and len(self._logged) < MAX_LOGGED_SENDERS:
                self._logged.add(sender)
                log.warning("SNMP %s from %s dropped: no known device has that address", event.kind, sender)
            return
        self._metrics.traps_received.labels(event.version).inc()
        trap = DeviceTrap(event.kind, event.received_unix, event.if_index, event.if_name)
        self._pending.setdefault(target, []).append(trap)
        if self._flush is None:
            delay = max(FLUSH_SECONDS, self._quiet_until - time.monotonic())
            self._flush = asyncio.get_running_loop().call_later(delay, self.flush)

    def _find(self, sender: str) -> Target | None:
        if self._central is not None:
            device = self._central.device_at(sender)
            if device is not None:
                return ("", device.entry.name)
        target = self._agents.get(sender)
        if target is None and self._clock() - self._indexed_at >= REINDEX_SECONDS:
            self.reindex()
            target = self._agents.get(sender)
        return target

    def reindex(self) -> None:
        """Learn the addresses of the devices agents report (the first agent reporting one wins)."""
        index: dict[str, Target] = {}
        found = self._fleet.scan(lambda entry: netdev.addresses(entry.states["netdev"]) or None)
        for agent_id, devices in found:
            for name, address in devices.items():
                ip = ip_of(address_host(address))
                if ip is not None:
                    index.setdefault(ip, (agent_id, name))
        self._agents, self._indexed_at = index, self._clock()

    def flush(self) -> None:
        """Apply the traps received since the last flush, rendering each device once."""
        self._flush = None
        pending, self._pending = self._pending, {}
        started = time.monotonic()
        try:
            self._apply(pending)
        finally:
            self._quiet_until = time.monotonic() + 2 * (time.monotonic() - started)

    def _apply(self, pending: dict[Target, list[DeviceTrap]]) -> None:
        for (agent_id, name), traps in pending.items():
            if not agent_id:
                central = self._central
                device = central.devices.get(name) if central is not None else None
                if central is not None and device is not None:
                    central.apply_traps(device, traps)
                continue

            def apply(entry: AgentEntry, name: str = name, traps: list[DeviceTrap] = traps) -> bool:
                return all([netdev.trap(entry.states["netdev"], name, trap) for trap in traps])

            if self._fleet.update(agent_id, apply):
                self._saved(agent_id)
            else:  # the agent no longer has that device, or is gone: learn again at the next miss
                self._indexed_at = float("-inf")
                self._agents = {ip: t for ip, t in self._agents.items() if t != (agent_id, name)}

    def close(self) -> None:
        if self._flush is not None:
            self._flush.cancel()
            self.flush()
