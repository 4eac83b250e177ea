"""Real clamd: its loaded database protects, not the files; what cannot be read degrades only its part.

clamd serving an old database while a newer one waits on disk (the loaded one wins until RELOAD),
a database built in the future with sigtool under faketime (unknown, skew reported), and an
unreadable clamd log and database file (only detections and the disk part degrade).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from fleetwatch_agent.probes.antivirus import wire
from fleetwatch_agent.probes.antivirus._linux import CURSOR
from fleetwatch_proto.v1 import fleetwatch_pb2 as pb
from tests.integration.clamav import (
    DATABASE_VERSION,
    DETECTED_AS,
    build_database,
    database_dir,
    read_header,
    running_clamd,
    wait_for_log,
    write_eicar,
)
from tests.integration.clamav_probe import clamav_of, collect_without_file_override, collector, probe_config

pytestmark = pytest.mark.peer("clamd")

DAY = 86400
# No self-check reload during a test: only RELOAD changes what clamd has loaded.
NO_SELF_CHECK = ("SelfCheck 3600",)


@pytest.fixture(scope="module")
def future_database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A daily.cud built by sigtool under `faketime '+30 days'`: dated after the host's clock."""
    return build_database(
        tmp_path_factory.mktemp("future-db"), version=DATABASE_VERSION + 100, age="+30 days"
    )


def loaded_version(reply: str) -> int:
    return int(reply.split("/")[1])


def test_the_database_clamd_loaded_wins_over_newer_files_on_disk(
    old_database: Path, fresh_database: Path, tmp_path: Path
) -> None:
    db = database_dir(tmp_path, old_database)
    with running_clamd(db, extra_config=NO_SELF_CHECK) as clamd:
        # freshclam wrote a new database; clamd has not reloaded yet.
        (db / "daily.cud").write_bytes(fresh_database.read_bytes())
        assert loaded_version(clamd.command(b"zVERSION\0")) == DATABASE_VERSION - 100
        collect = collector(probe_config(db, tmp_path, clamd), tmp_path)
        clamav = clamav_of(collect())
        assert clamav.state == "outdated"
        assert clamav.signature_version == str(DATABASE_VERSION - 100)
        assert abs(time.time() - clamav.signature_updated_unix - 30 * DAY) < 120
        assert f"signatures: daily {DATABASE_VERSION - 100} loaded by clamd" in clamav.detail
        assert f"daily {DATABASE_VERSION} on disk is not loaded yet" in clamav.detail

        assert clamd.command(b"zRELOAD\0") == "RELOADING"
        deadline = time.monotonic() + 60
        while loaded_version(clamd.command(b"zVERSION\0")) != DATABASE_VERSION:
            assert time.monotonic() < deadline, "clamd did not reload"
            time.sleep(0.1)
        clamav = clamav_of(collect())
        assert (clamav.state, clamav.signature_version) == ("protected", str(DATABASE_VERSION))
        assert clamav.signature_updated_unix == int(read_header(db / "daily.cud")[8])
        assert "not loaded yet" not in clamav.detail


def test_an_old_database_on_disk_does_not_spoil_the_fresh_one_clamd_loaded(
    old_database: Path, fresh_database: Path, tmp_path: Path
) -> None:
    db = database_dir(tmp_path, fresh_database)
    with running_clamd(db, extra_config=NO_SELF_CHECK) as clamd:
        (db / "daily.cud").write_bytes(old_database.read_bytes())  # a restore from an old backup
        clamav = clamav_of(collector(probe_config(db, tmp_path, clamd), tmp_path)())
        assert (clamav.state, clamav.signature_version) == ("protected", str(DATABASE_VERSION))


def test_a_database_dated_in_the_future_is_unknown_with_the_skew(
    future_database: Path, tmp_path: Path
) -> None:
    header = read_header(future_database)
    built = int(header[8])
    assert built - time.time() > 29 * DAY  # sigtool ran 30 days ahead
    db = database_dir(tmp_path, future_database)
    with running_clamd(db) as clamd:
        assert loaded_version(clamd.command(b"zVERSION\0")) == DATABASE_VERSION + 100  # clamd takes it
        result = collector(probe_config(db, tmp_path, clamd), tmp_path)()
        clamav = clamav_of(result)
        assert clamav.state == "unknown" and result.host_state == "unknown"
        assert clamav.realtime_protection is True
        assert clamav.signature_version == str(DATABASE_VERSION + 100)
        assert clamav.signature_updated_unix == 0  # no age from a date the clock has not reached
        assert abs(clamav.signature_clock_skew_seconds - (built - time.time())) < 120
        assert "after the host's clock" in clamav.detail
        assert "the host's clock is behind or the signature database carries a wrong date" in clamav.detail
        report = pb.Report(seq=1, collected_unix_ms=int(time.time() * 1000))
        wire.to_wire(result, report)
        (product,) = report.antivirus.products
        assert product.signature_clock_skew_seconds == clamav.signature_clock_skew_seconds
        assert product.state == pb.ANTIVIRUS_STATE_UNKNOWN


def test_an_unreadable_log_and_database_file_degrade_only_their_part(
    fresh_database: Path, tmp_path: Path
) -> None:
    db = database_dir(tmp_path, fresh_database)
    with running_clamd(db) as clamd:
        config = probe_config(db, tmp_path, clamd)
        committed = dict(collector(config, tmp_path)().cursors)  # the first run places the cursor
        eicar = write_eicar(tmp_path / "eicar.com")
        assert clamd.scan(eicar) == f"{eicar}: {DETECTED_AS} FOUND"
        wait_for_log(clamd.log_path, f"{eicar}: {DETECTED_AS} FOUND")

        clamd.log_path.chmod(0)
        (db / "daily.cud").chmod(0)
        try:
            result = collect_without_file_override(config, tmp_path, committed)
        finally:
            clamd.log_path.chmod(0o644)
            (db / "daily.cud").chmod(0o644)
        (clamav,) = [p for p in result["products"] if p["name"] == "ClamAV"]
        assert (clamav["state"], clamav["signature_version"]) == ("protected", str(DATABASE_VERSION))
        assert f"clamd log unreadable: Permission denied ({clamd.log_path})" in clamav["detail"]
        assert "database unreadable: daily.cud" in clamav["detail"]
        assert result["host_state"] == "protected"
        assert result["detections"] == []
        assert result["cursors"] == {CURSOR: committed[CURSOR]}  # nothing read, nothing skipped

        # Readable again: the detection made meanwhile is reported, once.
        collect = collector(config, tmp_path, committed)
        assert [d.path for d in collect().detections] == [str(eicar)]
        assert collect().detections == ()
