"""Bounded in-memory queue of reports awaiting acknowledgement: the simulated agents' spool, with
their totals (event counts stamped on each report as it is queued, as the agent's spool does)."""

from __future__ import annotations

from collections import deque

from fleetwatch_agent import convert
from fleetwatch_agent.report import Totals
from fleetwatch_proto.v1 import fleetwatch_pb2 as pb


class Outbox:
    """Reports in seq order; the oldest are dropped (and counted) when the bound is hit.

    ``totals``: stamp each report put with the totals of every event put so far (False: an agent from
    before Report.totals, counted by its events)."""

    def __init__(self, max_reports: int, totals: bool = True) -> None:
        if max_reports < 1:
            raise ValueError("max_reports must be at least 1")
        self._reports: deque[pb.Report] = deque()
        self._max = max_reports
        self.dropped_total = 0
        self.totals: Totals | None = Totals() if totals else None

    def __len__(self) -> int:
        return len(self._reports)

    def put(self, report: pb.Report) -> None:
        if self.totals is not None:
            self.totals = convert.add_totals(self.totals, report)
        while len(self._reports) >= self._max:
            self._reports.popleft()
            self.dropped_total += 1
        self._reports.append(report)

    def batch(self, max_reports: int) -> list[pb.Report]:
        """The oldest reports, at most ``max_reports``; they stay queued until acknowledged."""
        return [self._reports[i] for i in range(min(max_reports, len(self._reports)))]

    def ack(self, seq: int) -> int:
        """Forget every report with a sequence number up to ``seq``; returns how many."""
        removed = 0
        while self._reports and self._reports[0].seq <= seq:
            self._reports.popleft()
            removed += 1
        return removed

    def stats(self) -> pb.SpoolStats:
        oldest = self._reports[0].collected_unix_ms if self._reports else 0
        return pb.SpoolStats(
            queued_reports=len(self._reports),
            dropped_reports_total=self.dropped_total,
            oldest_queued_unix_ms=oldest,
        )
