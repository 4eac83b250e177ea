"""The agent's on-disk spool: every report stays in SQLite (WAL) until the collector acknowledged it.

    collect ─► put(seq, body) ─► reports table ─► next_batch() ─► Push ─► OK ─► delete(seqs)
                                  │ bound hit: oldest deleted first, counted in meta.dropped_total
                                  └ corrupt file: moved aside, a fresh spool started

Probe cursors (a log position, detections already seen) are stored in the same transaction
as the report that carries their effects, so a probe resumes exactly after the newest kept
report; a corrupt spool loses its cursors and probes restart from "now" (no history replay).

The agent's totals (its event counts since the spool was created, stamped on every report) are
written in the same transaction as the report that carries them, and kept in memory once
committed: a report is never stored without the counts it shows, nor the counts without it. A
report dropped by a bound still counts in the totals of the later ones; a corrupt spool moved
aside starts them at 0 again (the collector sees a counter reset).

Invariants: a report is deleted only after a Push that carried it succeeded, or when a
bound (reports, bytes, age) forces the oldest out, which is counted. Each batch carries the
newest report first, so the collector is current at once, then the oldest in seq order.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from fleetwatch_agent.report import Totals

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS reports (
    seq          INTEGER PRIMARY KEY,
    collected_ms INTEGER NOT NULL,
    body         BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS cursors (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS totals (
    counter TEXT NOT NULL,     -- threats, outages, outage_seconds (by key); lan_new_devices (key '')
    key     TEXT NOT NULL,     -- product or target
    value   NUMERIC NOT NULL,
    PRIMARY KEY (counter, key)
);
"""
# The counters of Totals kept by key, and the one kept alone.
KEYED_TOTALS = ("threats", "outages", "outage_seconds")
LAN_NEW_DEVICES = "lan_new_devices"


@dataclass(frozen=True)
class SpoolLimits:
    max_reports: int
    max_bytes: int
    max_age_seconds: float


@dataclass(frozen=True)
class SpooledReport:
    seq: int
    collected_ms: int
    body: bytes


class Spool:
    """A bounded queue of serialized reports in one SQLite file; used from one thread at a time."""

    def __init__(self, path: Path, limits: SpoolLimits, clock: Callable[[], float] = time.time) -> None:
        self.path = path
        self._limits = limits
        self._clock = clock
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = self._open()
        except sqlite3.DatabaseError as exc:
            aside = self._move_aside()
            log.error("spool %s is corrupt (%s); moved it to %s and started a fresh spool", path, exc, aside)
            self._db = self._open()
        self._in_flight: frozenset[int] = frozenset()  # seqs of the batch being pushed
        self._count, self._bytes = self._db.execute(
            "SELECT COUNT(*), COALESCE(SUM(LENGTH(body)), 0) FROM reports"
        ).fetchone()
        self._totals = self._load_totals()
        row = self._db.execute("SELECT value FROM meta WHERE key = 'dropped_total'").fetchone()
        self._dropped = int(row[0]) if row else 0  # kept here too: read with every report

    def _open(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            # FULL: a report acknowledged to the runner survives power loss, not only kill -9.
            db.execute("PRAGMA synchronous=FULL")
            result = db.execute("PRAGMA quick_check").fetchone()[0]
            if result != "ok":
                raise sqlite3.DatabaseError(f"quick_check: {result}")
            db.executescript(SCHEMA)
        except sqlite3.DatabaseError:
            db.close()
            raise
        return db

    def _move_aside(self) -> Path:
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(self._clock()))
        aside = self.path.with_name(f"{self.path.name}.corrupt-{stamp}")
        for suffix in ("", "-wal", "-shm"):
            source = Path(f"{self.path}{suffix}")
            if source.exists():
                source.replace(Path(f"{aside}{suffix}"))
        return aside

    def __len__(self) -> int:
        return int(self._count)

    @property
    def size_bytes(self) -> int:
        return int(self._bytes)

    @property
    def dropped_total(self) -> int:
        return self._dropped

    def seq_range(self) -> tuple[int, int]:
        """Lowest and highest seq held (0, 0 when empty)."""
        low, high = self._db.execute("SELECT MIN(seq), MAX(seq) FROM reports").fetchone()
        return (int(low), int(high)) if low is not None else (0, 0)

    def stats(self) -> tuple[int, int, int]:
        """Reports queued, reports dropped in all, collection time of the oldest queued (ms)."""
        return len(self), self._dropped, self.oldest_collected_ms() if self._count else 0

    def oldest_collected_ms(self) -> int:
        row = self._db.execute("SELECT MIN(collected_ms) FROM reports").fetchone()
        return int(row[0]) if row and row[0] is not None else 0

    def cursors(self) -> dict[str, str]:
        """Probe cursors committed with the newest stored report (see probes/context.py)."""
        rows = self._db.execute("SELECT name, value FROM cursors").fetchall()
        return {name: value for name, value in rows}

    @property
    def totals(self) -> Totals:
        """The totals committed with the newest stored report (zero in a new spool)."""
        return self._totals

    def _load_totals(self) -> Totals:
        keyed: dict[str, dict[str, float]] = {name: {} for name in KEYED_TOTALS}
        lan_new_devices = 0
        for counter, key, value in self._db.execute("SELECT counter, key, value FROM totals"):
            if counter == LAN_NEW_DEVICES:
                lan_new_devices = int(value)
            elif counter in keyed:
                keyed[counter][key] = value
        return Totals(
            threats={k: int(v) for k, v in keyed["threats"].items()},
            outages={k: int(v) for k, v in keyed["outages"].items()},
            outage_seconds={k: float(v) for k, v in keyed["outage_seconds"].items()},
            lan_new_devices=lan_new_devices,
        )

    def _write_totals(self, totals: Totals) -> None:
        """The rows of ``totals`` that differ from the committed ones (counts only grow: none go)."""
        old, new = self._totals, totals
        rows = [
            (name, key, value)
            for name in KEYED_TOTALS
            for key, value in getattr(new, name).items()
            if getattr(old, name).get(key) != value
        ]
        if new.lan_new_devices != old.lan_new_devices:
            rows.append((LAN_NEW_DEVICES, "", new.lan_new_devices))
        if rows:
            self._db.executemany(
                "INSERT INTO totals (counter, key, value) VALUES (?, ?, ?) "
                "ON CONFLICT(counter, key) DO UPDATE SET value = excluded.value",
                rows,
            )

    def put(
        self,
        seq: int,
        collected_ms: int,
        body: bytes,
        cursors: Mapping[str, str] | None = None,
        totals: Totals | None = None,
    ) -> int:
        """Store one report, the probe cursors it advances and the totals it carries in one durable
        transaction, then enforce the bounds; returns how many reports were dropped."""
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            replaced = self._db.execute("SELECT LENGTH(body) FROM reports WHERE seq = ?", (seq,)).fetchone()
            if replaced is not None:  # only after a seq file went back in time; keep counts exact
                self._count -= 1
                self._bytes -= replaced[0]
            self._db.execute(
                "INSERT OR REPLACE INTO reports (seq, collected_ms, body) VALUES (?, ?, ?)",
                (seq, collected_ms, body),
            )
            if cursors:
                self._db.executemany(
                    "INSERT INTO cursors (name, value) VALUES (?, ?) "
                    "ON CONFLICT(name) DO UPDATE SET value = excluded.value",
                    list(cursors.items()),
                )
            if totals is not None:
                self._write_totals(totals)
            self._count += 1
            self._bytes += len(body)
            dropped = self._enforce_bounds(seq)
        self._dropped += dropped  # committed
        if totals is not None:
            self._totals = totals
        return dropped

    def _enforce_bounds(self, newest: int) -> int:
        """Drop the oldest reports until every bound holds; never the newest one, and never one
        handed out in a batch that is in flight (it may be acknowledged: counting it as dropped
        too would count it twice)."""
        if self._count <= 1:  # the newest alone: never dropped
            return 0
        limits = self._limits
        oldest_allowed = int((self._clock() - limits.max_age_seconds) * 1000)
        excess_count = self._count - limits.max_reports
        excess_bytes = self._bytes - limits.max_bytes
        victims: list[tuple[int, int]] = []
        rows = self._db.execute("SELECT seq, collected_ms, LENGTH(body) FROM reports ORDER BY seq")
        for seq, collected_ms, size in rows:
            if excess_count <= 0 and excess_bytes <= 0 and collected_ms >= oldest_allowed:
                break
            if seq == newest or seq in self._in_flight:
                continue
            victims.append((seq, size))
            excess_count -= 1
            excess_bytes -= size
        if not victims:
            return 0
        self._db.executemany("DELETE FROM reports WHERE seq = ?", [(seq,) for seq, _ in victims])
        self._count -= len(victims)
        self._bytes -= sum(size for _, size in victims)
        self._db.execute(
            "INSERT INTO meta (key, value) VALUES ('dropped_total', ?) "
            "ON CONFLICT(key) DO UPDATE SET value = value + excluded.value",
            (len(victims),),
        )
        log.warning("spool bound hit: dropped the %d oldest reports", len(victims))
        return len(victims)

    def next_batch(self, max_reports: int, max_bytes: int) -> list[SpooledReport]:
        """The newest report, then the oldest in seq order, within both bounds (at least one)."""
        newest = self._db.execute(
            "SELECT seq, collected_ms, body FROM reports ORDER BY seq DESC LIMIT 1"
        ).fetchone()
        if newest is None:
            return []
        batch = [SpooledReport(*newest)]
        size = len(newest[2])
        if self._count <= 1:
            return self._hand_out(batch)
        cursor = self._db.execute(
            "SELECT seq, collected_ms, body FROM reports WHERE seq < ? ORDER BY seq LIMIT ?",
            (newest[0], max_reports - 1),
        )
        for seq, collected_ms, body in cursor:
            if size + len(body) > max_bytes:
                break
            batch.append(SpooledReport(seq, collected_ms, body))
            size += len(body)
        return self._hand_out(batch)

    def _hand_out(self, batch: list[SpooledReport]) -> list[SpooledReport]:
        self._in_flight = frozenset(r.seq for r in batch)
        return batch

    def release(self) -> None:
        """The batch handed out was not delivered: its reports may be dropped again."""
        self._in_flight = frozenset()

    def delete(self, seqs: Sequence[int]) -> None:
        """Forget acknowledged reports (or refused ones); they are no longer in flight."""
        # Without an fsync of its own (half the spool's I/O and CPU per report): the next put's
        # fsync makes it durable, and a deletion lost to a power cut only sends its reports again,
        # which the collector applies once each.
        self._in_flight = self._in_flight.difference(seqs)
        self._db.execute("PRAGMA synchronous=NORMAL")
        try:
            with self._db:
                self._db.execute("BEGIN IMMEDIATE")
                for seq in seqs:
                    row = self._db.execute(
                        "DELETE FROM reports WHERE seq = ? RETURNING LENGTH(body)", (seq,)
                    ).fetchone()
                    if row is not None:
                        self._count -= 1
                        self._bytes -= row[0]
        finally:
            self._db.execute("PRAGMA synchronous=FULL")

    def close(self) -> None:
        self._db.close()
