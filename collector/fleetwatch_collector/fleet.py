"""Fleet state: the latest report of every agent, deduplicated by seq, rendered once per change."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from fleetwatch_proto.v1 import fleetwatch_pb2 as pb

from fleetwatch_collector.exposition import render_agent, render_fleet


@dataclass
class AgentEntry:
    """One agent as the collector knows it."""

    agent_id: str
    host: pb.HostInfo = field(default_factory=pb.HostInfo)
    last_seq: int = 0
    last_report_ms: int = 0  # collection time of the newest applied report (agent clock)
    last_seen: float = 0.0  # when the collector last applied a report (collector clock)
    interval_seconds: int = 15
    probes: Sequence[pb.ProbeResult] = ()
    resources: pb.Resources | None = None
    spool: pb.SpoolStats | None = None
    up_prefix: str = ""
    chunks: tuple[str, ...] = ()

    def rerender(self) -> None:
        self.up_prefix, self.chunks = render_agent(
            self.agent_id, self.host, self.last_report_ms, self.probes, self.resources, self.spool
        )


@dataclass(frozen=True)
class ApplyResult:
    acked_seq: int
    applied: int
    duplicates: int


@dataclass(frozen=True)
class Snapshot:
    """A consistent copy of what a store needs to persist one agent."""

    agent_id: str
    host: bytes
    last_seq: int
    last_report_ms: int
    last_seen: float
    interval_seconds: int


class FleetState:
    """Thread-safe: gRPC handlers apply reports, the HTTP thread renders."""

    def __init__(self, down_after_intervals: int = 3, clock: Callable[[], float] = time.time) -> None:
        self._agents: dict[str, AgentEntry] = {}
        self._lock = threading.Lock()
        self._down_after = down_after_intervals
        self._clock = clock
        self._dirty: set[str] = set()

    def __len__(self) -> int:
        return len(self._agents)

    def get(self, agent_id: str) -> AgentEntry | None:
        return self._agents.get(agent_id)

    def apply(self, agent_id: str, reports: Sequence[pb.Report]) -> ApplyResult:
        """Apply reports not applied before (seq above the agent's last); render the newest once."""
        with self._lock:
            entry = self._agents.get(agent_id)
            if entry is None:
                entry = self._agents[agent_id] = AgentEntry(agent_id)
            fresh = sorted((r for r in reports if r.seq > entry.last_seq), key=lambda r: r.seq)
            total = 0
            for report in fresh:
                total += 1
                entry.last_seq = report.seq
                entry.last_report_ms = max(entry.last_report_ms, report.collected_unix_ms)
                entry.interval_seconds = report.interval_seconds
                if report.HasField("host"):
                    entry.host = report.host
                if report.probes:
                    entry.probes = report.probes
                if report.HasField("resources"):
                    entry.resources = report.resources
                if report.HasField("spool"):
                    entry.spool = report.spool
            duplicates = len(reports) - total
            if fresh:
                entry.last_seen = self._clock()
                entry.rerender()
                self._dirty.add(agent_id)
            return ApplyResult(entry.last_seq, total, duplicates)

    def restore(self, snapshots: Iterable[Snapshot]) -> int:
        """Load agents from the store; they render as down until they report again."""
        count = 0
        with self._lock:
            for snap in snapshots:
                entry = AgentEntry(
                    snap.agent_id,
                    host=pb.HostInfo.FromString(snap.host),
                    last_seq=snap.last_seq,
                    last_report_ms=snap.last_report_ms,
                    last_seen=snap.last_seen,
                    interval_seconds=snap.interval_seconds,
                )
                entry.rerender()
                self._agents[snap.agent_id] = entry
                count += 1
        return count

    def take_dirty(self) -> list[Snapshot]:
        """Snapshots of the agents changed since the previous call."""
        with self._lock:
            dirty, self._dirty = self._dirty, set()
            return [
                Snapshot(
                    e.agent_id,
                    e.host.SerializeToString(),
                    e.last_seq,
                    e.last_report_ms,
                    e.last_seen,
                    e.interval_seconds,
                )
                for e in (self._agents[a] for a in dirty)
            ]

    def is_up(self, entry: AgentEntry, now: float) -> bool:
        return now - entry.last_seen <= self._down_after * max(1, entry.interval_seconds)

    def render(self) -> tuple[str, int, int]:
        """The host families as text, and the number of agents up and down."""
        now = self._clock()
        with self._lock:
            agents = [_Frozen(a.up_prefix, a.chunks) for a in self._agents.values()]
            up_flags = [self.is_up(a, now) for a in self._agents.values()]
        up = sum(up_flags)
        return render_fleet(agents, up_flags), up, len(agents) - up


@dataclass(frozen=True, slots=True)
class _Frozen:
    up_prefix: str
    chunks: tuple[str, ...]
