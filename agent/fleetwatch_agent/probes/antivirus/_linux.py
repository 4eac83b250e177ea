"""Antivirus on Linux: ClamAV (databases, clamd, clamonacc, detections in clamd's log) and others by presence.

Other products whose presence can be read reliably (their installation folders) are listed
with state "unknown": fleetwatch cannot read their protection state without vendor tools.
"""

from __future__ import annotations

import datetime
import os
import shutil
import socket
from collections.abc import Callable
from pathlib import Path

from fleetwatch_agent.probes.antivirus import AntivirusConfig
from fleetwatch_agent.probes.antivirus.clamav_parse import (
    ClamAVFormatError,
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
)
from fleetwatch_agent.probes.context import ProbeContext

CURSOR = "clamav_log"
MAX_DETECTIONS = 200  # per report; more wait for the next cycle (the collector caps events at 256)
CLAMD_TIMEOUT = 1.0
CLAMAV_BINARIES = ("/usr/sbin/clamd", "/usr/bin/clamscan", "/usr/bin/clamdscan")
DATABASES = ("daily", "main", "bytecode")
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


def clamd_version(address: str) -> tuple[str, int | None] | None:
    """clamd's engine and database version, None when clamd does not answer."""
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


def _detections(config: AntivirusConfig, cursor: Cursor | None) -> tuple[list[Detection], Cursor | None]:
    lines, keep = new_lines(Path(config.clamd_log), cursor)
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
    return found, keep


def clamav_status(config: AntivirusConfig, now: float) -> ProductStatus | None:
    """ClamAV's record, None when ClamAV is not installed."""
    database_dir = Path(config.clamav_database_dir)
    headers, errors = read_databases(database_dir)
    installed = any(Path(p).exists() for p in CLAMAV_BINARIES) or shutil.which("clamscan") is not None
    if not installed and not headers:
        return None
    clamd = clamd_version(config.clamd_socket)
    on_access = clamonacc_running()
    daily = next((h for h in headers if h.name == "daily"), headers[0] if headers else None)
    engine = clamd[0] if clamd else ""
    notes = [f"clamd {'answers' if clamd else 'does not answer'} on {config.clamd_socket}"]
    notes.append(f"on-access scanning {'on' if on_access else 'off'}")
    freshclam = Path(config.freshclam_log)
    if freshclam.exists():
        updated = datetime.datetime.fromtimestamp(freshclam.stat().st_mtime, datetime.UTC)
        notes.append(f"freshclam log written {updated:%Y-%m-%d %H:%M} UTC")
    state: State
    if errors:
        state = "unknown"
        notes.insert(0, "database unreadable: " + "; ".join(errors))
    elif daily is None:
        state = "unknown"
        notes.insert(0, f"no virus database in {database_dir}")
    else:
        state = classify(
            realtime_protection=clamd is not None,
            signature_updated_unix=daily.build_time_unix,
            now_unix=now,
            outdated_after_seconds=config.outdated_after_days * 86400,
        )
    return ProductStatus(
        name="ClamAV",
        vendor="Cisco Talos",
        product_version=engine,
        engine_version=engine,
        signature_version=str(daily.version) if daily else "",
        signature_updated_unix=daily.build_time_unix if daily else 0,
        realtime_protection=clamd is not None,
        state=state,
        on_access_scanning=on_access,
        detail="; ".join(notes),
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
            products.insert(0, clamav)
            detections, cursor = _detections(config, cursor)
        cursors = {CURSOR: cursor.dumps()} if cursor else {}
        return AntivirusResult(
            tuple(products), host_state(tuple(products)), tuple(detections), cursors=cursors
        )

    return collect
