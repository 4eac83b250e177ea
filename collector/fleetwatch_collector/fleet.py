"""Fleet state: every agent's newest values, each report applied once (by seq), rendered once per change."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TypeVar

from fleetwatch_collector.agentstate import AgentEntry, SiteLabels
from fleetwatch_collector.catalog import PER_HOST
from fleetwatch_collector.dedup import AppliedSeqs
from fleetwatch_collector.exposition import LabelTexts, render_agent, render_rows
from fleetwatch_collector.exposure import Exposure, Membership
from fleetwatch_collector.gzipblocks import GzipBlocks, Plan, gzip_fleet
from fleetwatch_collector.remotewrite.backfill import Backfill
from fleetwatch_collector.seqcheck import check_seqs
from fleetwatch_collector.sitedir import SiteDirectory
from fleetwatch_proto.v1 import fleetwatch_pb2 as pb

T = TypeVar("T")
# Most the collector keeps of one agent at the default limits, with and without devices (docs/security.md).
MEMORY_PER_AGENT_CEILING_BYTES = 7 * 1024 * 1024  # measured: 6.0 MiB (256 interfaces, escaped texts)
MEMORY_PER_AGENT_WITHOUT_DEVICES_BYTES = 2 * 1024 * 1024  # measured: 1.6 MiB


@dataclass(frozen=True)
class ApplyResult:
    acked_seq: int
    applied: int
    duplicates: int
    # The host name the agent reported differs from its host label: "applied" (the label follows),
    # "conflict" (another listed agent of its site has that name: the label stays); None: no change.
    hostname_change: str | None = None
    reported_hostname: str = ""
    previous_hostname: str = ""
    seq_restart: bool = False  # a report numbered from the agent's clock (its sequence file restarted)


@dataclass(frozen=True)
class AgentCounts:
    """Agents by state at one scrape; ``unknown_site`` counts listed agents of no inventory site;
    ``handed_over``, agents of another member's home that no longer report here (exposure.py)."""

    up: int
    down: int
    retired: int
    unknown_site: int
    handed_over: int = 0


@dataclass(frozen=True)
class Snapshot:
    """A consistent copy of what the store persists of one agent (fields in the column order)."""

    agent_id: str
    host: bytes  # serialized HostInfo
    applied: str  # AppliedSeqs.dumps()
    state_seq: int
    reports_total: int
    counters: str  # JSON of the event counters, e.g. {"threats": {"ClamAV": 2}}
    last_report_ms: int
    last_seen: float
    interval_seconds: int
    hostname: str  # the host label (recorded at enrolment, changed by the rule of FleetState.apply)


class FleetState:
    """Thread-safe: gRPC handlers apply reports, the HTTP thread renders.

    Rendered text is kept per agent, one chunk per family (``_chunks[agent_id]``), so a scrape only
    concatenates bytes that were rendered when the agent's report arrived. An agent rendered again
    moves to the end, in the order ``_gzip`` keeps (gzipblocks.py), so the plain and the gzip body
    are the same text.
    """

    def __init__(
        self,
        down_after_intervals: int = 3,
        clock: Callable[[], float] = time.time,
        sites: SiteDirectory | None = None,
        retire_after_seconds: float = 0.0,
        membership: Membership | None = None,
    ) -> None:
        self._agents: dict[str, AgentEntry] = {}
        # Every key's chunks, one per host family (b"" where it has no samples), in the body's order.
        self._chunks: dict[str, Sequence[bytes]] = {}
        self._gzip = GzipBlocks()
        self._label_texts = LabelTexts()  # used under the lock
        self._lock = threading.Lock()
        self._compacting = threading.Lock()  # one gzip compaction at a time
        self._down_after = down_after_intervals
        self._clock = clock
        self._sites = sites  # None: agents keep their enrolment labels
        self._retire_after = retire_after_seconds  # 0: never
        self._exposure = Exposure(membership, clock())  # None: a single collector, every agent's home
        self.max_age_ms = 7 * 86400 * 1000  # reports older are refused; set from limits.max_age_seconds
        self.backfill: Backfill | None = None  # late reports to remote write; set by the server

    def __len__(self) -> int:
        return len(self._agents)

    def get(self, agent_id: str) -> AgentEntry | None:
        return self._agents.get(agent_id)

    def apply(
        self,
        agent_id: str,
        reports: Sequence[pb.Report],
        oldest_held_seq: int = 0,
        site: SiteLabels | None = None,
        hostname: str = "",
    ) -> ApplyResult:
        """Apply each report not applied before; the newest values win; render once.

        ``hostname`` is the host label on record (enrolment), used for an agent new to memory.
        Raises Rejection, changing nothing, for a sequence number the agent cannot have made (seqcheck.py)."""
        with self._lock:
            entry = self._agents.get(agent_id)
            restart = False if entry is None else check_seqs(entry, reports, self._clock(), self.max_age_ms)
            if entry is None:
                if not reports:  # an empty Push must not list an agent that never reported
                    return ApplyResult(0, 0, 0)
                entry = self._agents[agent_id] = AgentEntry(agent_id, site=site, hostname=hostname)
            backfill = self.backfill
            pending = backfill.start(entry, reports, oldest_held_seq) if backfill is not None else None
            applied = 0
            newer: list[pb.Report] = []
            for report in sorted(reports, key=lambda r: r.seq):
                if entry.applied.is_applied(report.seq):
                    continue
                entry.applied.mark(report.seq)
                entry.count_events(report)
                applied += 1
                if report.seq > entry.state_seq:
                    newer.append(report)
            change = None
            reported = previous = ""
            if newer:
                previous, before = entry.hostname, entry.host.hostname
                entry.take(newer)
                reported = entry.host.hostname
                change = self._rename(entry, reported)
                if change == "conflict" and reported == before:
                    change = None  # the same claim as before: counted when it was first made
            if oldest_held_seq > 1:
                entry.applied.advance_to(oldest_held_seq - 1)
            relabelled = site is not None and site != entry.site
            if relabelled:
                entry.site = site
            if applied:
                entry.reports_total += applied
                entry.last_seen = self._clock()
                entry.down_at = entry.last_seen + self._down_after * max(1, entry.interval_seconds)
                entry.listed = not entry.revoked  # a retired or handed over agent that reports is back
                self._exposure.handed_over.discard(agent_id)
            if applied or relabelled:
                self._store_chunks(entry)
            if backfill is not None and pending is not None:
                backfill.finish(pending, entry)
            return ApplyResult(
                entry.applied.watermark, applied, len(reports) - applied, change, reported, previous, restart
            )

    def _rename(self, entry: AgentEntry, reported: str) -> str | None:
        """The host label rule: a name reported by the agent replaces the recorded one, unless another
        listed agent of the same site carries it (the label stays; counted, logged by the caller)."""
        if not reported or reported == entry.hostname:
            return None
        if not entry.hostname:  # enrolled without a name on record (in-process, older store)
            entry.hostname = reported
            return None
        site = entry.labels().site
        for other in self._agents.values():
            same = other.hostname == reported and other.labels().site == site
            if same and other is not entry and other.listed:
                return "conflict"
        entry.hostname = reported
        return "applied"

    def reenrolled(self, agent_id: str, site: SiteLabels | None, hostname: str = "") -> None:
        """A reinstalled machine enrolled again: its seqs start anew, its counters go on, its host
        label is the name it enrolled with."""
        with self._lock:
            entry = self._agents.get(agent_id)
            if entry is not None:
                entry.applied = AppliedSeqs()
                entry.state_seq = 0
                entry.site = site
                if hostname:
                    entry.hostname = hostname
                self._store_chunks(entry)

    def restore(self, snapshots: Iterable[tuple[Snapshot, SiteLabels | None]]) -> int:
        """Load agents from the store; they render as down until they report again."""
        count = 0
        retire_before, now = self._retire_before(), self._clock()
        with self._lock:
            for snap, site in snapshots:
                host = pb.HostInfo.FromString(snap.host)
                entry = AgentEntry(
                    snap.agent_id,
                    host=host,
                    hostname=snap.hostname or host.hostname,
                    site=site,
                    applied=AppliedSeqs.loads(snap.applied),
                    state_seq=snap.state_seq,
                    reports_total=snap.reports_total,
                    last_report_ms=snap.last_report_ms,
                    last_seen=snap.last_seen,
                    interval_seconds=snap.interval_seconds,
                )
                entry.restore_counters(snap.counters)
                entry.listed = self._exposure.listed(entry, retire_before, now)
                self._agents[snap.agent_id] = entry
                self._store_chunks(entry)
                count += 1
        return count

    def _retire_before(self) -> float:
        return self._clock() - self._retire_after if self._retire_after else float("-inf")

    @property
    def handed_over(self) -> int:
        """Agents off /metrics because another member is their home and they no longer report here."""
        return len(self._exposure.handed_over)

    def set_membership(self, membership: Membership | None) -> None:
        """The cluster's members changed: every agent's home is ranked again, listed by the next sweep."""
        with self._lock:
            self._exposure.membership = membership

    def _store_chunks(self, entry: AgentEntry) -> None:
        """Render a listed agent with its inventory labels; take an unlisted one off /metrics."""
        enrolled = entry.enrolled_labels()
        entry.shown, entry.site_known = (
            (enrolled, True) if self._sites is None else self._sites.labels(enrolled)
        )
        if not entry.listed:
            self._drop(entry.agent_id)
            return
        prefix, chunks = render_agent(entry, self._label_texts)
        entry.up_line, entry.down_line = prefix + b"1\n", prefix + b"0\n"
        self._put(entry.agent_id, chunks)

    def _put(self, key: str, chunks: Sequence[bytes]) -> None:
        """``key``'s chunks, one per family, moved to the end (the order of ``_gzip``)."""
        if len(chunks) != len(PER_HOST):
            raise ValueError(f"{len(chunks)} chunks for {len(PER_HOST)} host families")
        self._chunks.pop(key, None)
        self._chunks[key] = chunks
        self._gzip.changed(key, chunks)

    def _drop(self, key: str) -> None:
        self._chunks.pop(key, None)
        self._gzip.removed(key)

    def relabel(self) -> int:
        """After the inventory changed, render again every agent whose labels changed; how many."""
        # The lock is taken per agent, so Pushes go on while thousands are re-rendered.
        if self._sites is None:
            return 0
        with self._lock:
            agent_ids = list(self._agents)
        changed = 0
        for agent_id in agent_ids:
            with self._lock:
                entry = self._agents.get(agent_id)
                if entry is None or self._sites.labels(entry.enrolled_labels())[0] == entry.shown:
                    continue
                self._store_chunks(entry)
                changed += 1
        return changed

    def sweep(self, known: dict[str, bool], read_at: float) -> int:
        """Apply the store's agents (id -> revoked, read at ``read_at``); how many were forgotten."""
        # Forgotten agents (not in the store) are removed; revoked ones and those silent past the
        # retirement period stay in memory, counted as retired, but leave /metrics; so do those homed
        # at another member silent here for handover_seconds, counted as handed over.
        retire_before, now = self._retire_before(), self._clock()
        removed = 0
        with self._lock:
            for agent_id, entry in list(self._agents.items()):
                revoked = known.get(agent_id)
                if revoked is None:
                    if entry.last_seen < read_at:  # else it enrolled and reported after the read
                        del self._agents[agent_id]
                        self._drop(agent_id)
                        self._exposure.forget(agent_id)
                        removed += 1
                    continue
                was = entry.revoked, entry.listed
                entry.revoked = revoked
                entry.listed = self._exposure.listed(entry, retire_before, now)
                if (entry.revoked, entry.listed) != was:
                    self._store_chunks(entry)
        return removed

    def update(self, agent_id: str, change: Callable[[AgentEntry], bool]) -> bool:
        """Run ``change`` on a listed agent's entry under the lock (a trap from its device); render the
        agent again when it returns True. False when the agent is not listed."""
        with self._lock:
            entry = self._agents.get(agent_id)
            if entry is None or not entry.listed or not change(entry):
                return False
            self._store_chunks(entry)
            return True

    def scan(self, read: Callable[[AgentEntry], T | None]) -> list[tuple[str, T]]:
        """``read`` of every listed agent under the lock, where it is not None."""
        with self._lock:
            found = ((agent_id, read(e)) for agent_id, e in self._agents.items() if e.listed)
            return [(agent_id, value) for agent_id, value in found if value is not None]

    def set_lines(self, key: str, chunks: Sequence[bytes]) -> None:
        """Series of something that is not an agent (a device the collector polls itself), one chunk per
        host family as ``render_agent`` makes them; ``key`` is no agent id (it starts with a NUL)."""
        with self._lock:
            self._put(key, chunks)

    def drop_lines(self, key: str) -> None:
        with self._lock:
            self._drop(key)

    def snapshot(self, agent_id: str) -> Snapshot:
        with self._lock:
            return _snapshot(self._agents[agent_id])

    def is_up(self, entry: AgentEntry, now: float) -> bool:
        """Up while the agent reported within ``down_after_intervals`` of its interval."""
        return now <= entry.down_at

    def render_chunks(self) -> tuple[Iterator[bytes], AgentCounts]:
        """The host families of the listed agents as chunks of text, and the agents by state.

        The lock is held only to copy references; the text is joined after it is released."""
        now = self._clock()
        with self._lock:
            agents = self._agents
            listed = [e for key in self._gzip.order() if (e := agents.get(key)) is not None]
            up_lines = [e.up_line if now <= e.down_at else e.down_line for e in listed]
            counts = self._counts(listed, now)
            rows = list(self._chunks.values())
        return render_rows(rows, up_lines), counts

    def render_gzip_chunks(self) -> tuple[Iterator[bytes], AgentCounts]:
        """``render_chunks`` as gzip members: what changed since the last compaction is compressed
        now, the rest was compressed before (gzipblocks.py)."""
        with self._compacting:
            counts, plan = self._plan()
            parts = plan.compress()
        return gzip_fleet(parts), counts

    def compact(self) -> None:
        """Compress what changed since the last compaction, so that a gzip scrape finds little to do."""
        with self._compacting:
            with self._lock:
                plan = self._gzip.plan(None)
            plan.compress()

    def _plan(self) -> tuple[AgentCounts, Plan]:
        now = self._clock()
        with self._lock:
            agents = self._agents
            listed = [e for key in self._gzip.order() if (e := agents.get(key)) is not None]
            lines = {e.agent_id: e.up_line if now <= e.down_at else e.down_line for e in listed}
            return self._counts(listed, now), self._gzip.plan(lines.get)

    def _counts(self, listed: list[AgentEntry], now: float) -> AgentCounts:
        up = sum(1 for e in listed if now <= e.down_at)
        unknown = sum(1 for e in listed if not e.site_known)
        handed_over = len(self._exposure.handed_over)
        retired = len(self._agents) - len(listed) - handed_over
        return AgentCounts(up, len(listed) - up, retired, unknown, handed_over)

    def render(self) -> tuple[bytes, int, int]:
        """The host families as one text, and the number of agents up and down."""
        chunks, counts = self.render_chunks()
        return b"".join(chunks), counts.up, counts.down


def _snapshot(e: AgentEntry) -> Snapshot:
    return Snapshot(
        e.agent_id,
        e.host_bytes(),
        e.applied.dumps(),
        e.state_seq,
        e.reports_total,
        e.counters(),
        e.last_report_ms,
        e.last_seen,
        e.interval_seconds,
        e.hostname,
    )
