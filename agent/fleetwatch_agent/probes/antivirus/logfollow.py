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
        handle.seek(offset)
        data = handle.read(MAX_READ)
    result = []
    start = 0
    while (end := data.find(b"\n", start)) >= 0:
        line = data[start:end].decode("utf-8", errors="replace")
        result.append((line, Cursor(inode, offset + end + 1)))
        start = end + 1
    return result


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
        return [], cursor
    if cursor is None:
        return [], Cursor(stat.st_ino, stat.st_size)
    lines: list[tuple[str, Cursor]] = []
    if cursor.inode != stat.st_ino:
        rotated = Path(f"{path}.1")
        try:
            old = os.stat(rotated)
            if old.st_ino == cursor.inode:
                lines = _lines_from(rotated, cursor.inode, cursor.offset)
                rest = lines[-1][1].offset if lines else cursor.offset
                if old.st_size - rest > 0 and lines:  # more of the old file waits: finish it first
                    return lines, lines[-1][1]
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
