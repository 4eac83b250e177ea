"""A change signal between processes: a few bytes in a file beside the store, rewritten after each change.

A writer (the collector, or its command line in another process) rewrites the bytes after it committed
a change; a reader maps the file into memory and compares the bytes with those it saw last. Comparing
is a memory read, no system call (which would let other threads take the interpreter lock), so it is
cheap enough for every Push (credcache.py).
"""

from __future__ import annotations

import mmap
import os
from pathlib import Path

SIZE = 8


class ChangeSignal:
    """The file ``path``, created with the owner of ``like`` (the store) when it is missing."""

    def __init__(self, path: Path, like: Path | None = None) -> None:
        self.path = path
        self._like = like
        self._map: mmap.mmap | None = None
        self._unmappable = False

    def create(self) -> None:
        """Make the file if it is missing or short (OSError when it cannot be made)."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        with os.fdopen(fd, "r+b") as handle:
            if len(handle.read(SIZE)) < SIZE:
                handle.seek(0)
                handle.write(os.urandom(SIZE))
        # As SQLite does for its -wal and -shm files: root running the command line must not leave a
        # file the collector's own user cannot open.
        if self._like is not None and hasattr(os, "geteuid") and os.geteuid() == 0:
            owner = os.stat(self._like)
            os.chown(self.path, owner.st_uid, owner.st_gid)

    def bump(self) -> None:
        """Tell the readers something changed (call it after the change is committed)."""
        with self.path.open("r+b") as handle:
            handle.write(os.urandom(SIZE))

    def value(self) -> bytes | None:
        """The signal's current bytes; None when the file cannot be mapped (readers then trust nothing)."""
        signal = self._map
        if signal is None:
            if self._unmappable:
                return None
            try:
                with self.path.open("rb") as handle:
                    signal = self._map = mmap.mmap(handle.fileno(), SIZE, access=mmap.ACCESS_READ)
            except (OSError, ValueError):
                self._unmappable = True
                return None
        return signal[:SIZE]

    def close(self) -> None:
        if self._map is not None:
            self._map.close()
            self._map = None
