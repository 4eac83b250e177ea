"""The agent's totals: counted from each report's events, bounded like the collector's counters, kept in
the spool in the same transaction as the report that carries them, across restarts."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from fleetwatch_agent import convert
from fleetwatch_agent.report import Totals
from fleetwatch_agent.spool import Spool, SpoolLimits
from fleetwatch_proto.limits import MAX_COUNTED_KEYS, MAX_TOTALS_KEYS
from fleetwatch_proto.v1 import fleetwatch_pb2 as pb

NOW_MS = 1_700_000_000_000
ROOMY = SpoolLimits(max_reports=100_000, max_bytes=10**9, max_age_seconds=86_400.0)


def report(seq: int, *events: pb.Event) -> pb.Report:
    return pb.Report(seq=seq, collected_unix_ms=NOW_MS + seq, events=events)


def threat(product: str = "ClamAV") -> pb.Event:
    return pb.Event(time_unix_ms=NOW_MS, threat=pb.ThreatDetected(product=product, threat="Eicar"))


def outage(target: str, seconds: float) -> pb.Event:
    end = NOW_MS - 1000
    return pb.Event(
        time_unix_ms=end,
        outage=pb.Outage(target=target, start_unix_ms=end - int(seconds * 1000), end_unix_ms=end),
    )


def device() -> pb.Event:
    return pb.Event(time_unix_ms=NOW_MS, device_seen=pb.DeviceSeen(mac="00:11:22:33:44:55"))


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "spool.sqlite"


@pytest.fixture
def spools(path: Path) -> Iterator[list[Spool]]:
    opened: list[Spool] = []
    yield opened
    for spool in opened:
        spool.close()


def open_spool(path: Path, spools: list[Spool]) -> Spool:
    spool = Spool(path, ROOMY, lambda: NOW_MS / 1000)
    spools.append(spool)
    return spool


def store(spool: Spool, message: pb.Report) -> Totals:
    """What the agent's service does with a report: totals added and stamped, then one put."""
    totals = convert.add_totals(spool.totals, message)
    spool.put(message.seq, message.collected_unix_ms, message.SerializeToString(), None, totals)
    return totals


def test_a_report_carries_the_totals_of_every_event_so_far_its_own_included() -> None:
    totals = Totals()
    first = report(1, threat(), outage("gateway", 90), device())
    totals = convert.add_totals(totals, first)
    second = report(2, threat(), threat("Defender"), outage("gateway", 10), outage("dns-1", 2.5))
    totals = convert.add_totals(totals, second)
    quiet = report(3)
    totals = convert.add_totals(totals, quiet)
    assert first.totals == pb.Totals(
        threats={"ClamAV": 1}, outages={"gateway": 1}, outage_seconds={"gateway": 90.0}, lan_new_devices=1
    )
    expected = pb.Totals(
        threats={"ClamAV": 2, "Defender": 1},
        outages={"gateway": 2, "dns-1": 1},
        outage_seconds={"gateway": 100.0, "dns-1": 2.5},
        lan_new_devices=1,
    )
    assert second.totals == expected
    assert quiet.HasField("totals") and quiet.totals == expected
    assert totals == Totals(
        {"ClamAV": 2, "Defender": 1}, {"gateway": 2, "dns-1": 1}, expected.outage_seconds, 1
    )


def test_a_report_without_events_carries_totals_all_zero() -> None:
    message = report(1)
    assert convert.add_totals(Totals(), message) == Totals()
    assert message.HasField("totals")
    assert pb.Report.FromString(message.SerializeToString()).HasField("totals")


def test_keys_beyond_the_bound_count_as_other_like_the_collectors() -> None:
    products = [f"av{i}" for i in range(MAX_COUNTED_KEYS + 5)]
    targets = [f"t{i}" for i in range(MAX_COUNTED_KEYS + 2)]
    message = report(1, *(threat(p) for p in products), *(outage(t, 1) for t in targets))
    totals = convert.add_totals(Totals(), message)
    assert len(message.totals.threats) == len(totals.threats) == MAX_TOTALS_KEYS
    assert totals.threats["other"] == 5
    assert "av63" in totals.threats and "av64" not in totals.threats
    assert len(message.totals.outages) == MAX_TOTALS_KEYS
    assert (totals.outages["other"], totals.outage_seconds["other"]) == (2, 2.0)
    more = convert.add_totals(totals, report(2, threat("av0"), threat("av99")))  # known key, new one
    assert (more.threats["av0"], more.threats["other"], len(more.threats)) == (2, 6, MAX_TOTALS_KEYS)


def test_totals_survive_a_restart(path: Path, spools: list[Spool]) -> None:
    spool = open_spool(path, spools)
    assert spool.totals == Totals()
    store(spool, report(1, threat(), outage("gateway", 12.25), device(), device()))
    stored = store(spool, report(2, threat("Defender")))
    spool.close()
    again = open_spool(path, spools)
    assert again.totals == stored
    assert again.totals == Totals({"ClamAV": 1, "Defender": 1}, {"gateway": 1}, {"gateway": 12.25}, 2)
    third = report(3, threat())
    store(again, third)
    assert third.totals.threats == {"ClamAV": 2, "Defender": 1}  # counting goes on
    assert third.totals.lan_new_devices == 2


def test_totals_outlive_the_reports_dropped_by_the_bound(path: Path, spools: list[Spool]) -> None:
    spool = Spool(
        path, SpoolLimits(max_reports=2, max_bytes=10**9, max_age_seconds=86_400.0), lambda: NOW_MS / 1000
    )
    spools.append(spool)
    for seq in range(1, 6):
        store(spool, report(seq, threat()))
    assert len(spool) == 2 and spool.dropped_total == 3
    newest = pb.Report.FromString(spool.next_batch(10, 10**9)[0].body)
    assert newest.totals.threats == {"ClamAV": 5}  # the dropped reports' threats still count


def sql(path: Path, statement: str) -> None:
    """Run ``statement`` on the spool's file from a connection of its own."""
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as db:
        db.execute(statement)


@pytest.mark.parametrize("failing", ["reports", "totals"])
def test_a_put_that_fails_leaves_the_totals_as_they_were(
    path: Path, spools: list[Spool], failing: str
) -> None:
    spool = open_spool(path, spools)
    before = store(spool, report(1, threat()))
    # A real SQLite failure inside put's transaction: before the report is written, or after it,
    # when its totals are.
    sql(path, f"CREATE TRIGGER fail BEFORE INSERT ON {failing} BEGIN SELECT RAISE(ABORT, 'disk full'); END")
    message = report(2, threat(), threat("Defender"))
    with pytest.raises(sqlite3.DatabaseError, match="disk full"):
        store(spool, message)
    assert spool.totals == before
    assert spool.seq_range() == (1, 1)  # no report without its totals, no totals without the report
    spool.close()
    sql(path, "DROP TRIGGER fail")
    again = open_spool(path, spools)
    assert again.totals == before
    assert again.seq_range() == (1, 1)
    store(again, message)  # collected again: counted once
    assert again.totals.threats == {"ClamAV": 2, "Defender": 1}


def test_a_corrupt_spool_moved_aside_starts_the_totals_at_zero(path: Path, spools: list[Spool]) -> None:
    spool = open_spool(path, spools)
    store(spool, report(1, threat()))
    spool.close()
    path.write_bytes(b"not a database" * 512)
    for suffix in ("-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    fresh = open_spool(path, spools)
    assert fresh.totals == Totals()
    assert list(path.parent.glob("spool.sqlite.corrupt-*"))
