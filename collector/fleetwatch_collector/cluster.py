"""The files the members of a cluster share: the cluster key, and the list of revoked agents."""

from __future__ import annotations

import datetime
import logging
import os
from pathlib import Path

from fleetwatch_collector.filesig import Signature, signature
from fleetwatch_collector.signedcred import MIN_KEY_BYTES
from fleetwatch_collector.sitedir import Reload
from fleetwatch_proto.limits import AGENT_ID_RE
from fleetwatch_proto.tomlconfig import ConfigError

log = logging.getLogger(__name__)
# A revoked file larger than this is refused (the old list stays): about 200,000 agent ids.
MAX_REVOKED_BYTES = 8 * 1024 * 1024


def load_key(path: str) -> bytes:
    """The cluster key of ``cluster.key_file``: its bytes as they are (copy the file, never retype it)."""
    option = "cluster.key_file"
    try:
        mode = os.stat(path).st_mode & 0o777
        key = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(f"{option}: cannot read {path}: {exc.strerror}") from exc
    if os.name == "posix" and mode & 0o077:
        raise ConfigError(f"{option}: {path} has mode {mode:o}, which lets others read the key; chmod 600 it")
    if len(key) < MIN_KEY_BYTES:
        raise ConfigError(
            f"{option}: {path} holds {len(key)} bytes, at least {MIN_KEY_BYTES} random bytes are needed"
            " (head -c 64 /dev/urandom > FILE)"
        )
    return key


def parse_revoked(text: str) -> frozenset[str]:
    """Agent ids of a revoked file: one per line, '#' starts a comment; ValueError names a bad line."""
    ids = set()
    for number, line in enumerate(text.splitlines(), 1):
        entry = line.split("#", 1)[0].strip()
        if not entry:
            continue
        if not AGENT_ID_RE.fullmatch(entry):
            raise ValueError(f"line {number}: {entry[:80]!r} is not an agent id")
        ids.add(entry)
    return frozenset(ids)


def _read_revoked(path: Path) -> frozenset[str]:
    with path.open("rb") as handle:
        raw = handle.read(MAX_REVOKED_BYTES + 1)
    if len(raw) > MAX_REVOKED_BYTES:
        raise ValueError(f"larger than {MAX_REVOKED_BYTES} bytes")
    return parse_revoked(raw.decode("utf-8"))


class RevokedList:
    """The agent ids of ``cluster.revoked_file`` (None: no file), read again when it changes.

    A missing file at the start is an empty list (nobody revoked yet); a bad or vanished file later
    keeps the previous list and is logged. Readers (the event loop) see one frozenset, swapped whole.
    """

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.ids: frozenset[str] = frozenset()
        self._signature: Signature = None
        if path is None:
            return
        self._signature = self._stat()
        if self._signature is None:
            log.info("cluster.revoked_file %s does not exist yet: no agent revoked by it", path)
            return
        try:
            self.ids = _read_revoked(path)
        except (OSError, ValueError) as exc:  # UnicodeDecodeError is a ValueError
            raise ConfigError(f"cluster.revoked_file: {path}: {exc}") from exc

    def __contains__(self, agent_id: object) -> bool:
        return agent_id in self.ids

    def _stat(self) -> Signature:
        return signature(self.path)

    def check(self, force: bool = False) -> Reload:
        """Read the file again if it changed (or when ``force``); a bad file keeps the old list."""
        if self.path is None:
            return Reload.UNCHANGED
        before = self._stat()
        if before == self._signature and not force:
            return Reload.UNCHANGED
        try:
            if before is None:
                raise OSError("cannot be read (missing?)")
            ids = _read_revoked(self.path)
        except (OSError, ValueError) as exc:
            if self._stat() != before:  # written while we read it: read it again at the next check
                return Reload.UNCHANGED
            self._signature = before  # report a bad version once, not at every check
            log.error("cluster.revoked_file %s not reloaded, keeping the previous list: %s", self.path, exc)
            return Reload.FAILED
        self._signature = before
        added = len(ids - self.ids)
        self.ids = ids
        log.info("cluster.revoked_file %s reloaded: %d agents (%d new)", self.path, len(ids), added)
        return Reload.RELOADED


def append_revoked(path: Path, agent_id: str, member: str = "") -> bool:
    """Add ``agent_id`` to the revoked file (created when missing); False when it is listed already."""
    try:
        listed = _read_revoked(path)
    except FileNotFoundError:
        listed = frozenset()
    except ValueError as exc:
        raise ConfigError(f"cluster.revoked_file: {path}: {exc}; fix it first") from exc
    if agent_id in listed:
        return False
    when = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    line = f"{agent_id}  # revoked {when}{f' on {member}' if member else ''}\n"
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":  # a last line without its newline
            line = "\n" + line
        os.write(fd, line.encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)
    return True
