"""Fleet state: the latest report of every agent, deduplicated by seq, rendered once per change."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from fleetwatch_collector.catalog import HOST_METRICS
from fleetwatch_collector.exposition import render_agent, render_fleet
from fleetwatch_proto.v1 import fleetwatch_pb2 as pb


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
    down_at: float = 0.0  # collector time after which the agent counts as down
    up_line: bytes = b""  # its fleetwatch_agent_up sample while up, and while down
    down_line: bytes = b""

    def render(self) -> tuple[bytes, ...]:
        """Render this agent's series; sets the up/down lines and returns the per-family chunks."""
        prefix, chunks = render_agent(
            self.agent_id, self.host, self.last_report_ms, self.probes, self.resources, self.spool
        )
        self.up_line, self.down_line = prefix + b"1\n", prefix + b"0\n"
        return chunks


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
    """Thread-safe: gRPC handlers apply reports, the HTTP thread renders.

    Rendered text is kept per family and agent (``_families[i][agent_id]``), so a scrape only
    concatenates bytes that were rendered when the agent's report arrived.
    """

    def __init__(self, down_after_intervals: int = 3, clock: Callable[[], float] = time.time) -> None:
        self._agents: dict[str, AgentEntry] = {}
        self._families: list[dict[str, bytes]] = [{} for _ in HOST_METRICS]
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
                self._store_chunks(entry)
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
                self._agents[snap.agent_id] = entry
                self._store_chunks(entry)
                count += 1
        return count

    def _store_chunks(self, entry: AgentEntry) -> None:
        entry.down_at = entry.last_seen + self._down_after * max(1, entry.interval_seconds)
        for family, chunk in zip(self._families, entry.render(), strict=True):
            if chunk:
                family[entry.agent_id] = chunk
            else:
                family.pop(entry.agent_id, None)

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
        """Up while the agent reported within ``down_after_intervals`` of its interval."""
        return now <= entry.down_at

    def render(self) -> tuple[bytes, int, int]:
        """The host families as text, and the number of agents up and down."""
        now = self._clock()
        with self._lock:
            agents = self._agents.values()
            up_lines = [e.up_line if now <= e.down_at else e.down_line for e in agents]
            up = sum(1 for e in agents if now <= e.down_at)
            families = [list(family.values()) for family in self._families]
        return render_fleet(families, up_lines), up, len(up_lines) - up
