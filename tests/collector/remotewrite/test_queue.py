"""The sample queue: bounded, whole reports in or out, oldest first, the sender told of arrivals."""

from __future__ import annotations

import threading

import pytest

from fleetwatch_collector.remotewrite.encode import Labels, Sample
from fleetwatch_collector.remotewrite.queue import SampleQueue

SERIES: Labels = (("__name__", "m"),)


def samples(count: int, start: int = 0) -> list[Sample]:
    return [(SERIES, start + i, float(i)) for i in range(count)]


def test_bounded_and_all_or_nothing() -> None:
    queue = SampleQueue(10)
    assert queue.offer(samples(6))
    assert not queue.offer(samples(5, 100))  # 11 would not fit: none goes in
    assert len(queue) == 6 and queue.room() == 4
    assert queue.offer(samples(4, 200))
    assert queue.room() == 0
    assert not queue.offer(samples(1, 300))
    assert len(queue) == 10


def test_oldest_first_in_batches() -> None:
    queue = SampleQueue(100)
    queue.offer(samples(7))
    assert [t for _, t, _ in queue.take(3)] == [0, 1, 2]
    assert [t for _, t, _ in queue.take(10)] == [3, 4, 5, 6]
    assert queue.take(10) == []


def test_notify_on_arrival_only() -> None:
    calls: list[int] = []
    queue = SampleQueue(5, lambda: calls.append(1))
    queue.offer(samples(2))
    queue.offer([])
    queue.offer(samples(9))  # refused
    assert calls == [1]


def test_clear_counts() -> None:
    queue = SampleQueue(5)
    queue.offer(samples(3))
    assert queue.clear() == 3
    assert len(queue) == 0


def test_threads_never_exceed_the_bound() -> None:
    queue = SampleQueue(1000)
    accepted: list[int] = []

    def producer() -> None:
        for _ in range(200):
            if queue.offer(samples(7)):
                accepted.append(7)

    threads = [threading.Thread(target=producer) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(queue) == sum(accepted) <= 1000


def test_capacity_must_be_positive() -> None:
    with pytest.raises(ValueError):
        SampleQueue(0)
