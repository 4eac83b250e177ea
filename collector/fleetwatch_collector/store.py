"""The collector's SQLite store: the agent inventory, so silent agents stay visible after a restart."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path

from fleetwatch_collector.fleet import Snapshot

SCHEMA_VERSION = 1
SCHEMA = """
CREATE TABLE IF NOT EXISTS agents (
    agent_id        TEXT PRIMARY KEY,
    host            BLOB NOT NULL,     -- serialized fleetwatch.v1.HostInfo
    last_seq        INTEGER NOT NULL,
    last_report_ms  INTEGER NOT NULL,
    last_seen       REAL NOT NULL,
    interval_s      INTEGER NOT NULL
) WITHOUT ROWID;
"""


class StoreError(RuntimeError):
    """The store file cannot be used; the message says which file and why."""


class Store:
    """One SQLite file in WAL mode; every method may be called from any thread."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise StoreError(
                    f"{path}: schema version {version} is newer than this collector ({SCHEMA_VERSION})"
                )
            self._db.executescript(SCHEMA)
            self._db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{path}: cannot open the store: {exc}") from exc

    def load_agents(self) -> list[Snapshot]:
        with self._lock:
            rows = self._db.execute(
                "SELECT agent_id, host, last_seq, last_report_ms, last_seen, interval_s FROM agents"
            ).fetchall()
        return [Snapshot(*row) for row in rows]

    def save_agents(self, snapshots: Sequence[Snapshot]) -> None:
        if not snapshots:
            return
        with self._lock:
            self._db.execute("BEGIN")
            self._db.executemany(
                "INSERT INTO agents VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(agent_id) DO UPDATE SET "
                "host=excluded.host, last_seq=excluded.last_seq, last_report_ms=excluded.last_report_ms, "
                "last_seen=excluded.last_seen, interval_s=excluded.interval_s",
                [
                    (
                        s.agent_id,
                        s.host,
                        s.last_seq,
                        s.last_report_ms,
                        s.last_seen,
                        s.interval_seconds,
                    )
                    for s in snapshots
                ],
            )
            self._db.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            self._db.close()
