"""Bounded in-memory queue of reports awaiting acknowledgement: the simulated agents' spool."""

from __future__ import annotations

from collections import deque

from fleetwatch_proto.v1 import fleetwatch_pb2 as pb


class Outbox:
    """Reports in seq order; the oldest are dropped (and counted) when the bound is hit."""

    def __init__(self, max_reports: int) -> None:
        if max_reports < 1:
            raise ValueError("max_reports must be at least 1")
        self._reports: deque[pb.Report] = deque()
        self._max = max_reports
        self.dropped_total = 0

    def __len__(self) -> int:
        return len(self._reports)

    def put(self, report: pb.Report) -> None:
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
