"""Following clamd's log from a cursor: new lines only, partial lines, rotation to .1, truncation."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from fleetwatch_agent.probes.antivirus.logfollow import MAX_READ, Cursor, new_lines


def append(path: Path, text: str) -> None:
    with path.open("a", encoding="utf-8") as handle:
        handle.write(text)


def follow(path: Path, cursor: Cursor | None) -> tuple[list[str], Cursor | None]:
    lines, keep = new_lines(path, cursor)
    return [line for line, _ in lines], keep


def drain(path: Path, cursor: Cursor | None, rounds: int = 10) -> tuple[list[str], Cursor | None]:
    """Every line the follower hands out over several collections (it may read in steps)."""
    seen: list[str] = []
    for _ in range(rounds):
        lines, cursor = follow(path, cursor)
        seen += lines
    return seen, cursor


def rotate(path: Path) -> None:
    """What logrotate does (without copytruncate): rename to .1 and create an empty file."""
    os.rename(path, f"{path}.1")
    path.write_text("")


@pytest.fixture
def log(tmp_path: Path) -> Path:
    path = tmp_path / "clamd.log"
    path.write_text("old 1\nold 2\n")
    return path


def test_cursor_round_trips_and_rejects_garbage() -> None:
    assert Cursor.loads(Cursor(123456, 789).dumps()) == Cursor(123456, 789)
    for text in (None, "", "12", "a:b", "1:2:3", "12:"):
        assert Cursor.loads(text) is None, text


def test_first_run_starts_at_the_end_so_history_is_not_new(log: Path) -> None:
    lines, cursor = follow(log, None)
    assert lines == []
    assert cursor == Cursor(log.stat().st_ino, len("old 1\nold 2\n"))


def test_new_lines_each_with_the_cursor_just_after_it(log: Path) -> None:
    _, cursor = follow(log, None)
    start = log.stat().st_size
    append(log, "new 1\nnew 22\n")
    lines, keep = new_lines(log, cursor)
    inode = log.stat().st_ino
    assert lines == [("new 1", Cursor(inode, start + 6)), ("new 22", Cursor(inode, start + 13))]
    assert keep == Cursor(inode, start + 13)
    assert follow(log, keep) == ([], keep)


def test_resuming_from_any_line_cursor_gives_exactly_the_lines_after_it(log: Path) -> None:
    _, cursor = follow(log, None)
    append(log, "a\nb\nc\n")
    lines, _ = new_lines(log, cursor)
    # A consumer that kept only the first line (its report was the last one committed).
    assert follow(log, lines[0][1])[0] == ["b", "c"]


def test_partial_last_line_waits_until_it_is_completed(log: Path) -> None:
    _, cursor = follow(log, None)
    append(log, "complete\nFri Nov 27 18:51:06 2026 -> /x: Eicar-Te")
    lines, cursor = follow(log, cursor)
    assert lines == ["complete"]
    assert follow(log, cursor) == ([], cursor)
    append(log, "st-Sig FOUND\n")
    lines, _ = follow(log, cursor)
    assert lines == ["Fri Nov 27 18:51:06 2026 -> /x: Eicar-Test-Sig FOUND"]


def test_missing_file_keeps_the_cursor(tmp_path: Path) -> None:
    path = tmp_path / "clamd.log"
    kept = Cursor(42, 1000)
    assert new_lines(path, kept) == ([], kept)


def test_a_log_that_appears_after_the_first_run_is_read_from_its_start(tmp_path: Path) -> None:
    """No file at the first collection: detections logged before the next one still count."""
    path = tmp_path / "clamd.log"
    lines, cursor = new_lines(path, None)
    assert lines == []
    assert cursor is not None
    path.write_text("first detection\n")
    lines, _ = new_lines(path, cursor)
    assert [line for line, _ in lines] == ["first detection"]


def test_file_gone_for_a_while_then_back_as_a_new_file_is_read_from_its_start(log: Path) -> None:
    _, cursor = follow(log, None)
    log.unlink()
    assert follow(log, cursor) == ([], cursor)
    log.write_text("back 1\n")
    lines, _ = follow(log, cursor)
    assert lines == ["back 1"]


def test_rotation_reads_the_rest_of_the_old_file_then_the_new_one_each_line_once(log: Path) -> None:
    _, cursor = follow(log, None)
    append(log, "before 1\n")
    lines, cursor = follow(log, cursor)
    assert lines == ["before 1"]
    append(log, "before 2 (not collected yet)\n")
    rotate(log)
    append(log, "after 1\n")
    lines, cursor = drain(log, cursor)
    assert lines == ["before 2 (not collected yet)", "after 1"]
    assert cursor == Cursor(log.stat().st_ino, len("after 1\n"))
    append(log, "after 2\n")
    assert follow(log, cursor)[0] == ["after 2"]


def test_writer_still_on_the_old_file_until_it_reopens_its_log(log: Path) -> None:
    """clamd keeps writing to the renamed file until SIGHUP; nothing it writes there is lost."""
    _, cursor = follow(log, None)
    os.rename(log, f"{log}.1")
    rotated = Path(f"{log}.1")
    append(rotated, "old fd 1\n")
    # No new file yet: nothing to read, the cursor stays in the old file.
    assert follow(log, cursor) == ([], cursor)
    log.write_text("")
    append(rotated, "old fd 2\n")
    lines, cursor = follow(log, cursor)
    assert lines == ["old fd 1", "old fd 2"]
    assert cursor is not None and cursor.inode == rotated.stat().st_ino
    append(rotated, "old fd 3 (just before SIGHUP)\n")
    append(log, "new fd 1\n")
    lines, cursor = drain(log, cursor)
    assert lines == ["old fd 3 (just before SIGHUP)", "new fd 1"]
    assert follow(log, cursor)[0] == []


def test_rotated_file_already_gone_reads_the_new_file_from_its_start(log: Path) -> None:
    _, cursor = follow(log, None)
    append(log, "lost with the compressed file\n")
    rotate(log)
    Path(f"{log}.1").unlink()
    append(log, "after\n")
    assert follow(log, cursor)[0] == ["after"]


def test_two_rotations_between_collections_skip_a_foreign_dot_one(log: Path) -> None:
    """After two rotations .1 is not the file the cursor points into: never read it from the old offset."""
    _, cursor = follow(log, None)
    rotate(log)
    append(log, "in the middle file\n" * 5)
    Path(f"{log}.1").rename(f"{log}.2")
    rotate(log)
    append(log, "newest\n")
    assert follow(log, cursor)[0] == ["newest"]


def test_truncation_in_place_reads_from_the_start(log: Path) -> None:
    _, cursor = follow(log, None)
    append(log, "x" * 100 + "\n")
    _, cursor = follow(log, cursor)
    inode = log.stat().st_ino
    with log.open("r+") as handle:
        handle.truncate(0)
    append(log, "after truncate\n")
    lines, cursor = follow(log, cursor)
    assert lines == ["after truncate"]
    assert cursor == Cursor(inode, len("after truncate\n"))


def test_truncated_to_empty_then_written_later(log: Path) -> None:
    _, cursor = follow(log, None)
    with log.open("r+") as handle:
        handle.truncate(0)
    lines, cursor = follow(log, cursor)
    assert lines == [] and cursor == Cursor(log.stat().st_ino, 0)
    append(log, "first after truncate\n")
    assert follow(log, cursor)[0] == ["first after truncate"]


def test_invalid_utf8_is_replaced_not_fatal(log: Path) -> None:
    _, cursor = follow(log, None)
    with log.open("ab") as handle:
        handle.write(b"/home/k\xe9toan/x: Eicar FOUND\n")
    assert follow(log, cursor)[0] == ["/home/k\ufffdtoan/x: Eicar FOUND"]


def test_a_large_backlog_is_read_in_bounded_steps_without_losing_lines(log: Path) -> None:
    _, cursor = follow(log, None)
    count = MAX_READ // 50 + 1000
    append(log, "".join(f"{i:09d}{'y' * 40}\n" for i in range(count)))
    seen, _ = drain(log, cursor)
    assert len(seen) == count
    assert seen[0].startswith("000000000") and seen[-1].startswith(f"{count - 1:09d}")


def test_rotation_with_a_large_unread_rest_in_the_old_file_loses_no_line(log: Path) -> None:
    """More than MAX_READ bytes left in .1 at rotation (agent down during a burst of detections):
    every line of .1 must still be read, in later collections if need be, before the new file.

    Fails today: new_lines reads at most MAX_READ of .1, then the new file, and returns a cursor in
    the new file, so the rest of .1 is skipped for good.
    """
    _, cursor = follow(log, None)
    count = MAX_READ // 50 + 500
    append(log, "".join(f"{i:09d}{'z' * 40}\n" for i in range(count)))
    rotate(log)
    append(log, "after rotation\n")
    seen, _ = drain(log, cursor)
    skipped = count + 1 - len(seen)
    assert skipped == 0, f"{skipped} lines of the rotated file were skipped"
    assert seen[-1] == "after rotation"


@pytest.mark.parametrize(
    "rotated_name",
    [
        "clamd-20261127_190537.log",  # clamd itself: LogRotate yes with a LogFileMaxSize
        "clamd.log-20261127",  # logrotate with dateext
    ],
)
def test_rotation_to_a_dated_name_reads_the_rest_of_the_old_file(log: Path, rotated_name: str) -> None:
    """The old file is found by its inode, whatever rotation named it.

    Fails today: only ``<log>.1`` is looked at, so the lines written to the old file after the
    last collection are skipped (see also the real-clamd test in tests/integration).
    """
    _, cursor = follow(log, None)
    append(log, "before rotation, not collected yet\n")
    os.rename(log, log.parent / rotated_name)
    log.write_text("after rotation\n")
    lines, _ = drain(log, cursor)
    assert lines == ["before rotation, not collected yet", "after rotation"]


def test_collection_between_logrotate_create_and_the_writers_reopen_loses_nothing(log: Path) -> None:
    """logrotate renames the log, creates an empty one, then signals clamd (postrotate SIGHUP).
    A collection in between must not leave the old file: clamd still writes there until SIGHUP.

    Fails today: the follower switches to the new, still empty file at once, so a line written to
    the old file before clamd reopens its log is skipped.
    """
    _, cursor = follow(log, None)
    rotate(log)  # rename + create
    lines, cursor = follow(log, cursor)
    assert lines == []
    append(Path(f"{log}.1"), "written by clamd before SIGHUP\n")
    append(log, "written by clamd after SIGHUP\n")
    lines, _ = drain(log, cursor)
    assert lines == ["written by clamd before SIGHUP", "written by clamd after SIGHUP"]
