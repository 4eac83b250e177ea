"""Pure parsing of what ClamAV leaves behind: database headers, clamd replies, clamd log lines."""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass

HEADER_SIZE = 512
_LOG_TIME = "%a %b %d %H:%M:%S %Y"
# "<time> -> <path>: <signature> FOUND" (the time prefix only with LogTime yes).
_FOUND = re.compile(
    r"^(?:(?P<time>\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}) -> )?(?P<path>.+): (?P<sig>\S+) FOUND$"
)


class ClamAVFormatError(ValueError):
    """Bytes that are not what ClamAV writes."""


@dataclass(frozen=True)
class DatabaseHeader:
    name: str  # "daily", "main", "bytecode"
    version: int
    build_time_unix: int
    signatures: int


def parse_header(name: str, header: bytes) -> DatabaseHeader:
    """The 512-byte header of a .cvd/.cld/.cud file: ``ClamAV-VDB:<time>:<version>:<sigs>:...:<stime>``."""
    text = header[:HEADER_SIZE].rstrip(b"\0 ").decode("ascii", errors="replace")
    fields = text.split(":")
    if len(fields) < 4 or fields[0] != "ClamAV-VDB":
        raise ClamAVFormatError(f"{name}: not a ClamAV database header")
    try:
        version, signatures = int(fields[2]), int(fields[3])
    except ValueError as exc:
        raise ClamAVFormatError(f"{name}: bad version or signature count in header") from exc
    build = _build_time(fields)
    if build is None:
        raise ClamAVFormatError(f"{name}: no readable build time in header")
    return DatabaseHeader(name, version, build, signatures)


def _build_time(fields: list[str]) -> int | None:
    """The 'stime' field (Unix seconds, newer databases), else the human-readable time."""
    if len(fields) >= 9 and fields[8].strip().isdigit():
        return int(fields[8].strip())
    try:
        parsed = datetime.datetime.strptime(fields[1].strip(), "%d %b %Y %H-%M %z")
    except ValueError:
        return None
    return int(parsed.timestamp())


@dataclass(frozen=True)
class ClamdVersion:
    """clamd's VERSION reply: its engine and the daily database it has loaded (what protects)."""

    engine: str
    database_version: int | None = None
    database_time_unix: int | None = None  # build time of the loaded database


def parse_version_reply(reply: bytes, tz: datetime.tzinfo | None = None) -> ClamdVersion:
    """``ClamAV 1.4.6/27100/Tue Dec  1 12:26:28 2026`` (clamd's local time; ``tz`` None: this host's)."""
    text = reply.rstrip(b"\0\n").decode("ascii", errors="replace")
    if not text.startswith("ClamAV "):
        raise ClamAVFormatError(f"unexpected clamd VERSION reply {text[:60]!r}")
    parts = text[len("ClamAV ") :].split("/")
    db_version = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None
    db_time = None
    if db_version is not None and len(parts) > 2:
        try:
            parsed = datetime.datetime.strptime(" ".join(parts[2].split()), _LOG_TIME)
            db_time = int((parsed if tz is None else parsed.replace(tzinfo=tz)).timestamp())
        except ValueError:
            db_time = None
    return ClamdVersion(parts[0], db_version, db_time)


@dataclass(frozen=True)
class LogDetection:
    time_unix: int | None
    path: str
    signature: str


def parse_found_line(line: str, tz: datetime.tzinfo) -> LogDetection | None:
    """A detection from one clamd log line, None for any other line."""
    match = _FOUND.match(line.rstrip("\n"))
    if match is None:
        return None
    when = None
    if match.group("time"):
        try:
            parsed = datetime.datetime.strptime(match.group("time"), _LOG_TIME)
            when = int(parsed.replace(tzinfo=tz).timestamp())
        except ValueError:
            when = None
    return LogDetection(when, match.group("path"), match.group("sig"))
