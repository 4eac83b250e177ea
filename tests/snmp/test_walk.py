"""The side-by-side column walk: GETBULK rows, columns ending, non-increasing OIDs refused."""

from __future__ import annotations

import pytest

from fleetwatch_snmp.errors import PollError
from fleetwatch_snmp.values import Missing, Value
from fleetwatch_snmp.walk import ColumnWalk

A = (1, 3, 6, 1, 2, 1, 2, 2, 1, 2)
B = (1, 3, 6, 1, 2, 1, 2, 2, 1, 3)
C = (1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 1)


def walk_of(*columns: tuple[int, ...]) -> ColumnWalk:
    return ColumnWalk(columns)


def test_bulk_rows_fill_each_column_until_it_ends() -> None:
    walk = walk_of(A, B)
    columns, request = walk.request()
    assert columns == [A, B] and request == [A, B]
    answer: list[tuple[tuple[int, ...], Value]] = [
        ((*A, 1), b"eth0"), ((*B, 1), 6),
        ((*A, 2), b"eth1"), ((*B, 2), 6),
        ((*B, 1), 1), ((*C, 1), b"x"),  # A ended (next column), B ended (next table)
    ]  # fmt: skip
    walk.feed(columns, answer)
    assert walk.done
    assert walk.cells == {A: {(1,): b"eth0", (2,): b"eth1"}, B: {(1,): 6, (2,): 6}}
    assert walk.varbinds == 4


def test_a_column_that_goes_on_is_asked_again_from_its_last_oid() -> None:
    walk = walk_of(A, B)
    walk.feed([A, B], [((*A, 1), b"a"), ((*B, 1), 1), ((*A, 2), b"b")])  # cut short mid-row
    assert walk.request() == ([A, B], [(*A, 2), (*B, 1)])
    walk.feed([A, B], [((*C, 1), b"x"), ((*B, 5), 1), ((*C, 1), b"x"), (C, Missing.END_OF_MIB_VIEW)])
    assert walk.done
    assert walk.cells[B] == {(1,): 1, (5,): 1}


def test_end_of_mib_view_ends_a_column() -> None:
    walk = walk_of(C)
    walk.feed([C], [((*C, 1), b"x"), ((*C, 1), Missing.END_OF_MIB_VIEW)])
    assert walk.done and walk.cells[C] == {(1,): b"x"}


@pytest.mark.parametrize(
    "answer",
    [
        [(A, 7)],  # the asked OID itself
        [((*A, 3), b"x"), ((*A, 2), b"y")],  # going back
        [((1, 3, 6), b"x")],  # before the column
    ],
)
def test_an_oid_that_does_not_increase_is_malformed(answer: list[tuple[tuple[int, ...], Value]]) -> None:
    with pytest.raises(PollError, match="does not follow") as raised:
        walk_of(A).feed([A], answer)
    assert raised.value.error_class == "malformed"


def test_an_empty_answer_is_malformed() -> None:
    with pytest.raises(PollError, match="no variables"):
        walk_of(A).feed([A], [])


def test_a_walk_that_never_ends_is_cut() -> None:
    walk = ColumnWalk([A], max_rows=3)
    with pytest.raises(PollError, match="over 3 rows"):
        walk.feed([A], [((*A, index), 1) for index in range(1, 10)])


def test_finish_ends_a_column_without_an_answer() -> None:
    walk = walk_of(A, B)
    walk.finish(A)
    assert walk.request() == ([B], [B])
