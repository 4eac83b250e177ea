"""Load shedding refuses Pushes while the store's queue stands, not after a pause it drains from."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from fleetwatch_collector.persist import Persister
from fleetwatch_collector.shedding import Shedder
from fleetwatch_collector.store import Store
from tests.collector.support import register
from tests.collector.test_persist import snapshot


def shedder(max_pending: int = 100) -> Shedder:
    return Shedder(target=1.0, interval=5.0, max_pending=max_pending)


def test_nothing_waiting_long_is_never_shed() -> None:
    s = shedder()
    assert not any(s.overloaded(50, wait, now) for now, wait in enumerate([0.0, 0.2, 0.99, 0.5, 0.0]))


def test_a_queue_standing_above_the_target_for_the_interval_is_shed() -> None:
    s = shedder()
    # Different Pushes are the oldest at each check; each has waited more than the target.
    checks = [(100.0, 1.5), (102.0, 1.2), (104.0, 1.8), (105.4, 1.1), (105.5, 1.3)]
    verdicts = [s.overloaded(10, wait, now) for now, wait in checks]
    # Above the target since 100.0 - 0.5 = 99.5: a whole interval at 104.5.
    assert verdicts == [False, False, False, True, True]


def test_a_pause_that_drains_starts_the_interval_again() -> None:
    s = shedder()
    assert not s.overloaded(10, 3.0, 100.0)  # above the target since 98.0
    assert not s.overloaded(10, 0.4, 101.0)  # drained: the queue no longer stands
    assert not s.overloaded(10, 1.5, 104.0)  # above again since 103.5, not since 98.0
    assert not s.overloaded(10, 2.0, 108.0)
    assert s.overloaded(10, 2.0, 108.5)


def test_one_push_stuck_longer_than_target_and_interval_is_shed_at_once() -> None:
    assert shedder().overloaded(1, 6.0, 100.0)
    assert not shedder().overloaded(1, 5.9, 100.0)


def test_shedding_ends_as_soon_as_the_queue_is_short() -> None:
    s = shedder()
    assert s.overloaded(10, 7.0, 100.0)
    assert not s.overloaded(10, 0.9, 100.1)


def test_the_count_bound_refuses_however_short_the_wait() -> None:
    s = shedder(max_pending=3)
    assert not s.overloaded(2, 0.0, 100.0)
    assert s.overloaded(3, 0.0, 100.0)


def test_the_persister_tells_its_oldest_waiting_save(tmp_path: Path) -> None:
    store = register(Store(tmp_path / "collector.sqlite"), "a1", "a2")

    async def main() -> tuple[float, float, int, float]:
        persister = Persister(store)
        try:
            idle = persister.oldest_wait(time.monotonic())
            with store.transaction():  # the writer thread waits for this lock: saves stay queued
                first = asyncio.ensure_future(persister.save(snapshot("a1", 1)))
                await asyncio.sleep(0)
                queued_at = time.monotonic()
                second = asyncio.ensure_future(persister.save(snapshot("a2", 1)))
                await asyncio.sleep(0)
                waiting = persister.pending
                oldest = persister.oldest_wait(queued_at + 10.0)
            await asyncio.gather(first, second)
            return idle, oldest, waiting, persister.oldest_wait(time.monotonic())
        finally:
            await asyncio.to_thread(persister.close)

    try:
        idle, oldest, waiting, after = asyncio.run(main())
    finally:
        store.close()
    assert (idle, waiting, after) == (0.0, 2, 0.0)
    assert oldest >= 10.0  # the first save's age, not the second's
