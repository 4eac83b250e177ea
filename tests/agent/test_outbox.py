"""The outbox: a report stored and taken in one hop, delivered reports forgotten with the next step."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from fleetwatch_agent.outbox import Outbox
from fleetwatch_agent.spool import Spool, SpoolLimits
from fleetwatch_proto.v1 import fleetwatch_pb2 as pb

T = TypeVar("T")
ROOMY = SpoolLimits(max_reports=1000, max_bytes=10**8, max_age_seconds=86_400.0)


class CountingOutbox(Outbox):
    """An outbox that counts its hops to the spool's thread and checks every step runs there."""

    def __init__(self, spool: Spool, limits: tuple[int, int] = (100, 10**6)) -> None:
        super().__init__(spool, lambda: limits)
        self.hops = 0
        self.threads: set[str] = set()

    async def _run(self, function: Callable[..., T], *args: object) -> T:
        self.hops += 1

        def counted() -> T:
            self.threads.add(threading.current_thread().name)
            return function(*args)

        return await super()._run(counted)


def report(seq: int) -> pb.Report:
    return pb.Report(seq=seq, collected_unix_ms=int(time.time() * 1000), interval_seconds=15)


def rows(path: Path) -> list[int]:
    with sqlite3.connect(path) as db:
        return [seq for (seq,) in db.execute("SELECT seq FROM reports ORDER BY seq")]


def test_a_steady_cycle_stores_and_takes_its_report_in_one_hop(tmp_path: Path) -> None:
    path = tmp_path / "spool.sqlite"

    async def cycles() -> CountingOutbox:
        outbox = CountingOutbox(Spool(path, ROOMY))
        for seq in (1, 2, 3):
            size, batch = await outbox.store(report(seq), {}, take=True)
            assert size > 0 and batch is not None
            assert [r.seq for r in batch.reports] == [seq]  # the one before was forgotten first
            assert (batch.oldest_held, batch.whole) == (seq, True)
            assert pb.Report.FromString(batch.reports[0].body).spool.queued_reports == 0
            outbox.delivered([seq])  # acknowledged: no hop now
        assert outbox.hops == 3
        assert rows(path) == [3]  # the last delivered report waits for the next step
        assert await outbox.close() == 0
        return outbox

    outbox = asyncio.run(cycles())
    assert outbox.threads == {"spool_0"}
    assert rows(path) == []  # forgotten on close


def test_store_without_take_hands_nothing_and_the_next_batch_forgets_what_was_done(tmp_path: Path) -> None:
    path = tmp_path / "spool.sqlite"

    async def steps() -> None:
        outbox = CountingOutbox(Spool(path, ROOMY), limits=(2, 10**6))
        for seq in (1, 2, 3):
            assert (await outbox.store(report(seq), {}))[1] is None
        batch = await outbox.next_batch()
        assert [r.seq for r in batch.reports] == [3, 1]  # the newest, then the oldest
        assert (batch.oldest_held, batch.whole) == (1, False)
        outbox.delivered([3])
        batch = await outbox.next_batch([1])  # 3 delivered before, 1 done now
        assert [r.seq for r in batch.reports] == [2]
        assert (batch.oldest_held, batch.whole) == (2, True)
        assert rows(path) == [2]
        assert await outbox.close() == 1  # not delivered: it stays for the next start

    asyncio.run(steps())
    assert rows(path) == [2]


def test_queue_figures_never_count_a_delivered_report(tmp_path: Path) -> None:
    async def steps() -> tuple[pb.Report, pb.Report]:
        outbox = Outbox(Spool(tmp_path / "spool.sqlite", ROOMY), lambda: (100, 10**6))
        await outbox.store(report(1), {})
        await outbox.store(report(2), {})
        outbox.delivered([1])
        second = report(3)
        await outbox.add_stats(second)  # as `check` shows them: 1 not forgotten by a read
        third = report(3)
        await outbox.store(third, {})
        await outbox.close()
        return second, third

    second, third = asyncio.run(steps())
    assert second.spool.queued_reports == 2
    assert third.spool.queued_reports == 1  # 1 forgotten first, 2 still queued


def test_a_bound_never_drops_a_delivered_report(tmp_path: Path) -> None:
    tight = SpoolLimits(max_reports=2, max_bytes=10**8, max_age_seconds=86_400.0)
    spool = Spool(tmp_path / "spool.sqlite", tight)

    async def steps() -> None:
        outbox = Outbox(spool, lambda: (100, 10**6))
        for seq in (1, 2):
            await outbox.store(report(seq), {})
        await outbox.next_batch()
        outbox.delivered([1, 2])
        _, batch = await outbox.store(report(3), {}, take=True)
        assert batch is not None and [r.seq for r in batch.reports] == [3]
        assert spool.stats()[1] == 0  # nothing dropped: delivered ones were forgotten, not dropped
        await outbox.close()

    asyncio.run(steps())
