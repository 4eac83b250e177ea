"""Antivirus on Linux: ClamAV (loaded database, files, clamd, clamonacc, log), others by presence."""

from __future__ import annotations

import dataclasses
import datetime
import os
import shutil
import socket
import sys
from collections.abc import Callable
from pathlib import Path

from fleetwatch_agent.probes.antivirus import AntivirusConfig
from fleetwatch_agent.probes.antivirus.clamav_parse import (
    ClamAVFormatError,
    ClamdVersion,
    DatabaseHeader,
    parse_found_line,
    parse_header,
    parse_version_reply,
)
from fleetwatch_agent.probes.antivirus.logfollow import Cursor, new_lines
from fleetwatch_agent.probes.antivirus.model import (
    AntivirusResult,
    Detection,
    ProductStatus,
    State,
    classify,
    host_state,
    signature_date,
    skew_note,
)
from fleetwatch_agent.probes.context import ProbeContext

# What protects is the database clamd has loaded (its VERSION reply), not the files on disk: the
# files are read for a newer version waiting to be loaded, and stand in only when clamd does not
# say. An unreadable database file or clamd log degrades only its part of the record (the reason
# in ``detail``). Other products whose presence can be read reliably (their installation folders)
# are listed with state "unknown": fleetwatch cannot read their protection state without vendor tools.

CURSOR = "clamav_log"
MAX_DETECTIONS = 200  # per report; more wait for the next cycle (the collector caps events at 256)
CLAMD_TIMEOUT = 1.0
CLAMAV_BINARIES = ("/usr/sbin/clamd", "/usr/bin/clamscan", "/usr/bin/clamdscan")
DATABASES = ("daily", "main", "bytecode")
VIRUS_DATABASES = ("daily", "main")  # bytecode.cvd holds bytecode programs, no virus signatures
OTHER_PRODUCTS = (
    ("Kaspersky Endpoint Security for Linux", "Kaspersky", "/opt/kaspersky/kesl"),
    ("ESET Endpoint Antivirus for Linux", "ESET", "/opt/eset/eea"),
    ("ESET Server Security for Linux", "ESET", "/opt/eset/efs"),
    ("Sophos Protection for Linux", "Sophos", "/opt/sophos-spl"),
)


def read_databases(directory: Path) -> tuple[list[DatabaseHeader], list[str]]:
    """Headers of the newest daily/main/bytecode file (.cld, .cvd or .cud) and the errors met."""
    headers, errors = [], []
    for name in DATABASES:
        best: DatabaseHeader | None = None
        for suffix in (".cld", ".cvd", ".cud"):
            path = directory / f"{name}{suffix}"
            try:
                with path.open("rb") as handle:
                    header = parse_header(name, handle.read(512))
            except FileNotFoundError:
                continue
            except (OSError, ClamAVFormatError) as exc:
                errors.append(f"{path.name}: {exc}")
                continue
            if best is None or header.version > best.version:
                best = header
        if best is not None:
            headers.append(best)
    return headers, errors


def clamd_version(address: str) -> ClamdVersion | None:
    """clamd's engine and loaded database, None when clamd does not answer."""
    if sys.platform == "win32":  # no clamd there (and no AF_UNIX in Windows' socket module)
        return None
    host, sep, port = address.rpartition(":")
    try:
        if sep and port.isdigit() and not address.startswith("/"):
            sock = socket.create_connection((host, int(port)), timeout=CLAMD_TIMEOUT)
        else:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(CLAMD_TIMEOUT)
            sock.connect(address)
        with sock:
            sock.sendall(b"zVERSION\0")
            reply = sock.recv(256)
        return parse_version_reply(reply)
    except (OSError, ClamAVFormatError):
        return None


def clamonacc_running(proc: str = "/proc") -> bool:
    """Whether an on-access scanner (clamonacc) process exists, from /proc/<pid>/comm.

    The cheapest way to ask: one scandir and one small read per process (psutil or pathlib
    cost several times more, and this runs every cycle)."""
    with os.scandir(proc) as entries:
        for entry in entries:
            if not entry.name.isdigit():
                continue
            try:
                fd = os.open(f"{proc}/{entry.name}/comm", os.O_RDONLY)
            except OSError:
                continue
            try:
                if os.read(fd, 32) == b"clamonacc\n":
                    return True
            except OSError:
                pass
            finally:
                os.close(fd)
    return False


def _detections(config: AntivirusConfig, cursor: Cursor | None) -> tuple[list[Detection], Cursor | None, str]:
    """New detections in clamd's log, the cursor after them, and why the log could not be read."""
    try:
        lines, keep = new_lines(Path(config.clamd_log), cursor)
    except OSError as exc:  # unreadable (permissions): detections wait, the committed cursor stays
        return [], cursor, f"clamd log unreadable: {exc.strerror or exc} ({config.clamd_log})"
    tz = datetime.datetime.now().astimezone().tzinfo or datetime.UTC
    found: list[Detection] = []
    for line, after in lines:
        detection = parse_found_line(line, tz)
        if detection is not None:
            when = (detection.time_unix or 0) * 1000
            found.append(Detection(when, "ClamAV", detection.signature, detection.path, "detected"))
        keep = after
        if len(found) == MAX_DETECTIONS:
            break
    return found, keep, ""


def _newest_on_disk(headers: list[DatabaseHeader]) -> DatabaseHeader | None:
    """The virus database that dates the files: daily, else main (never bytecode)."""
    virus = [h for h in headers if h.name in VIRUS_DATABASES]
    return max(virus, key=lambda h: (h.name == "daily", h.version), default=None)


def _freshclam_note(path: Path) -> str | None:
    try:
        written = datetime.datetime.fromtimestamp(path.stat().st_mtime, datetime.UTC)
    except FileNotFoundError:
        return None
    except OSError as exc:
        return f"freshclam log unreadable: {exc.strerror or exc}"
    return f"freshclam log written {written:%Y-%m-%d %H:%M} UTC"


def clamav_status(config: AntivirusConfig, now: float) -> ProductStatus | None:
    """ClamAV's record, None when ClamAV is not installed."""
    database_dir = Path(config.clamav_database_dir)
    headers, errors = read_databases(database_dir)
    installed = any(Path(p).exists() for p in CLAMAV_BINARIES) or shutil.which("clamscan") is not None
    if not installed and not headers:
        return None
    clamd = clamd_version(config.clamd_socket)
    on_access = clamonacc_running()
    disk = _newest_on_disk(headers)
    notes = [f"clamd {'answers' if clamd else 'does not answer'} on {config.clamd_socket}"]
    notes.append(f"on-access scanning {'on' if on_access else 'off'}")
    version: int | None = None
    built = 0
    if clamd is not None and clamd.database_version is not None and clamd.database_time_unix:
        version, built = clamd.database_version, clamd.database_time_unix
        notes.insert(0, f"signatures: daily {version} loaded by clamd")
        if disk is not None and disk.version > version:
            notes.insert(
                1, f"{disk.name} {disk.version} on disk is not loaded yet (clamd SelfCheck or RELOAD)"
            )
    elif disk is not None:
        version, built = disk.version, disk.build_time_unix
        if clamd is not None:
            notes.insert(0, f"signatures: {disk.name} {version} on disk (clamd did not name its database)")
    if errors:
        notes.insert(0, "database unreadable: " + "; ".join(errors))
    if version is None and not errors:
        only = " (only bytecode signatures)" if headers else ""
        notes.insert(0, f"no virus database in {database_dir}{only}")
    freshclam = _freshclam_note(Path(config.freshclam_log))
    if freshclam:
        notes.append(freshclam)
    signature_unix, skew = signature_date(built, now)
    if skew:
        notes.insert(0, skew_note(built, skew))
    state: State = "unknown"
    if version is not None:
        state = classify(
            realtime_protection=clamd is not None,
            signature_updated_unix=built,
            now_unix=now,
            outdated_after_seconds=config.outdated_after_days * 86400,
        )
    engine = clamd.engine if clamd else ""
    return ProductStatus(
        name="ClamAV",
        vendor="Cisco Talos",
        product_version=engine,
        engine_version=engine,
        signature_version=str(version) if version is not None else "",
        signature_updated_unix=signature_unix,
        realtime_protection=clamd is not None,
        state=state,
        on_access_scanning=on_access,
        detail="; ".join(notes),
        signature_clock_skew_seconds=skew,
    )


def other_products() -> list[ProductStatus]:
    return [
        ProductStatus(
            name=name,
            vendor=vendor,
            state="unknown",
            detail=f"installed ({folder}); its state cannot be read without the vendor's tools",
        )
        for name, vendor, folder in OTHER_PRODUCTS
        if Path(folder).is_dir()
    ]


def make_collector(config: AntivirusConfig, context: ProbeContext) -> Callable[[], AntivirusResult]:
    def collect() -> AntivirusResult:
        products = other_products()
        clamav = clamav_status(config, context.clock())
        detections: list[Detection] = []
        cursor = Cursor.loads(context.cursors.get(CURSOR))
        if clamav is not None:
            detections, cursor, log_error = _detections(config, cursor)
            if log_error:
                clamav = dataclasses.replace(clamav, detail=f"{clamav.detail}; {log_error}")
            products.insert(0, clamav)
        cursors = {CURSOR: cursor.dumps()} if cursor else {}
        return AntivirusResult(
            tuple(products), host_state(tuple(products)), tuple(detections), cursors=cursors
        )

    return collect
