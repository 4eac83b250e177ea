"""The agent's sequence number, persisted so it keeps increasing across restarts."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

log = logging.getLogger(__name__)


class SeqStore:
    """Hands out strictly increasing sequence numbers, reserving them on disk in blocks."""

    def __init__(self, path: Path, block: int = 64, floor: int = 0) -> None:
        if block < 1:
            raise ValueError("block must be at least 1")
        self._path = path
        self._block = block
        self._next = max(self._read(), floor) + 1
        self._reserved_until = self._next - 1

    def _read(self) -> int:
        try:
            text = self._path.read_text().strip()
        except FileNotFoundError:
            return 0
        try:
            return int(text)
        except ValueError:
            # Real sequence numbers stay far below the clock in milliseconds (2 million a
            # year at 15 s), so continuing from there never reuses one.
            restart = int(time.time() * 1000)
            log.error("%s is corrupt (%r); continuing at %d", self._path, text[:20], restart)
            return restart

    def _reserve(self, upto: int) -> None:
        """Write ``upto`` atomically: a crash can skip numbers, never reuse them."""
        self._path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self._path.with_suffix(".tmp")
        with tmp.open("w") as handle:
            handle.write(f"{upto}\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self._path)
        _fsync_directory(self._path.parent)
        self._reserved_until = upto

    def next(self) -> int:
        seq = self._next
        if seq > self._reserved_until:
            self._reserve(seq + self._block - 1)
        self._next += 1
        return seq


def _fsync_directory(path: Path) -> None:
    """Make a rename durable (POSIX); Windows has no directory handles to sync."""
    if os.name != "posix":
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
