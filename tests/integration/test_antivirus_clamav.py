"""The Linux antivirus probe's states against a real ClamAV: databases built with sigtool, our own clamd.

Every state the probe can give ClamAV is produced with the real programs: no database, protected,
outdated (a database built under faketime), disabled (clamd stopped), a corrupted database, on-access
scanning by clamonacc. "not_installed" cannot be produced here (ClamAV is installed on the test
machine): it is covered at unit level in tests/agent/test_antivirus_model.py. Detections are in
test_antivirus_clamav_detections.py.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from fleetwatch_agent.probes.antivirus._linux import clamonacc_running
from tests.conftest import free_port
from tests.integration.clamav import (
    DATABASE_VERSION,
    Clamd,
    database_dir,
    engine_version,
    program,
    read_header,
    running_clamd,
    write_eicar,
)
from tests.integration.clamav_probe import clamav_of, collector, probe_config

pytestmark = pytest.mark.peer("clamd")

THIRTY_DAYS = 30 * 86400


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


def test_corrupted_database_file_degrades_only_the_disk_part(fresh_database: Path, tmp_path: Path) -> None:
    """clamd keeps serving what it loaded: the record stays protected and names the broken file."""
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

        # What protects is what clamd loaded: the broken file only costs its part of the record.
        result = collect()
        clamav = clamav_of(result)
        assert (clamav.state, clamav.signature_version) == ("protected", str(DATABASE_VERSION))
        assert "database unreadable: daily.cud" in clamav.detail
        assert f"signatures: daily {DATABASE_VERSION} loaded by clamd" in clamav.detail
        assert result.host_state == "protected"

        # Without clamd nothing tells the signatures any more.
        clamd.stop()
        clamav = clamav_of(collect())
        assert clamav.state == "unknown"
        assert "daily.cud" in clamav.detail


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
