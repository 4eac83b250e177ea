"""The antivirus probe's detections from real clamd scans of EICAR: each once, across log rotations."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from fleetwatch_agent.probes.antivirus import make_collector
from fleetwatch_agent.probes.antivirus._linux import CURSOR, MAX_DETECTIONS
from fleetwatch_agent.probes.antivirus.model import Detection
from fleetwatch_agent.probes.context import ProbeContext
from tests.integration.clamav import (
    DETECTED_AS,
    Clamd,
    database_dir,
    running_clamd,
    wait_for_log,
    write_eicar,
)
from tests.integration.clamav_probe import clamav_of, collector, probe_config

pytestmark = pytest.mark.peer("clamd")

# How far a detection's time (whole seconds in clamd's log) may be from when the test scanned.
# Generous on purpose: a wrong time zone would be hours off.
DETECTION_TIME_SLACK_SECONDS = 120


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
