"""The outbox: bounded, in order, drops the oldest (counted), forgets reports only when acknowledged."""

from __future__ import annotations

import pytest

from fleetwatch_proto.v1 import fleetwatch_pb2 as pb
from fleetwatch_sim.outbox import Outbox


def report(seq: int) -> pb.Report:
    return pb.Report(seq=seq, collected_unix_ms=1_000_000 + seq)


def seqs(reports: list[pb.Report]) -> list[int]:
    return [r.seq for r in reports]


def filled(max_reports: int, *numbers: int) -> Outbox:
    outbox = Outbox(max_reports)
    for seq in numbers:
        outbox.put(report(seq))
    return outbox


def test_bound_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_reports"):
        Outbox(0)


def test_put_beyond_the_bound_drops_the_oldest_and_counts_them() -> None:
    outbox = filled(3, 1, 2, 3, 4, 5)
    assert len(outbox) == 3
    assert outbox.dropped_total == 2
    assert seqs(outbox.batch(10)) == [3, 4, 5]


def test_batch_returns_the_oldest_without_removing_them() -> None:
    outbox = filled(10, 1, 2, 3, 4)
    assert seqs(outbox.batch(2)) == [1, 2]
    assert seqs(outbox.batch(2)) == [1, 2]
    assert len(outbox) == 4
    assert outbox.batch(0) == []


def test_ack_removes_only_up_to_the_acknowledged_seq() -> None:
    outbox = filled(10, 5, 6, 7, 8)
    assert outbox.ack(6) == 2
    assert seqs(outbox.batch(10)) == [7, 8]
    assert outbox.ack(6) == 0  # a repeated or stale ack removes nothing
    assert outbox.ack(4) == 0
    assert len(outbox) == 2
    assert outbox.ack(100) == 2
    assert len(outbox) == 0


def test_ack_between_sequence_numbers_keeps_the_later_ones() -> None:
    outbox = filled(10, 10, 20, 30)
    assert outbox.ack(25) == 2
    assert seqs(outbox.batch(10)) == [30]


def test_stats_of_an_empty_outbox() -> None:
    assert Outbox(5).stats() == pb.SpoolStats(
        queued_reports=0, dropped_reports_total=0, oldest_queued_unix_ms=0
    )


def test_stats_report_queue_length_drops_and_oldest_time() -> None:
    outbox = filled(2, 1, 2, 3)
    stats = outbox.stats()
    assert stats.queued_reports == 2
    assert stats.dropped_reports_total == 1
    assert stats.oldest_queued_unix_ms == report(2).collected_unix_ms
    outbox.ack(2)
    assert outbox.stats().oldest_queued_unix_ms == report(3).collected_unix_ms
    assert outbox.stats().dropped_reports_total == 1  # acknowledged reports are not drops
