"""The sequence store: strictly increasing numbers that are never reused across restarts or crashes."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest

from fleetwatch_agent.seqstore import SeqStore


def test_numbers_start_at_one_and_increase(tmp_path: Path) -> None:
    store = SeqStore(tmp_path / "seq")
    assert [store.next() for _ in range(200)] == list(range(1, 201))


def test_state_directory_is_created(tmp_path: Path) -> None:
    path = tmp_path / "state" / "agent" / "seq"
    SeqStore(path).next()
    assert path.is_file()


@pytest.mark.parametrize("handed_out", [1, 63, 64, 65, 130])
def test_a_new_store_continues_above_every_number_handed_out(tmp_path: Path, handed_out: int) -> None:
    path = tmp_path / "seq"
    first = SeqStore(path, block=64)
    issued = [first.next() for _ in range(handed_out)]
    # No close: the process may have crashed right after the last number.
    second = SeqStore(path, block=64)
    following = [second.next() for _ in range(100)]
    assert min(following) > max(issued)
    assert following == sorted(set(following))


def test_many_restarts_never_reuse_a_number(tmp_path: Path) -> None:
    path = tmp_path / "seq"
    issued: list[int] = []
    for run in range(20):
        store = SeqStore(path, block=8)
        issued.extend(store.next() for _ in range(run % 11))
    assert issued == sorted(issued)
    assert len(issued) == len(set(issued))


def test_reservation_writes_ahead_in_blocks(tmp_path: Path) -> None:
    path = tmp_path / "seq"
    store = SeqStore(path, block=10)
    store.next()
    assert int(path.read_text()) == 10
    for _ in range(9):
        store.next()
    assert int(path.read_text()) == 10
    store.next()
    assert int(path.read_text()) == 20


def test_no_temporary_file_is_left_behind(tmp_path: Path) -> None:
    store = SeqStore(tmp_path / "seq", block=2)
    for _ in range(10):
        store.next()
    assert [p.name for p in tmp_path.iterdir()] == ["seq"]


@pytest.mark.parametrize("content", ["", "twelve\n", "12.5\n", "\x00\x00\x00"])
def test_corrupt_file_is_logged_and_numbers_continue_above_every_one_handed_out(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, content: str
) -> None:
    path = tmp_path / "seq"
    first = SeqStore(path, block=64)
    issued = [first.next() for _ in range(130)]
    path.write_text(content)
    before_ms = int(time.time() * 1000)
    with caplog.at_level(logging.ERROR, logger="fleetwatch_agent.seqstore"):
        second = SeqStore(path, block=64)
    following = [second.next() for _ in range(100)]
    assert min(following) > max(issued)
    assert min(following) > before_ms  # continues at the clock in milliseconds
    assert following == sorted(set(following))
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert str(path) in errors[0]
    assert "corrupt" in errors[0]


def test_numbers_after_a_corrupt_file_are_reserved_for_the_next_start(tmp_path: Path) -> None:
    path = tmp_path / "seq"
    path.write_text("garbage\n")
    recovered = SeqStore(path, block=8)
    issued = [recovered.next() for _ in range(20)]
    restarted = SeqStore(path, block=8)
    assert restarted.next() > max(issued)
