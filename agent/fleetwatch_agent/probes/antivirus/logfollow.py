"""Follows a log file across rotation from a cursor ``<inode>:<offset>``, reading only new lines."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

MAX_READ = 1024 * 1024  # bytes per file and collection; the rest waits for the next cycle


@dataclass(frozen=True)
class Cursor:
    inode: int
    offset: int

    def dumps(self) -> str:
        return f"{self.inode}:{self.offset}"

    @classmethod
    def loads(cls, text: str | None) -> Cursor | None:
        try:
            inode, offset = (text or "").split(":")
            return cls(int(inode), int(offset))
        except ValueError:
            return None


def _lines_from(path: Path, inode: int, offset: int) -> list[tuple[str, Cursor]]:
    """Complete lines from ``offset``, each with the cursor just after it."""
    with path.open("rb") as handle:
        # Only what is there: read(MAX_READ) allocates (and faults in) the whole MiB every time.
        size = os.fstat(handle.fileno()).st_size
        handle.seek(offset)
        data = handle.read(max(0, min(MAX_READ, size - offset)))
    result = []
    start = 0
    while (end := data.find(b"\n", start)) >= 0:
        line = data[start:end].decode("utf-8", errors="replace")
        result.append((line, Cursor(inode, offset + end + 1)))
        start = end + 1
    return result


def _rotated(path: Path, inode: int) -> Path | None:
    """The file now holding ``inode``: ``<log>.1`` (logrotate), else a sibling named after the log,
    e.g. ``clamd-20261127_190537.log`` (clamd's own LogRotate) or ``clamav.log-20261127`` (dateext)."""
    for candidate in (Path(f"{path}.1"), *sorted(path.parent.glob(f"{path.stem}*"))):
        try:
            if candidate != path and candidate.stat().st_ino == inode:
                return candidate
        except OSError:
            continue
    return None


def new_lines(path: Path, cursor: Cursor | None) -> tuple[list[tuple[str, Cursor]], Cursor | None]:
    """New complete lines since ``cursor``, each with the cursor after it, and the cursor to
    keep when no line is consumed.

    No cursor (first run): start at the end of the file, so history is not reported as new.
    Rotated (the inode changed): the rest of the old file if it is still at ``<path>.1``, then
    the new file from its start. Truncated in place: from the start.
    """
    try:
        stat = path.stat()
    except FileNotFoundError:
        # Not written yet: once it appears, read it from its start (inode 0 matches no file).
        return [], cursor or Cursor(0, 0)
    if cursor is None:
        return [], Cursor(stat.st_ino, stat.st_size)
    lines: list[tuple[str, Cursor]] = []
    if cursor.inode != stat.st_ino:
        rotated = _rotated(path, cursor.inode)
        if rotated is not None:
            try:
                lines = _lines_from(rotated, cursor.inode, cursor.offset)
                keep = lines[-1][1] if lines else cursor
                # Stay on the old file while more of it waits (one read is bounded), or while the
                # new file is empty: the writer may not have reopened its log yet (postrotate SIGHUP).
                if stat.st_size == 0 or (lines and rotated.stat().st_size > keep.offset):
                    return lines, keep
            except FileNotFoundError:
                pass
        start = Cursor(stat.st_ino, 0)
    elif stat.st_size < cursor.offset:
        start = Cursor(stat.st_ino, 0)
    else:
        start = cursor
    lines += _lines_from(path, start.inode, start.offset)
    # With nothing (more) to read in the old file, the new file's start is where to resume.
    return lines, (lines[-1][1] if lines else start)
