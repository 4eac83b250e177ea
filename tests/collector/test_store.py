"""Agent state: snapshots, the SQLite store, and restoring known agents after a restart."""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from fleetwatch_collector import enrolment
from fleetwatch_collector.agentstate import SiteLabels
from fleetwatch_collector.dedup import AppliedSeqs
from fleetwatch_collector.fleet import FleetState, Snapshot
from fleetwatch_collector.store import SCHEMA_VERSION, Store, StoreError
from fleetwatch_proto.v1 import fleetwatch_pb2 as pb
from tests.collector.support import (
    NOW_MS,
    full_report,
    host_info,
    parsed_samples,
    register,
    report,
    value_of,
)


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "x.sqlite"


@pytest.fixture
def store(store_path: Path) -> Iterator[Store]:
    s = register(Store(store_path), "a1", "a2", "ok", "huge")
    yield s
    s.close()


def two_agents(clock: Clock) -> FleetState:
    fleet = FleetState(clock=clock)
    fleet.apply("a1", [full_report(1, hostname="pc-01", os_name='Windows "10"'), report(2, NOW_MS + 15_000)])
    clock.now += 1.5
    fleet.apply("a2", [report(7, NOW_MS, interval_seconds=60, host=host_info("pc-02", site="xa-b"))])
    return fleet


def snapshots(fleet: FleetState, *agent_ids: str) -> list[Snapshot]:
    return [fleet.snapshot(agent_id) for agent_id in agent_ids]


def loaded_by_id(store: Store) -> dict[str, tuple[Snapshot, SiteLabels | None]]:
    return {snap.agent_id: (snap, site) for snap, site in store.load_agents()}


def test_snapshot_holds_what_the_store_persists() -> None:
    fleet = two_agents(Clock(1000.0))
    a1, a2 = snapshots(fleet, "a1", "a2")
    assert (a1.agent_id, a1.state_seq, a1.reports_total) == ("a1", 2, 2)
    assert (a1.last_report_ms, a1.last_seen, a1.interval_seconds) == (NOW_MS + 15_000, 1000.0, 15)
    assert AppliedSeqs.loads(a1.applied) == AppliedSeqs(2, set())
    assert pb.HostInfo.FromString(a1.host) == host_info("pc-01", os_name='Windows "10"')
    assert (a2.state_seq, a2.reports_total, a2.last_report_ms, a2.last_seen, a2.interval_seconds) == (
        7,
        1,
        NOW_MS,
        1001.5,
        60,
    )
    assert AppliedSeqs.loads(a2.applied) == AppliedSeqs(0, {7})  # 1..6 may still come
    assert pb.HostInfo.FromString(a2.host).site == "xa-b"


def test_replay_leaves_the_snapshot_unchanged() -> None:
    clock = Clock(1000.0)
    fleet = two_agents(clock)
    before = fleet.snapshot("a1")
    clock.now += 30
    result = fleet.apply("a1", [report(1), report(2)])
    assert (result.applied, result.duplicates) == (0, 2)
    assert fleet.snapshot("a1") == before


def test_snapshot_of_unknown_agent_raises() -> None:
    with pytest.raises(KeyError):
        two_agents(Clock(1000.0)).snapshot("nobody")


def test_saved_agents_load_from_a_new_store(store_path: Path) -> None:
    snaps = snapshots(two_agents(Clock(1000.0)), "a1", "a2")
    first = register(Store(store_path), "a1", "a2")
    first.save_agents(snaps)
    first.close()

    second = Store(store_path)
    try:
        loaded = second.load_agents()
    finally:
        second.close()
    assert sorted(loaded, key=lambda pair: pair[0].agent_id) == [(s, None) for s in snaps]


def test_saving_nothing_is_a_no_op(store: Store) -> None:
    store.save_agents([])
    assert store.load_agents() == []


def test_save_updates_existing_rows(store: Store) -> None:
    clock = Clock(1000.0)
    fleet = two_agents(clock)
    store.save_agents(snapshots(fleet, "a1", "a2"))
    clock.now = 2000.0
    fleet.apply("a1", [report(3, NOW_MS + 30_000, interval_seconds=30, host=host_info("pc-01-renamed"))])
    store.save_agents(snapshots(fleet, "a1"))

    loaded = loaded_by_id(store)
    assert set(loaded) == {"a1", "a2"}
    a1, _ = loaded["a1"]
    assert (a1.state_seq, a1.reports_total, a1.last_report_ms, a1.last_seen, a1.interval_seconds) == (
        3,
        3,
        NOW_MS + 30_000,
        2000.0,
        30,
    )
    assert AppliedSeqs.loads(a1.applied) == AppliedSeqs(3, set())
    assert pb.HostInfo.FromString(a1.host).hostname == "pc-01-renamed"
    assert loaded["a2"][0].state_seq == 7


def test_enrolled_agent_loads_only_once_it_reported_and_keeps_its_credential(store: Store) -> None:
    site = SiteLabels("xa-an-cu", "h-cai-be", "commune", "Xã An Cư")
    token = enrolment.create_token(store, site, 1000.0, None)
    agent = enrolment.enrol(store, token, 1000.0)
    assert store.load_agents() == []  # enrolled, never reported

    fleet = FleetState(clock=Clock(1000.0))
    fleet.apply(agent.agent_id, [report(1, host=host_info("pc-x", site="claimed-elsewhere"))], site=site)
    store.save_agents([fleet.snapshot(agent.agent_id)])

    ((snap, loaded_site),) = store.load_agents()
    assert (snap.agent_id, snap.reports_total, loaded_site) == (agent.agent_id, 1, site)
    cred = enrolment.credential(store, agent.agent_id)
    assert cred is not None  # saving state does not touch the credential columns
    assert cred.secret_hash == hashlib.sha256(agent.secret.encode()).digest()
    assert enrolment.verify(cred, agent.secret)
    assert (cred.revoked, cred.site) == (False, site)


def save_and_restore(store_path: Path, restart_at: float) -> FleetState:
    """Save a two-agent fleet (last seen at 1000 and 1001.5), then restore it into a new one."""
    writer = register(Store(store_path), "a1", "a2")
    writer.save_agents(snapshots(two_agents(Clock(1000.0)), "a1", "a2"))
    writer.close()
    reader = Store(store_path)
    restored = FleetState(clock=Clock(restart_at))
    try:
        assert restored.restore(reader.load_agents()) == 2
    finally:
        reader.close()
    return restored


def test_restored_agents_render_down_with_their_labels(store_path: Path) -> None:
    fleet = save_and_restore(store_path, restart_at=1000.0 + 3600)
    body, up, down = fleet.render()
    text = body.decode()
    assert (up, down) == (0, 2)
    assert value_of(text, "fleetwatch_agent_up", agent_id="a1", host="pc-01", site="xa-tan-my-chanh") == 0
    assert value_of(text, "fleetwatch_agent_up", agent_id="a2", host="pc-02", site="xa-b") == 0
    assert value_of(text, "fleetwatch_agent_info", agent_id="a1", os_name='Windows "10"') == 1
    assert (
        value_of(text, "fleetwatch_agent_last_report_timestamp_seconds", agent_id="a1")
        == (NOW_MS + 15_000) / 1000
    )
    assert value_of(text, "fleetwatch_agent_reports_total", agent_id="a1") == 2
    assert value_of(text, "fleetwatch_agent_reports_total", agent_id="a2") == 1
    names = {name for name, _, _ in parsed_samples(text)}
    assert names == {
        "fleetwatch_agent_up",
        "fleetwatch_agent_info",
        "fleetwatch_agent_last_report_timestamp_seconds",
        "fleetwatch_agent_reports_total",
    }


def test_restored_agents_are_down_right_after_restart(store_path: Path) -> None:
    """Restored agents are down until they report again, even when last seen a moment ago."""
    fleet = save_and_restore(store_path, restart_at=1002.0)
    _, up, down = fleet.render()
    assert (up, down) == (0, 2)


def test_dedup_survives_restart(store_path: Path) -> None:
    fleet = save_and_restore(store_path, restart_at=1000.0 + 3600)
    result = fleet.apply("a1", [report(1), report(2), report(3, NOW_MS + 30_000)])
    assert (result.acked_seq, result.applied, result.duplicates) == (3, 1, 2)
    body, up, down = fleet.render()
    assert (up, down) == (1, 1)
    text = body.decode()
    assert value_of(text, "fleetwatch_agent_up", agent_id="a1", host="pc-01") == 1
    assert value_of(text, "fleetwatch_agent_reports_total", agent_id="a1") == 3


def test_store_creates_its_folder(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "collector.sqlite"
    Store(path).close()
    assert path.is_file()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


# The agents table as the first collector with enrolment created it (schema version 1, commit deff1d2).
AGENTS_V1 = """
CREATE TABLE agents (
    agent_id TEXT PRIMARY KEY, secret_hash BLOB, revoked INTEGER NOT NULL DEFAULT 0, token_id TEXT,
    enrolled_at REAL, site TEXT, district TEXT, site_type TEXT, site_name TEXT, host BLOB, applied TEXT,
    state_seq INTEGER NOT NULL DEFAULT 0, reports_total INTEGER NOT NULL DEFAULT 0,
    last_report_ms INTEGER NOT NULL DEFAULT 0, last_seen REAL NOT NULL DEFAULT 0,
    interval_s INTEGER NOT NULL DEFAULT 15
) WITHOUT ROWID;
"""


def test_store_of_the_first_schema_still_loads(tmp_path: Path) -> None:
    """BUG: the agents table gained a `counters` column while SCHEMA_VERSION stayed 1 and nothing
    migrates: CREATE TABLE IF NOT EXISTS keeps the old table, so a collector upgraded over an
    existing collector.sqlite fails at start with "no such column: counters"."""
    path = tmp_path / "collector.sqlite"
    with sqlite3.connect(path) as db:
        db.executescript(AGENTS_V1 + "PRAGMA user_version=1;")
        db.execute(
            "INSERT INTO agents (agent_id, host, applied, state_seq, reports_total) VALUES (?, ?, ?, ?, ?)",
            ("a1", host_info("pc-01").SerializeToString(), "[3, []]", 3, 3),
        )
    store = Store(path)
    try:
        ((snap, site),) = store.load_agents()
        assert (snap.agent_id, snap.state_seq, snap.reports_total, site) == ("a1", 3, 3, None)
        fleet = FleetState(clock=Clock(1000.0))
        fleet.restore([(snap, site)])
        fleet.apply("a1", [report(4)])
        store.save_agents([fleet.snapshot("a1")])
        assert store.load_agents()[0][0].reports_total == 4
    finally:
        store.close()


def test_garbage_file_raises_store_error(tmp_path: Path) -> None:
    path = tmp_path / "x.sqlite"
    path.write_bytes(b"this is not an SQLite database\x00\xff" * 200)
    with pytest.raises(StoreError, match="cannot open the store") as info:
        Store(path)
    assert str(path) in str(info.value)


def test_newer_schema_raises_store_error(tmp_path: Path) -> None:
    path = tmp_path / "x.sqlite"
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    with pytest.raises(StoreError, match="newer than this collector") as info:
        Store(path)
    assert str(path) in str(info.value)
    assert f"schema version {SCHEMA_VERSION + 1}" in str(info.value)


def test_saving_an_agent_not_in_the_store_writes_nothing(store: Store) -> None:
    """A Push in flight while `agent forget` deleted its agent must not bring the row back."""
    fleet = FleetState(clock=Clock(1000.0))
    fleet.apply("forgotten", [full_report(1)])
    fleet.apply("a1", [full_report(1)])
    store.save_agents(snapshots(fleet, "forgotten", "a1"))
    assert set(loaded_by_id(store)) == {"a1"}
    assert store.query("SELECT count(*) FROM agents WHERE agent_id = 'forgotten'") == [(0,)]


def test_writes_are_fsynced_at_commit(store: Store) -> None:
    """An acknowledged Push survives power loss: WAL mode with synchronous=FULL (2) when writing."""
    with store.transaction() as db:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert db.execute("PRAGMA synchronous").fetchone() == (2,)


def test_failed_save_leaves_the_store_usable(store: Store) -> None:
    """A row SQLite cannot hold (seq 2**63) fails the save; the transaction is rolled back."""
    fleet = FleetState(clock=Clock(1000.0))
    fleet.apply("huge", [report(2**63)])  # FleetState does not validate; validate_push refuses it
    fleet.apply("ok", [report(1)])
    with pytest.raises(StoreError, match="write failed") as info:
        store.save_agents(snapshots(fleet, "ok", "huge"))
    assert str(store.path) in str(info.value)
    assert store.load_agents() == []  # the whole group failed, "ok" included

    store.save_agents(snapshots(fleet, "ok"))
    assert [snap.agent_id for snap, _ in store.load_agents()] == ["ok"]
