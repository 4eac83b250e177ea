"""AppliedSeqs: the watermark, the applied seqs above it, the floor jump, the memory bound."""

from __future__ import annotations

import json

import pytest

from fleetwatch_collector.dedup import MAX_ABOVE, AppliedSeqs


def marked(*seqs: int) -> AppliedSeqs:
    applied = AppliedSeqs()
    for seq in seqs:
        applied.mark(seq)
    return applied


def test_fresh_set_has_applied_nothing() -> None:
    applied = AppliedSeqs()
    assert (applied.watermark, applied.above, applied.highest) == (0, set(), 0)
    assert not applied.is_applied(1)


def test_in_order_marks_advance_the_watermark() -> None:
    applied = AppliedSeqs()
    for seq in range(1, 51):
        applied.mark(seq)
        assert (applied.watermark, applied.above) == (seq, set())
    assert applied.highest == 50


def test_newest_first_then_backlog_ends_with_everything_applied() -> None:
    applied = marked(100)
    assert (applied.watermark, applied.above, applied.highest) == (0, {100}, 100)
    for seq in range(1, 99):
        applied.mark(seq)
        assert applied.watermark == seq
        assert applied.above == {100}
    assert not applied.is_applied(99)
    applied.mark(99)  # the last gap closes: the watermark runs over 100 too
    assert (applied.watermark, applied.above) == (100, set())
    assert all(applied.is_applied(seq) for seq in range(1, 101))


def test_gaps_fill_in_any_order() -> None:
    applied = marked(5, 3, 9, 1, 7)
    assert (applied.watermark, applied.above) == (1, {3, 5, 7, 9})
    applied.mark(2)
    assert (applied.watermark, applied.above) == (3, {5, 7, 9})
    for seq in (8, 6, 4):
        applied.mark(seq)
    assert (applied.watermark, applied.above) == (9, set())


def test_duplicates_below_and_above_the_watermark() -> None:
    applied = marked(1, 2, 3, 10)
    assert (applied.watermark, applied.above) == (3, {10})
    for seq in (1, 2, 3, 10):
        assert applied.is_applied(seq), seq
    for seq in (4, 9, 11):
        assert not applied.is_applied(seq), seq
    applied.mark(2)  # marking an applied seq again changes nothing
    applied.mark(10)
    assert (applied.watermark, applied.above) == (3, {10})


def test_advance_to_drops_entries_below_the_floor() -> None:
    applied = marked(5, 8, 20)
    applied.advance_to(9)
    assert (applied.watermark, applied.above) == (9, {20})
    assert applied.is_applied(6)  # never came, but the agent will not send it any more
    assert not applied.is_applied(10)


def test_advance_to_runs_over_applied_seqs_above_the_floor() -> None:
    applied = marked(5, 6, 7, 9)
    applied.advance_to(4)
    assert (applied.watermark, applied.above) == (7, {9})


@pytest.mark.parametrize("floor", [0, 2, 3])
def test_advance_to_never_goes_back(floor: int) -> None:
    applied = marked(1, 2, 3, 6)
    applied.advance_to(floor)
    assert (applied.watermark, applied.above) == (3, {6})


def test_above_is_bounded_for_sparse_seqs() -> None:
    applied = AppliedSeqs()
    sparse = range(2, 40_001, 2)  # 20,000 seqs, never a run: without the bound all would stay above
    for seq in sparse:
        applied.mark(seq)
        assert len(applied.above) <= MAX_ABOVE
    assert applied.highest == 40_000
    assert all(applied.is_applied(seq) for seq in sparse)  # nothing applied is forgotten
    # The oldest gaps were given up, the newest are still open; a useful window is kept.
    assert len(applied.above) >= MAX_ABOVE // 2
    assert min(applied.above) > applied.watermark >= 40_000 - 2 * MAX_ABOVE
    gaps = range(1, 40_000, 2)
    assert all(applied.is_applied(gap) for gap in gaps if gap <= applied.watermark)
    assert not any(applied.is_applied(gap) for gap in gaps if gap > applied.watermark)


def test_bound_gives_up_the_oldest_gap_first() -> None:
    applied = AppliedSeqs()
    last = 3 + 2 * MAX_ABOVE
    for seq in range(3, last + 1, 2):  # MAX_ABOVE + 1 sparse seqs from 3
        applied.mark(seq)
    assert len(applied.above) <= MAX_ABOVE
    assert applied.watermark >= 3  # 1 and 2 given up, 3 folded into the watermark
    assert applied.is_applied(1) and applied.is_applied(2)
    assert not applied.is_applied(last - 1)  # the newest gaps are still open
    assert applied.is_applied(last)


def test_dumps_loads_round_trip() -> None:
    applied = marked(1, 2, 3, 10, 7, 12)
    text = applied.dumps()
    assert json.loads(text) == [3, [7, 10, 12]]
    restored = AppliedSeqs.loads(text)
    assert restored == applied
    assert restored is not applied
    restored.mark(4)
    assert applied.watermark == 3  # independent copies


def test_dumps_loads_keeps_64_bit_seqs() -> None:
    applied = marked(2**63 - 1)
    applied.advance_to(2**62)
    assert AppliedSeqs.loads(applied.dumps()) == AppliedSeqs(2**62, {2**63 - 1})


def test_empty_round_trip() -> None:
    assert AppliedSeqs.loads(AppliedSeqs().dumps()) == AppliedSeqs()
