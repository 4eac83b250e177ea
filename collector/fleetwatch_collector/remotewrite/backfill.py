"""Late reports replayed in seq order, so each renders as /metrics would have shown it at its time.

An agent back from an outage sends the newest report first, then its backlog oldest first, up to
100 reports per Push (agent spool.py); the newest left in its spool leads every batch:

    Push 1: [N, 1..99]      live state: N        timeline: 1..99 rendered, N held
    Push 2: [N-1, 100..198] live state: N        timeline: 100..198 rendered, N-1 held
    ...
    last:   [.., ..N-k]     the watermark passes the held ones: replayed in order, timeline dropped

A timeline starts as a copy of the live state of an agent whose applied seqs have no gap, that is
the state at its watermark (dedup.py), and replays applied reports strictly in seq order up to the
watermark: each report's events counted, its sections taken (the kinds' own count_events and
take), then, when the report is late, the kinds render it at its collected_unix_ms, counters as
they were after that report. Reports applied above the watermark wait, held as bytes within a
budget per agent and overall; beyond it a held report keeps only its events (counted, never
rendered: ``over_budget``). A timeline caught up with the live state is dropped, so an agent that
reports on time costs nothing here but a look at its batch.

Late: every report of a Push but the one the live state shows after it, which /metrics exposes.
"""

from __future__ import annotations

import copy
import logging
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from fleetwatch_collector.agentstate import AgentEntry
from fleetwatch_collector.kinds.base import copy_message
from fleetwatch_collector.remotewrite.queue import SampleQueue
from fleetwatch_collector.remotewrite.render import LabelCache, Pairs, render_samples
from fleetwatch_proto.v1 import fleetwatch_pb2 as pb

log = logging.getLogger(__name__)

# Bytes of held reports one agent may have (a day of backlog holds about 60 of a few kB each).
AGENT_HELD_BYTES = 1024 * 1024
# What became of a late report (fleetwatch_collector_remote_write_reports_total{result}).
QUEUED, QUEUE_FULL, OVER_BUDGET = "queued", "queue_full", "over_budget"
RESULTS = (QUEUED, QUEUE_FULL, OVER_BUDGET)


@dataclass
class Timeline:
    """One agent's reports replayed in seq order from ``position`` (every seq up to it is done)."""

    shadow: AgentEntry  # the agent's state as of ``position``
    position: int
    owner: weakref.ref[AgentEntry]  # the live entry it follows; another one (re-enrolled): start again
    held: dict[int, tuple[pb.Report | bytes, bool]] = field(default_factory=dict)  # seq -> (report, late)
    held_bytes: int = 0


@dataclass(frozen=True)
class Pending:
    """A Push being applied: its reports not applied before, in seq order, and the one it exposes."""

    timeline: Timeline
    fresh: Sequence[pb.Report]
    exposed: int | None  # seq of the report the live state will show, None: it keeps the one it has


def _clone(entry: AgentEntry) -> AgentEntry:
    return AgentEntry(
        entry.agent_id,
        host=copy_message(entry.host),
        hostname=entry.hostname,
        site=entry.site,
        state_seq=entry.state_seq,
        reports_total=entry.reports_total,
        last_report_ms=entry.last_report_ms,
        interval_seconds=entry.interval_seconds,
        states=copy.deepcopy(entry.states),
        shown=entry.shown,
    )


def _events_only(report: pb.Report) -> bytes:
    kept = pb.Report(
        seq=report.seq,
        collected_unix_ms=report.collected_unix_ms,
        interval_seconds=report.interval_seconds,
        events=report.events,
    )
    return kept.SerializeToString()


class Backfill:
    """Turns late reports into samples on ``queue``; FleetState calls ``start`` and ``finish`` around
    applying a Push, under its lock. ``count(result)`` is told what became of each late report."""

    def __init__(
        self,
        queue: SampleQueue,
        count: Callable[[str], None] = lambda result: None,
        labels: Pairs = (),
        max_held_bytes: int = 64 * 1024 * 1024,
        agent_held_bytes: int = AGENT_HELD_BYTES,
    ) -> None:
        self.queue = queue
        self._count = count
        self._labels = LabelCache(labels)
        self._max_held = max_held_bytes
        self._agent_held = agent_held_bytes
        self._timelines: dict[str, Timeline] = {}
        self._sweep_at = 64  # timelines held when those of agents gone are looked for next
        self.held_bytes = 0  # over every timeline

    def __len__(self) -> int:
        """Agents with a timeline (draining a backlog)."""
        return len(self._timelines)

    def start(
        self, entry: AgentEntry, reports: Sequence[pb.Report], oldest_held_seq: int = 0
    ) -> Pending | None:
        """Before ``reports`` are applied to ``entry``: what ``finish`` needs, None when none is late."""
        applied = entry.applied
        fresh: dict[int, pb.Report] = {}
        for report in reports:
            if report.seq not in fresh and not applied.is_applied(report.seq):
                fresh[report.seq] = report
        if not fresh:
            return None
        ordered = [fresh[seq] for seq in sorted(fresh)]
        newest = ordered[-1].seq
        exposed = newest if newest > entry.state_seq else None
        timeline = self._timelines.get(entry.agent_id)
        if timeline is not None and (timeline.owner() is not entry or timeline.position > applied.watermark):
            self._drop(entry.agent_id)  # re-enrolled (seqs start again), or forgotten and back
            timeline = None
        if timeline is None:
            gapless = not applied.above and newest <= max(applied.watermark, oldest_held_seq - 1) + 1
            if len(ordered) == 1 and exposed is not None and gapless:
                return None  # on time: /metrics shows it
            self._forget_gone()
            timeline = Timeline(_clone(entry), applied.watermark, weakref.ref(entry))
            self._timelines[entry.agent_id] = timeline
        return Pending(timeline, ordered, exposed)

    def finish(self, pending: Pending, entry: AgentEntry) -> None:
        """After the reports were applied: replay what the watermark now allows, hold the rest."""
        try:
            self._finish(pending, entry)
        except Exception:  # never refuse a Push for the backfill's sake
            log.exception("backfill of agent %s failed; its timeline starts again", entry.agent_id)
            self._drop(entry.agent_id)

    def _finish(self, pending: Pending, entry: AgentEntry) -> None:
        timeline = pending.timeline
        for report in pending.fresh:  # not applied before: above the watermark, so above the position
            timeline.held[report.seq] = (report, report.seq != pending.exposed)
        watermark = entry.applied.watermark
        for seq in sorted(s for s in timeline.held if s <= watermark):
            item, late = timeline.held.pop(seq)
            if isinstance(item, bytes):
                self._release(timeline, len(item))
                item = pb.Report.FromString(item)
            self._replay(timeline, entry, item, late)
        timeline.position = max(timeline.position, watermark)
        if not timeline.held and timeline.position >= entry.state_seq:
            self._drop(entry.agent_id)  # caught up: the live state is the timeline
            return
        for seq in sorted(timeline.held):
            item, late = timeline.held[seq]
            if isinstance(item, bytes):
                continue
            body = item.SerializeToString()  # not a view into the Push, which is about to go
            if (
                timeline.held_bytes + len(body) > self._agent_held
                or self.held_bytes + len(body) > self._max_held
            ):
                body = _events_only(item)
                if late:
                    self._count(OVER_BUDGET)
                late = False
            timeline.held[seq] = (body, late)
            timeline.held_bytes += len(body)
            self.held_bytes += len(body)

    def _replay(self, timeline: Timeline, entry: AgentEntry, report: pb.Report, late: bool) -> None:
        shadow = timeline.shadow
        shadow.count_events(report)
        shadow.take([report])
        shadow.reports_total += 1
        if not late:
            return
        if self.queue.room() <= 0:
            self._count(QUEUE_FULL)
            return
        # The labels the agent's series carry now, like those /metrics shows.
        shadow.hostname, shadow.site, shadow.shown = entry.hostname, entry.site, entry.shown
        samples = render_samples(shadow, report.collected_unix_ms, self._labels)
        self._count(QUEUED if self.queue.offer(samples) else QUEUE_FULL)

    def _release(self, timeline: Timeline, size: int) -> None:
        timeline.held_bytes -= size
        self.held_bytes -= size

    def _drop(self, agent_id: str) -> None:
        timeline = self._timelines.pop(agent_id, None)
        if timeline is not None:
            self.held_bytes -= timeline.held_bytes

    def _forget_gone(self) -> None:
        """Drop the timelines of agents no longer in the fleet state (forgotten), whenever their number
        doubled since the last look."""
        if len(self._timelines) < self._sweep_at:
            return
        for agent_id in [a for a, t in self._timelines.items() if t.owner() is None]:
            self._drop(agent_id)
        self._sweep_at = max(64, 2 * len(self._timelines))
