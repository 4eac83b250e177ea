"""ClamAV from recorded headers and VERSION replies: loaded database, bytecode only, unreadable parts."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest

from fleetwatch_agent.probes.antivirus import AntivirusConfig, _linux
from fleetwatch_agent.probes.antivirus.clamav_parse import ClamdVersion, parse_version_reply
from fleetwatch_agent.probes.antivirus.logfollow import Cursor
from fleetwatch_agent.probes.context import ProbeContext

NOW = 1_796_127_988.0 + 3600  # an hour after the fresh database below was built
# Headers written by `sigtool --unsigned --build=daily.cud` (ClamAV 1.4.6), as in test_clamav_parse.
FRESH_DAILY = (
    b"ClamAV-VDB:01 Dec 2026 12-26 +0000:27100:1:216:d0295bd0105597088677f2a9a77227cf:X:builder:1796127988"
)
FUTURE_DAILY = (
    b"ClamAV-VDB:31 Dec 2026 12-26 +0000:27200:1:216:95c731289538a9e22ba69f2344bd14dd:X:builder:1798719988"
)
BYTECODE = b"ClamAV-VDB:27 Nov 2026 08-12 -0500:335:86:90:7d6b4e9f0a:sIgNaTuRe:raynman:1795785120"
# clamd 1.0.7 serving a database it loaded weeks before (its VERSION reply, UTC host).
OLD_LOADED = parse_version_reply(b"ClamAV 1.0.7/27000/Sun Nov  1 12:26:28 2026\0", datetime.UTC)


def config(tmp_path: Path, **files: bytes) -> AntivirusConfig:
    db = tmp_path / "db"
    db.mkdir()
    for name, header in files.items():
        (db / name.replace("_", ".")).write_bytes(header.ljust(512, b" "))
    return AntivirusConfig(
        clamav_database_dir=str(db),
        clamd_socket=str(tmp_path / "clamd.sock"),
        clamd_log=str(tmp_path / "clamd.log"),
        freshclam_log=str(tmp_path / "freshclam.log"),
    )


@pytest.fixture
def clamd(monkeypatch: pytest.MonkeyPatch) -> list[ClamdVersion | None]:
    """What clamd answers to VERSION (None: it does not answer); ClamAV counts as installed."""
    answer: list[ClamdVersion | None] = [None]
    monkeypatch.setattr(_linux, "clamd_version", lambda address: answer[0])
    monkeypatch.setattr(_linux, "CLAMAV_BINARIES", ("/",))
    monkeypatch.setattr(_linux, "clamonacc_running", lambda: False)
    return answer


def test_the_database_clamd_loaded_decides_not_the_newer_file(tmp_path: Path, clamd: list[object]) -> None:
    clamd[0] = OLD_LOADED
    status = _linux.clamav_status(config(tmp_path, daily_cud=FRESH_DAILY), NOW)
    assert status is not None
    assert (status.state, status.signature_version, status.engine_version) == ("outdated", "27000", "1.0.7")
    assert status.signature_updated_unix == OLD_LOADED.database_time_unix
    assert "daily 27100 on disk is not loaded yet" in status.detail


def test_without_a_database_in_the_reply_the_files_stand_in(tmp_path: Path, clamd: list[object]) -> None:
    clamd[0] = ClamdVersion("1.4.6")
    status = _linux.clamav_status(config(tmp_path, daily_cud=FRESH_DAILY), NOW)
    assert status is not None
    assert (status.state, status.signature_version) == ("protected", "27100")
    assert "daily 27100 on disk (clamd did not name its database)" in status.detail


def test_bytecode_signatures_alone_are_no_virus_database(tmp_path: Path, clamd: list[object]) -> None:
    cfg = config(tmp_path, bytecode_cvd=BYTECODE)
    status = _linux.clamav_status(cfg, NOW)
    assert status is not None
    assert (status.state, status.signature_version, status.signature_updated_unix) == ("unknown", "", 0)
    assert f"no virus database in {cfg.clamav_database_dir} (only bytecode signatures)" in status.detail
    (Path(cfg.clamav_database_dir) / "daily.cud").write_bytes(FRESH_DAILY.ljust(512, b" "))
    with_daily = _linux.clamav_status(cfg, NOW)
    assert with_daily is not None and with_daily.signature_version == "27100"  # daily, not bytecode's 335


def test_a_future_database_is_unknown_with_its_skew(tmp_path: Path, clamd: list[object]) -> None:
    clamd[0] = ClamdVersion("1.4.6", 27200, 1798719988)
    status = _linux.clamav_status(config(tmp_path, daily_cud=FUTURE_DAILY), NOW)
    assert status is not None
    assert (status.state, status.signature_updated_unix) == ("unknown", 0)
    assert status.signature_clock_skew_seconds == int(1798719988 - NOW)
    assert "after the host's clock" in status.detail


def test_an_unreadable_database_file_degrades_only_the_disk_part(tmp_path: Path, clamd: list[object]) -> None:
    cfg = config(tmp_path)
    (Path(cfg.clamav_database_dir) / "daily.cld").mkdir()  # read() fails with EISDIR, also as root
    clamd[0] = ClamdVersion("1.4.6", 27100, 1796127988)
    status = _linux.clamav_status(cfg, NOW)
    assert status is not None
    assert (status.state, status.signature_version) == ("protected", "27100")
    assert "database unreadable: daily.cld" in status.detail
    clamd[0] = None
    alone = _linux.clamav_status(cfg, NOW)
    assert alone is not None and alone.state == "unknown"


def test_an_unreadable_log_degrades_only_the_detections(tmp_path: Path, clamd: list[object]) -> None:
    clamd[0] = ClamdVersion("1.4.6", 27100, 1796127988)
    cfg = config(tmp_path, daily_cud=FRESH_DAILY)
    log = Path(cfg.clamd_log)
    log.mkdir()  # opening it fails, as a log of mode 0640 does for an agent outside group adm
    committed = Cursor(log.stat().st_ino, 0).dumps()
    collect = _linux.make_collector(
        cfg, ProbeContext(tmp_path, cursors={_linux.CURSOR: committed}, clock=lambda: NOW)
    )
    result = collect()
    (clamav,) = result.products
    assert (clamav.state, result.host_state, result.detections) == ("protected", "protected", ())
    assert f"clamd log unreadable: Is a directory ({log})" in clamav.detail
    assert result.cursors == {_linux.CURSOR: committed}
    assert result.error == ""
