"""A file's signature (modification time, size, inode), to read a watched file again only when it changed."""

from __future__ import annotations

import os
from pathlib import Path

Signature = tuple[int, int, int] | None


def signature(path: str | Path | None) -> Signature:
    """``path``'s signature; None when there is no path or it cannot be read (a missing file)."""
    if path is None:
        return None
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return (stat.st_mtime_ns, stat.st_size, stat.st_ino)
