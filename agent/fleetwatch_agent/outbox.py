"""The agent's spool seen from its loop: each step of a cycle one call in the spool's own thread."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple, TypeVar

from fleetwatch_agent import convert
from fleetwatch_agent.spool import Spool, SpooledReport
from fleetwatch_proto.v1 import fleetwatch_pb2 as pb

T = TypeVar("T")


class Batch(NamedTuple):
    """Reports to send, the lowest seq still spooled (sent with them) and whether they are all of it."""

    reports: list[SpooledReport]
    oldest_held: int  # 0 without reports
    whole: bool


class Outbox:
    """Stores reports and hands out batches, each step one hop to the spool's thread (SQLite with fsync
    must not block the loop)."""

    # Every hop between threads costs two context switches and a wake-up of the loop, and a steady
    # cycle made three (bench_agent_rss --footprint): it now makes one. The
    # report is stored and, when the send loop waits for work, taken as its next batch in the same
    # call; a delivered batch that was the whole spool is forgotten with the next store rather than
    # at once (a report delivered twice after a crash is applied once by the collector: its seq).

    def __init__(self, spool: Spool, batch_limits: Callable[[], tuple[int, int]]) -> None:
        self.spool = spool
        self._limits = batch_limits  # max reports, max bytes of a batch
        self._io = ThreadPoolExecutor(max_workers=1, thread_name_prefix="spool")
        self._delivered: list[int] = []  # acknowledged, forgotten at the next step

    async def _run(self, function: Callable[..., T], *args: object) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._io, function, *args)

    def delivered(self, seqs: Sequence[int]) -> None:
        """``seqs`` were acknowledged: forgotten with the next step, without a hop of their own."""
        self._delivered.extend(seqs)

    def _take_delivered(self, more: Sequence[int] = ()) -> list[int]:
        """In the loop's thread (the only one that touches the list): what the next step forgets."""
        done, self._delivered = [*self._delivered, *more], []
        return done

    def _forget(self, done: list[int]) -> None:
        """In the spool's thread, first in every step: no bound ever drops a delivered report."""
        if done:
            self.spool.delete(done)

    def _add_stats(self, message: pb.Report) -> None:
        queued, dropped, oldest = self.spool.stats()
        message.spool.CopyFrom(
            pb.SpoolStats(queued_reports=queued, dropped_reports_total=dropped, oldest_queued_unix_ms=oldest)
        )

    def _take(self) -> Batch:
        self.spool.release()
        max_reports, max_bytes = self._limits()
        reports = self.spool.next_batch(max_reports, max_bytes)
        whole = len(reports) == len(self.spool)
        if not reports:
            return Batch(reports, 0, whole)
        # The lowest seq held: the batch's own when it holds the whole spool (no query).
        oldest = min(r.seq for r in reports) if whole else self.spool.seq_range()[0]
        return Batch(reports, oldest, whole)

    def _store(
        self, done: list[int], message: pb.Report, cursors: dict[str, str], take: bool
    ) -> tuple[int, Batch | None]:
        self._forget(done)
        totals = convert.add_totals(self.spool.totals, message)
        self._add_stats(message)
        body = message.SerializeToString()
        self.spool.put(message.seq, message.collected_unix_ms, body, cursors, totals)
        return len(body), self._take() if take else None

    async def store(
        self, message: pb.Report, cursors: dict[str, str], take: bool = False
    ) -> tuple[int, Batch | None]:
        """The report, with the queue's figures and the agent's totals (its events added), durably into
        the queue with the cursors it advances and those totals; its size, and the next batch if ``take``."""
        return await self._run(self._store, self._take_delivered(), message, cursors, take)

    async def add_stats(self, message: pb.Report) -> None:
        """The queue's figures before ``message`` would join it."""
        await self._run(self._add_stats, message)

    def _next(self, done: list[int]) -> Batch:
        self._forget(done)
        return self._take()

    async def next_batch(self, done: Sequence[int] = ()) -> Batch:
        """Forget the reports ``done`` (acknowledged, or refused for good) and any delivered before, free
        the batch in flight, and take the next one."""
        return await self._run(self._next, self._take_delivered(done))

    async def release(self) -> None:
        """The batch in flight was not delivered: the bounds may drop its reports again."""
        await self._run(self.spool.release)

    async def close(self) -> int:
        """Forget what was delivered, close the spool; how many reports stay in it."""

        done = self._take_delivered()

        def close() -> int:
            self._forget(done)
            left = len(self.spool)
            self.spool.close()
            return left

        try:
            return await self._run(close)
        finally:
            self._io.shutdown()
