"""The Linux antivirus probe against a real ClamAV: databases built with sigtool, a clamd of our own.

Every state the probe can give ClamAV is produced with the real programs: no database, protected,
outdated (a database built under faketime), disabled (clamd stopped), a corrupted database; and
detections are real clamd scans of the EICAR test file, read back from clamd's own log, also across
a log rotation. "not_installed" cannot be produced here (ClamAV is installed on the test machine):
it is covered at unit level in tests/agent/test_antivirus_model.py.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from fleetwatch_agent.probes.antivirus import AntivirusConfig, make_collector
from fleetwatch_agent.probes.antivirus._linux import CURSOR, MAX_DETECTIONS, clamonacc_running
from fleetwatch_agent.probes.antivirus.model import AntivirusResult, Detection, ProductStatus
from fleetwatch_agent.probes.context import ProbeContext
from tests.conftest import free_port
from tests.integration.clamav import (
    DATABASE_VERSION,
    DETECTED_AS,
    Clamd,
    build_database,
    engine_version,
    program,
    read_header,
    running_clamd,
    wait_for_log,
    write_eicar,
)

pytestmark = pytest.mark.peer("clamd")

THIRTY_DAYS = 30 * 86400
# How far a detection's time (whole seconds in clamd's log) may be from when the test scanned.
# Generous on purpose: a wrong time zone would be hours off.
DETECTION_TIME_SLACK_SECONDS = 120


@pytest.fixture(scope="module")
def fresh_database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A daily.cud with the EICAR signature, built just now (kept aside: tests copy it)."""
    return build_database(tmp_path_factory.mktemp("fresh-db"))


@pytest.fixture(scope="module")
def old_database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same database built by sigtool running under `faketime '30 days ago'`."""
    return build_database(
        tmp_path_factory.mktemp("old-db"), version=DATABASE_VERSION - 100, age="30 days ago"
    )


def database_dir(tmp_path: Path, database: Path | None) -> Path:
    directory = tmp_path / "db"
    directory.mkdir()
    if database is not None:
        shutil.copy(database, directory / database.name)
    return directory


def probe_config(db: Path, tmp_path: Path, clamd: Clamd | None = None, **changes: Any) -> AntivirusConfig:
    """The probe pointed at this test's files only (the system's ClamAV is never read)."""
    config = AntivirusConfig(
        clamav_database_dir=str(db),
        clamd_socket=str(clamd.socket_path) if clamd else str(tmp_path / "no-clamd.sock"),
        clamd_log=str(clamd.log_path) if clamd else str(tmp_path / "clamd.log"),
        freshclam_log=str(tmp_path / "freshclam.log"),
    )
    return dataclasses.replace(config, **changes)


class Probe:
    """The probe as the agent runs it: each result's cursors are committed before the next collection
    (the agent stores them in the spool with the report, then updates the context's mapping)."""

    def __init__(
        self, config: AntivirusConfig, tmp_path: Path, cursors: Mapping[str, str] | None = None
    ) -> None:
        self.committed: dict[str, str] = dict(cursors or {})
        self._collect = make_collector(config, ProbeContext(tmp_path, cursors=self.committed))

    def __call__(self) -> AntivirusResult:
        result = self._collect()
        self.committed.update(result.cursors)
        return result


def collector(config: AntivirusConfig, tmp_path: Path, cursors: Mapping[str, str] | None = None) -> Probe:
    return Probe(config, tmp_path, cursors)


def clamav_of(result: AntivirusResult) -> ProductStatus:
    found = [p for p in result.products if p.name == "ClamAV"]
    assert len(found) == 1, result
    return found[0]


def test_installed_without_database_is_unknown_and_names_the_missing_database(tmp_path: Path) -> None:
    """Empty DatabaseDirectory, no clamd: "unknown", and the detail says which database is missing.

    ClamAV counts as installed because its real binaries are on this machine (nothing is patched).
    "not_installed" is covered at unit level, in tests/agent/test_antivirus_model.py, by a context
    where no binary and no database exist (CLAMAV_BINARIES=() and shutil.which returning None).
    """
    clamscan = program("clamscan")
    db = database_dir(tmp_path, None)
    eicar = write_eicar(tmp_path / "eicar.com")
    # ClamAV itself agrees there is nothing to scan with.
    scan = subprocess.run(
        [clamscan, f"--database={db}", str(eicar)], capture_output=True, text=True, timeout=120, check=False
    )
    assert scan.returncode == 2, scan
    assert "No supported database files found" in scan.stderr

    result = collector(probe_config(db, tmp_path), tmp_path)()
    clamav = clamav_of(result)
    assert clamav.state == "unknown"
    assert f"no virus database in {db}" in clamav.detail
    assert f"clamd does not answer on {tmp_path / 'no-clamd.sock'}" in clamav.detail
    assert (clamav.realtime_protection, clamav.signature_version, clamav.signature_updated_unix) == (
        False,
        "",
        0,
    )
    assert result.host_state == "unknown"
    assert result.detections == ()


@pytest.fixture(scope="module")
def eicar_clamd(tmp_path_factory: pytest.TempPathFactory, fresh_database: Path) -> Iterator[Clamd]:
    """One clamd with the fresh EICAR database, shared by the tests that only read from it."""
    db = database_dir(tmp_path_factory.mktemp("shared-clamd"), fresh_database)
    with running_clamd(db) as clamd:
        yield clamd


def test_eicar_database_and_clamd_running_is_protected(eicar_clamd: Clamd, tmp_path: Path) -> None:
    db = eicar_clamd.database_dir
    stime = int(read_header(db / "daily.cud")[8])
    engine = engine_version(eicar_clamd.binary)
    assert eicar_clamd.command(b"zVERSION\0").startswith(f"ClamAV {engine}/{DATABASE_VERSION}/")

    result = collector(probe_config(db, tmp_path, eicar_clamd), tmp_path)()
    clamav = clamav_of(result)
    assert clamav.state == "protected"
    assert result.host_state == "protected"
    assert clamav.signature_version == "27100"
    assert clamav.signature_updated_unix == stime
    assert clamav.realtime_protection is True
    assert (clamav.product_version, clamav.engine_version) == (engine, engine)
    assert clamav.vendor == "Cisco Talos"
    assert f"clamd answers on {eicar_clamd.socket_path}" in clamav.detail


def test_clamd_over_tcp_counts_as_real_time_protection(eicar_clamd: Clamd, tmp_path: Path) -> None:
    db = eicar_clamd.database_dir
    tcp = probe_config(db, tmp_path, eicar_clamd, clamd_socket=eicar_clamd.tcp_address)
    clamav = clamav_of(collector(tcp, tmp_path)())
    assert (clamav.state, clamav.realtime_protection) == ("protected", True)
    assert f"clamd answers on {eicar_clamd.tcp_address}" in clamav.detail

    nobody = f"127.0.0.1:{free_port()}"
    closed = probe_config(db, tmp_path, eicar_clamd, clamd_socket=nobody)
    clamav = clamav_of(collector(closed, tmp_path)())
    assert (clamav.state, clamav.realtime_protection) == ("disabled", False)


def test_each_eicar_scan_through_clamd_is_reported_exactly_once(eicar_clamd: Clamd, tmp_path: Path) -> None:
    config = probe_config(eicar_clamd.database_dir, tmp_path, eicar_clamd)
    collect = collector(config, tmp_path)
    first = collect()
    assert first.detections == ()
    assert CURSOR in first.cursors  # the first collection only sets the cursor

    clean = tmp_path / "clean.txt"
    clean.write_text("nothing to see\n")
    assert eicar_clamd.scan(clean) == f"{clean}: OK"
    eicar = write_eicar(tmp_path / "eicar.com")
    scanned_at = time.time()
    assert eicar_clamd.scan(eicar) == f"{eicar}: {DETECTED_AS} FOUND"
    wait_for_log(eicar_clamd.log_path, f"{eicar}: {DETECTED_AS} FOUND")

    second = collect()
    assert len(second.detections) == 1, second.detections
    detection = second.detections[0]
    assert (detection.product, detection.threat, detection.path, detection.action) == (
        "ClamAV",
        DETECTED_AS,
        str(eicar),
        "detected",
    )
    assert abs(detection.time_unix_ms / 1000 - scanned_at) < DETECTION_TIME_SLACK_SECONDS
    assert clamav_of(second).state == "protected"

    assert collect().detections == ()

    # The probe resumes from the cursor committed with the newest stored report (after a restart,
    # or when a report was not kept): from the one carrying the detection, nothing again; from
    # the one before, that detection again.
    assert collector(config, tmp_path, second.cursors)().detections == ()
    assert collector(config, tmp_path, first.cursors)().detections == (detection,)
    uncommitted = make_collector(config, ProbeContext(tmp_path, cursors=first.cursors))
    assert uncommitted().detections == uncommitted().detections == (detection,)


def test_old_database_built_thirty_days_ago_is_outdated(old_database: Path, tmp_path: Path) -> None:
    db = database_dir(tmp_path, old_database)
    with running_clamd(db) as clamd:
        result = collector(probe_config(db, tmp_path, clamd), tmp_path)()
        clamav = clamav_of(result)
        assert clamav.state == "outdated"
        assert result.host_state == "outdated"
        assert clamav.realtime_protection is True
        assert clamav.signature_version == str(DATABASE_VERSION - 100)
        age = time.time() - clamav.signature_updated_unix
        assert abs(age - THIRTY_DAYS) < 60, f"signature age {age:.0f}s, expected 30 days"
        # The threshold is the configured one: 45 days allowed makes the same database fresh.
        lenient = probe_config(db, tmp_path, clamd, outdated_after_days=45.0)
        assert clamav_of(collector(lenient, tmp_path)()).state == "protected"


def test_clamd_stopped_is_disabled_and_started_again_is_protected(
    fresh_database: Path, tmp_path: Path
) -> None:
    db = database_dir(tmp_path, fresh_database)
    with running_clamd(db) as clamd:
        collect = collector(probe_config(db, tmp_path, clamd), tmp_path)
        assert clamav_of(collect()).state == "protected"

        clamd.stop()
        clamav = clamav_of(collect())
        assert clamav.realtime_protection is False
        assert clamav.state == "disabled"
        assert f"clamd does not answer on {clamd.socket_path}" in clamav.detail
        assert clamav.signature_version == "27100"  # the databases are still read

        clamd.start()
        clamav = clamav_of(collect())
        assert (clamav.state, clamav.realtime_protection) == ("protected", True)


def test_corrupted_database_is_unknown_and_names_the_file(fresh_database: Path, tmp_path: Path) -> None:
    clamscan = program("clamscan")
    db = database_dir(tmp_path, fresh_database)
    with running_clamd(db) as clamd:
        collect = collector(probe_config(db, tmp_path, clamd), tmp_path)
        assert clamav_of(collect()).state == "protected"
        with (db / "daily.cud").open("r+b") as handle:
            handle.write(b"GARBAGE\xff\xfe GARBAGE GARBAGE")
        # ClamAV refuses the file too.
        check = subprocess.run(
            [clamscan, f"--database={db}", os.devnull],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert check.returncode == 2 and "Broken or not a CVD file" in check.stderr, check

        # clamd still answers with what it loaded before: the unreadable file still wins.
        result = collect()
        clamav = clamav_of(result)
        assert clamav.state == "unknown"
        assert "database unreadable: daily.cud" in clamav.detail
        assert result.host_state == "unknown"

        clamd.stop()
        clamav = clamav_of(collect())
        assert clamav.state == "unknown"
        assert "daily.cud" in clamav.detail


def test_detections_across_a_real_log_rotation_and_truncation(fresh_database: Path, tmp_path: Path) -> None:
    """logrotate's way (rename to .1, clamd keeps its old file until SIGHUP), then copytruncate's."""
    db = database_dir(tmp_path, fresh_database)
    log = tmp_path / "clamd.log"
    with running_clamd(db, log_path=log) as clamd:
        collect = collector(probe_config(db, tmp_path, clamd), tmp_path)
        assert collect().detections == ()

        def scan(name: str, where: Path = log, count: int = 1) -> Path:
            path = write_eicar(tmp_path / name)
            assert clamd.scan(path).endswith(f"{DETECTED_AS} FOUND")
            wait_for_log(where, f"{path}: {DETECTED_AS} FOUND", count)
            return path

        def paths(detections: tuple[Detection, ...]) -> list[str]:
            return [d.path for d in detections]

        before = scan("before-rotation.com")
        log.rename(f"{log}.1")
        rotated = Path(f"{log}.1")
        between = scan("between-rename-and-sighup.com", where=rotated)
        clamd.reopen_log()
        wait_for_log(rotated, "SIGHUP caught: re-opening log file.")
        after = scan("after-rotation.com")
        seen: list[str] = []
        for _ in range(3):
            seen += paths(collect().detections)
        assert seen == [str(before), str(between), str(after)]

        after_again = scan("after-rotation-again.com")
        assert paths(collect().detections) == [str(after_again)]

        with log.open("r+b") as handle:  # copytruncate
            handle.truncate(0)
        truncated = scan("after-truncation.com")
        assert paths(collect().detections) == [str(truncated)]
        assert collect().detections == ()


def test_clamonacc_running_shows_on_access_scanning(fresh_database: Path, tmp_path: Path) -> None:
    """clamonacc needs root and a kernel that grants fanotify: skipped, with the reason, otherwise."""
    binary = shutil.which("clamonacc")
    if binary is None:
        pytest.skip("clamonacc not installed (package clamav-daemon)")
    if os.geteuid() != 0:
        pytest.skip("clamonacc needs root for fanotify; the tests do not run as root")
    if clamonacc_running():
        pytest.skip("another clamonacc already runs on this machine: its on/off cannot be shown")
    db = database_dir(tmp_path, fresh_database)
    watched = tmp_path / "watched"
    watched.mkdir()
    # Exclude root: clamd (root here) opening files must not feed events back to clamonacc.
    on_access = (f"OnAccessIncludePath {watched}", "OnAccessExcludeRootUID yes")
    with running_clamd(db, extra_config=on_access) as clamd:
        collect = collector(probe_config(db, tmp_path, clamd), tmp_path)
        assert clamav_of(collect()).on_access_scanning is False
        output = tmp_path / "clamonacc.output"
        with output.open("wb") as sink:
            process = subprocess.Popen(
                [binary, "-c", str(clamd.config_path), "--foreground"],
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.STDOUT,
            )
        try:
            deadline = time.monotonic() + 30
            while not clamonacc_running() and process.poll() is None and time.monotonic() < deadline:
                time.sleep(0.1)
            time.sleep(1.0)  # it exits soon after start when the kernel refuses fanotify
            if process.poll() is not None or not clamonacc_running():
                pytest.skip(
                    "clamonacc did not keep running (no fanotify in this kernel or container?): "
                    + output.read_text(errors="replace")[-500:]
                )
            clamav = clamav_of(collect())
            assert clamav.on_access_scanning is True
            assert "on-access scanning on" in clamav.detail
        finally:
            process.terminate()
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        clamav = clamav_of(collect())
        assert clamav.on_access_scanning is False
        assert "on-access scanning off" in clamav.detail


def test_a_burst_of_detections_is_reported_over_several_collections_each_once(
    fresh_database: Path, tmp_path: Path
) -> None:
    """250 infected files in one CONTSCAN: at most MAX_DETECTIONS per report, the rest in the next."""
    db = database_dir(tmp_path, fresh_database)
    burst = tmp_path / "burst"
    burst.mkdir()
    files = {str(write_eicar(burst / f"infected-{i:03d}.com")) for i in range(250)}
    with running_clamd(db) as clamd:
        collect = collector(probe_config(db, tmp_path, clamd), tmp_path)
        assert collect().detections == ()
        reply = clamd.command(b"zCONTSCAN " + str(burst).encode() + b"\0")
        assert reply.count(" FOUND") == 250, reply[:500]
        wait_for_log(clamd.log_path, f"{DETECTED_AS} FOUND", count=250)
        sizes = []
        reported: list[str] = []
        for _ in range(3):
            detections = collect().detections
            sizes.append(len(detections))
            reported += [d.path for d in detections]
        assert sizes == [MAX_DETECTIONS, 250 - MAX_DETECTIONS, 0]
        assert sorted(reported) == sorted(files)


def test_detections_survive_clamds_own_log_rotation(fresh_database: Path, tmp_path: Path) -> None:
    """clamd rotates its log itself with `LogRotate yes` and a `LogFileMaxSize`: it renames the
    full log to clamd-<YYYYMMDD_HHMMSS>.log, not clamd.log.1. Detections it wrote to the old file
    after the last collection must still be reported.

    Fails today: new_lines only looks for the old inode at ``<log>.1``, so the unread rest of the
    rotated file is skipped and those detections are lost.
    """
    db = database_dir(tmp_path, fresh_database)
    log = tmp_path / "clamd.log"
    with running_clamd(db, log_path=log, extra_config=("LogFileMaxSize 4K", "LogRotate yes")) as clamd:
        collect = collector(probe_config(db, tmp_path, clamd), tmp_path)
        assert collect().detections == ()
        # Scan until clamd rotated once, then a few more: every detection is in one of two files
        # (a second rotation within the same second would make clamd overwrite the first).
        scanned: list[str] = []
        after_rotation = 0
        while after_rotation < 3:
            assert len(scanned) < 200, "clamd did not rotate its log"
            path = write_eicar(tmp_path / f"eicar-{len(scanned):03d}.com")
            assert clamd.scan(path).endswith(f"{DETECTED_AS} FOUND")
            scanned.append(str(path))
            if list(tmp_path.glob("clamd-*.log")):
                after_rotation += 1
        wait_for_log(log, f"{scanned[-1]}: {DETECTED_AS} FOUND")
        rotated = sorted(tmp_path.glob("clamd-*.log"))
        assert len(rotated) == 1, rotated
        reported: list[str] = []
        for _ in range(3):
            reported += [d.path for d in collect().detections]
        lost = [p for p in scanned if p not in reported]
        assert not lost, f"{len(lost)} of {len(scanned)} detections lost (rotated to {rotated[0].name})"
        assert sorted(reported) == sorted(scanned)


def test_collection_between_logrotate_create_and_sighup_loses_nothing(
    fresh_database: Path, tmp_path: Path
) -> None:
    """logrotate renames clamd's log, creates an empty one, then sends SIGHUP (postrotate); clamd
    writes to the renamed file until the SIGHUP. An agent collection in that window must not lose
    what clamd writes there.

    Fails today: the collection in the window moves the cursor to the new, empty file, and the
    detection clamd then writes to clamd.log.1 is never reported.
    """
    db = database_dir(tmp_path, fresh_database)
    log = tmp_path / "clamd.log"
    rotated = Path(f"{log}.1")
    with running_clamd(db, log_path=log) as clamd:
        collect = collector(probe_config(db, tmp_path, clamd), tmp_path)
        assert collect().detections == ()
        log.rename(rotated)
        log.write_text("")  # logrotate's `create`
        assert collect().detections == ()  # the agent's cycle comes before postrotate
        before = write_eicar(tmp_path / "before-sighup.com")
        assert clamd.scan(before).endswith(f"{DETECTED_AS} FOUND")
        wait_for_log(rotated, f"{before}: {DETECTED_AS} FOUND")
        clamd.reopen_log()
        wait_for_log(rotated, "SIGHUP caught: re-opening log file.")
        after = write_eicar(tmp_path / "after-sighup.com")
        assert clamd.scan(after).endswith(f"{DETECTED_AS} FOUND")
        wait_for_log(log, f"{after}: {DETECTED_AS} FOUND")
        reported: list[str] = []
        for _ in range(3):
            reported += [d.path for d in collect().detections]
        assert reported == [str(before), str(after)]
