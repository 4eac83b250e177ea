"""Central configuration documents in the collector's SQLite file, and the effective one per site in memory.

Each `config set` appends a row (never updated: the history stays); the newest row of a scope is
its document. The running collector re-reads the table when its newest row id changes (checked
every ``refresh_seconds`` and at SIGHUP), so a Push costs a dictionary look-up, never SQL.

What each agent said in its latest Push (the version it runs, the one it refuses and why) is kept
in memory too, and written to the agent_config table only when it changed, in one transaction at
each refresh: `config show` reads it there.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sqlite3
import threading
import time
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
CREATE TABLE IF NOT EXISTS agent_config (
    agent_id         TEXT PRIMARY KEY,
    site             TEXT NOT NULL,  -- the site and district the collector serves it for
    district         TEXT NOT NULL,
    version          TEXT NOT NULL,  -- the version it runs ("" = its local file alone)
    refused_version  TEXT NOT NULL,  -- the version it refuses ("" = none), and why
    refused_reason   TEXT NOT NULL,
    updated          REAL NOT NULL
) WITHOUT ROWID;
"""
# An agent's word on its configuration: site, district, version run, version refused, reason.
Said = tuple[str, str, str, str, str]


@dataclass(frozen=True)
class Effective:
    """The merged configuration of one site, its version and its wire form."""

    document: Document
    version: str
    message: pb.AgentConfig


@dataclass(frozen=True)
class AgentStatus:
    """What an agent said of its central configuration in its latest Push, and where it is."""

    agent_id: str
    site: str
    district: str
    version: str
    refused_version: str
    refused_reason: str
    updated: float


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
        # Agent id -> its latest word, as stored or to store; the words not stored yet, and when.
        self._said_lock = threading.Lock()
        self._said: dict[str, Said] = {}
        self._unsaved: dict[str, tuple[Said, float]] = {}
        self.refresh()
        with self._lock:
            rows = self._db.execute(
                "SELECT agent_id, site, district, version, refused_version, refused_reason FROM agent_config"
            ).fetchall()
        self._said = {row[0]: (row[1], row[2], row[3], row[4], row[5]) for row in rows}

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

    def note(self, agent_id: str, labels: SiteLabels | None, request: pb.PushRequest) -> None:
        """What a Push says of the agent's configuration, kept when it changed (a dictionary look-up);
        stored at the next ``save``."""
        said = (
            labels.site if labels else "",
            labels.district if labels else "",
            request.config_version,
            request.config_refused_version,
            request.config_refused_reason,
        )
        if self._said.get(agent_id) != said:
            with self._said_lock:
                self._said[agent_id] = said
                self._unsaved[agent_id] = (said, time.time())

    def save(self) -> int:
        """Store what agents said since the last save, in one transaction; how many agents."""
        with self._said_lock:
            unsaved, self._unsaved = self._unsaved, {}
        if not unsaved:
            return 0
        rows = [(agent_id, *said, when) for agent_id, (said, when) in unsaved.items()]
        with self._lock:
            self._db.execute("BEGIN")
            try:
                self._db.executemany("INSERT OR REPLACE INTO agent_config VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
                self._db.execute("COMMIT")
            except sqlite3.Error:
                self._db.execute("ROLLBACK")
                with self._said_lock:  # tried again at the next save, unless a newer word came
                    self._unsaved = {**unsaved, **self._unsaved}
                raise
        return len(rows)

    def statuses(self) -> list[AgentStatus]:
        """What every enrolled agent (not revoked) said last, by agent id."""
        with self._lock:
            rows = self._db.execute(
                "SELECT agent_id, site, district, version, refused_version, refused_reason, updated"
                " FROM agent_config WHERE agent_id IN (SELECT agent_id FROM agents WHERE revoked = 0)"
                " ORDER BY agent_id"
            ).fetchall()
        return [AgentStatus(*row) for row in rows]

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
            try:
                await asyncio.to_thread(self.save)
            except sqlite3.Error as exc:
                log.error(
                    "central configuration: cannot store the agents' versions in %s: %s", self.path, exc
                )
