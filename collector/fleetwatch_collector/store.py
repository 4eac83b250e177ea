"""The collector's SQLite store: enrolment tokens, agent credentials (hashed) and agent state."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from fleetwatch_collector.agentstate import SiteLabels
from fleetwatch_collector.changesignal import ChangeSignal
from fleetwatch_collector.fleet import Snapshot

SCHEMA_VERSION = 4
# The longest a running collector keeps a credential read from the store (credcache.py): the bound on
# applying a change that was not signalled (made around the collector, e.g. a hand edit of the store).
CREDENTIALS_MAX_AGE_SECONDS = 300.0
# Columns added after version 1, for stores made by older collectors: (table, column, statement).
MIGRATIONS = (
    ("agents", "counters", "ALTER TABLE agents ADD COLUMN counters TEXT NOT NULL DEFAULT '{}'"),
    ("agents", "machine_hash", "ALTER TABLE agents ADD COLUMN machine_hash BLOB"),
    ("agents", "hostname", "ALTER TABLE agents ADD COLUMN hostname TEXT"),
    ("agents", "cert_name", "ALTER TABLE agents ADD COLUMN cert_name TEXT"),
    ("tokens", "max_uses", "ALTER TABLE tokens ADD COLUMN max_uses INTEGER"),
)
INDEXES = (
    "CREATE INDEX IF NOT EXISTS agents_by_machine ON agents (machine_hash) WHERE machine_hash IS NOT NULL"
)
SCHEMA = """
CREATE TABLE IF NOT EXISTS tokens (
    token_id     TEXT PRIMARY KEY,
    token_hash   BLOB NOT NULL,        -- SHA-256 of the token's secret part
    site         TEXT,                 -- NULL: any site (lab and simulation use)
    district     TEXT,
    site_type    TEXT,
    site_name    TEXT,
    created      REAL NOT NULL,
    expires      REAL,                 -- NULL: never
    revoked      INTEGER NOT NULL DEFAULT 0,
    enrolments   INTEGER NOT NULL DEFAULT 0,
    max_uses     INTEGER               -- enrolments it may make; NULL: unlimited
);
CREATE TABLE IF NOT EXISTS agents (
    agent_id       TEXT PRIMARY KEY,
    secret_hash    BLOB,               -- SHA-256 of the per-agent secret
    revoked        INTEGER NOT NULL DEFAULT 0,
    token_id       TEXT,
    enrolled_at    REAL,
    site           TEXT,               -- NULL: labels claimed by the agent (any-site token)
    district       TEXT,
    site_type      TEXT,
    site_name      TEXT,
    host           BLOB,               -- serialized fleetwatch.v1.HostInfo; NULL until the first report
    applied        TEXT,               -- AppliedSeqs as JSON [watermark, [seqs above]]
    state_seq      INTEGER NOT NULL DEFAULT 0,
    reports_total  INTEGER NOT NULL DEFAULT 0,
    counters       TEXT NOT NULL DEFAULT '{}',  -- event counters as JSON
    last_report_ms INTEGER NOT NULL DEFAULT 0,
    last_seen      REAL NOT NULL DEFAULT 0,
    interval_s     INTEGER NOT NULL DEFAULT 15,
    machine_hash   BLOB,               -- SHA-256 of the machine id sent at enrolment; NULL: none
    hostname       TEXT,               -- the host label: recorded at enrolment, then fleet.py's rule
    cert_name      TEXT                -- client certificate name it enrolled with under mutual TLS
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS devices (
    name           TEXT PRIMARY KEY,   -- a device the collector polls itself ([snmp] devices_file)
    counters       TEXT NOT NULL       -- its flips and traps as JSON (devstate.new_counters)
) WITHOUT ROWID;
"""


class StoreError(RuntimeError):
    """The store file cannot be used; the message says which file and why."""


def site_of(row: Sequence[Any]) -> SiteLabels | None:
    """SiteLabels from (site, district, site_type, site_name) columns, None when site is NULL."""
    site, district, site_type, site_name = row
    return None if site is None else SiteLabels(site, district, site_type, site_name or "")


class Store:
    """One SQLite file in WAL mode, with a writing and a reading connection, each behind a lock."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._write_lock = threading.Lock()
        self._read_lock = threading.Lock()
        # Rewritten after a transaction that changed a credential commits (credentials_changed), read by
        # the collector's credential cache (credcache.py), whichever process made the change.
        self.credentials = ChangeSignal(path.with_name(path.name + "-credentials"), path)
        self._signal_after_commit = False
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = self._connect()
            try:
                version = self._db.execute("PRAGMA user_version").fetchone()[0]
                if version > SCHEMA_VERSION:
                    raise StoreError(
                        f"{path}: schema version {version} is newer than this collector's ({SCHEMA_VERSION})"
                    )
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.executescript(SCHEMA)
                for table, column, statement in MIGRATIONS:
                    columns = {row[1] for row in self._db.execute(f"PRAGMA table_info({table})")}
                    if column not in columns:
                        self._db.execute(statement)
                self._db.execute(INDEXES)
                self._db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            except BaseException:
                self._db.close()
                raise
            self._reader = self._connect()
            self._reader.execute("PRAGMA synchronous=NORMAL")  # it only reads
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{path}: cannot open the store: {exc}") from exc
        try:
            self.credentials.create()
        except OSError as exc:
            self.close()
            raise StoreError(
                f"{self.credentials.path}: cannot create the credential change signal: {exc}"
            ) from exc

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=10)
        # WAL with synchronous=FULL: each COMMIT fsyncs the WAL before it returns, so a Push
        # acknowledged after its commit survives a power loss, not only a crash of the process.
        db.execute("PRAGMA synchronous=FULL")
        db.execute("PRAGMA foreign_keys=ON")
        return db

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction, rolled back on any error; database errors become StoreError."""
        with self._write_lock:
            try:
                self._signal_after_commit = False
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    yield self._db
                    self._db.execute("COMMIT")
                except BaseException:
                    if self._db.in_transaction:  # also when COMMIT itself failed
                        self._db.execute("ROLLBACK")
                    raise
            except (sqlite3.DatabaseError, OverflowError) as exc:
                raise StoreError(f"{self.path}: write failed: {exc}") from exc
            if self._signal_after_commit:
                self._signal_after_commit = False
                self._signal()

    def credentials_changed(self) -> None:
        """A credential changed (a secret, revoked, forgotten): inside a transaction, signalled once it
        commits; outside, at once. Every path that changes the agents' credential columns calls it."""
        if self._db.in_transaction:
            self._signal_after_commit = True
        else:
            self._signal()

    def _signal(self) -> None:
        try:
            self.credentials.bump()
        except OSError as exc:
            raise StoreError(
                f"{self.credentials.path}: the change is stored, but a running collector cannot be told "
                f"(it applies it within {CREDENTIALS_MAX_AGE_SECONDS:g} s): {exc}"
            ) from exc

    def query(self, sql: str, args: Sequence[Any] = ()) -> list[Any]:
        """Rows of a read-only query on the reading connection."""
        with self._read_lock:
            try:
                return self._reader.execute(sql, args).fetchall()
            except sqlite3.DatabaseError as exc:
                raise StoreError(f"{self.path}: read failed: {exc}") from exc

    def load_agents(self) -> list[tuple[Snapshot, SiteLabels | None]]:
        """Every agent that has reported at least once, with the site bound at enrolment."""
        rows = self.query(
            "SELECT agent_id, host, applied, state_seq, reports_total, counters, last_report_ms,"
            " last_seen, interval_s, COALESCE(hostname, ''), site, district, site_type, site_name"
            " FROM agents WHERE host IS NOT NULL"
        )
        return [(Snapshot(*row[:10]), site_of(row[10:])) for row in rows]

    def save_agents(self, snapshots: Sequence[Snapshot]) -> None:
        """Write the state of these agents, enrolled ones only, in one transaction."""
        # UPDATE, not an upsert: a Push in flight when `agent forget` ran must not bring the row back.
        if not snapshots:
            return
        with self.transaction() as db:
            db.executemany(
                "UPDATE agents SET host=?, applied=?, state_seq=?, reports_total=?, counters=?,"
                " last_report_ms=?, last_seen=?, interval_s=?, hostname=? WHERE agent_id=?",
                # Not dataclasses.astuple: it deep-copies every field, in the thread that shares the
                # interpreter lock with the event loop.
                [
                    (
                        s.host,
                        s.applied,
                        s.state_seq,
                        s.reports_total,
                        s.counters,
                        s.last_report_ms,
                        s.last_seen,
                        s.interval_seconds,
                        s.hostname,
                        s.agent_id,
                    )
                    for s in snapshots
                ],
            )

    def agent_ids(self) -> dict[str, bool]:
        """Every enrolled agent id, and whether it is revoked."""
        return {
            agent_id: bool(revoked)
            for agent_id, revoked in self.query("SELECT agent_id, revoked FROM agents")
        }

    def load_devices(self) -> dict[str, str]:
        """The counters of the centrally polled devices, by name (JSON)."""
        return dict(self.query("SELECT name, counters FROM devices"))

    def save_devices(self, counters: dict[str, str]) -> None:
        """Write these devices' counters; devices no longer listed are deleted."""
        with self.transaction() as db:
            db.executemany(
                "INSERT INTO devices (name, counters) VALUES (?, ?)"
                " ON CONFLICT (name) DO UPDATE SET counters = excluded.counters",
                list(counters.items()),
            )
            names = list(counters)
            db.execute(f"DELETE FROM devices WHERE name NOT IN ({','.join('?' * len(names))})", names)

    def close(self) -> None:
        with self._write_lock, self._read_lock:
            self._db.close()
            self._reader.close()
        self.credentials.close()
