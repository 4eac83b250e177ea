"""Central configuration documents in the collector's SQLite file, and the effective one per site in memory.

Each `config set` appends a row (never updated: the history stays); the newest row of a scope is
its document. The running collector re-reads the table when its newest row id changes (checked
every ``refresh_seconds`` and at SIGHUP), so a Push costs a dictionary look-up, never SQL.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path

from fleetwatch_collector.agentstate import SiteLabels
from fleetwatch_collector.centralconfig import Document, merge, parse_scope, to_message, version_of
from fleetwatch_collector.store import StoreError
from fleetwatch_proto.v1 import fleetwatch_pb2 as pb

log = logging.getLogger(__name__)
SCHEMA = """
CREATE TABLE IF NOT EXISTS central_config (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    scope     TEXT NOT NULL,        -- all, district:<slug> or site:<slug>
    created   REAL NOT NULL,
    document  TEXT NOT NULL         -- the validated document as JSON (centralconfig.py)
);
"""


@dataclass(frozen=True)
class Effective:
    """The merged configuration of one site, its version and its wire form."""

    document: Document
    version: str
    message: pb.AgentConfig


@dataclass(frozen=True)
class HistoryEntry:
    id: int
    scope: str
    created: float
    document: Document


class CentralConfigs:
    """The documents of every scope; ``for_site`` is what a Push reads."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=10.0)
            self._db.executescript(SCHEMA)
        except sqlite3.Error as exc:
            raise StoreError(f"central configuration in {path}: {exc}") from exc
        self._lock = threading.Lock()
        self._newest = -1
        self._documents: dict[str, Document] = {}
        self._cache: dict[tuple[str, str], Effective | None] = {}
        self._wake = asyncio.Event()
        self.refresh()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def set(self, scope: str, document: Document, now: float) -> int:
        """Store ``document`` (validated by the caller) as the newest of ``scope``; its row id."""
        parse_scope(scope)
        with self._lock:
            cursor = self._db.execute(
                "INSERT INTO central_config (scope, created, document) VALUES (?, ?, ?)",
                (scope, now, json.dumps(document, sort_keys=True)),
            )
        return int(cursor.lastrowid or 0)

    def history(self, scope: str | None = None) -> list[HistoryEntry]:
        query = "SELECT id, scope, created, document FROM central_config"
        args: tuple[str, ...] = ()
        if scope is not None:
            query += " WHERE scope = ?"
            args = (scope,)
        with self._lock:
            rows = self._db.execute(query + " ORDER BY id", args).fetchall()
        return [HistoryEntry(r[0], r[1], r[2], json.loads(r[3])) for r in rows]

    def refresh(self) -> bool:
        """Read the documents again when a row was added since; True when they changed."""
        with self._lock:
            newest = self._db.execute("SELECT COALESCE(MAX(id), 0) FROM central_config").fetchone()[0]
            if newest == self._newest:
                return False
            rows = self._db.execute(
                "SELECT scope, document FROM central_config WHERE id IN "
                "(SELECT MAX(id) FROM central_config GROUP BY scope)"
            ).fetchall()
            self._documents = {scope: json.loads(text) for scope, text in rows}
            self._cache = {}  # replaced whole: a Push reading the old one meanwhile is fine
            self._newest = newest
        log.info("central configuration: %d scopes loaded (newest change %d)", len(rows), newest)
        return True

    def for_site(self, site: str, district: str) -> Effective | None:
        """The effective configuration of a site, None when no scope has a document."""
        cache = self._cache
        key = (site, district)
        if key not in cache:
            cache[key] = self._effective(site, district)
        return cache[key]

    def _effective(self, site: str, district: str) -> Effective | None:
        documents = self._documents
        scopes = ("all", f"district:{district}", f"site:{site}")
        found = [documents[s] for s in scopes if s in documents]
        if not documents:
            return None
        merged = merge(found)
        version = version_of(merged)
        return Effective(merged, version, to_message(merged, version))

    def for_labels(self, labels: SiteLabels | None) -> Effective | None:
        return self.for_site(labels.site, labels.district) if labels else self.for_site("", "")

    def wake(self) -> None:
        """Check for a change now (SIGHUP)."""
        self._wake.set()

    async def run(self, stop: asyncio.Event, refresh_seconds: float) -> None:
        """Refresh every ``refresh_seconds`` and when woken, until ``stop`` is set."""
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), refresh_seconds)
            self._wake.clear()
            try:
                await asyncio.to_thread(self.refresh)
            except sqlite3.Error as exc:
                log.error("central configuration: cannot read %s: %s", self.path, exc)
