"""Parsing what ClamAV writes: database headers, clamd's VERSION reply, clamd's FOUND log lines."""

from __future__ import annotations

import datetime

import pytest

from fleetwatch_agent.probes.antivirus.clamav_parse import (
    HEADER_SIZE,
    ClamAVFormatError,
    ClamdVersion,
    DatabaseHeader,
    LogDetection,
    parse_found_line,
    parse_header,
    parse_version_reply,
)

UTC = datetime.UTC
# Vietnam: the agents' time zone, and one where a wrong zone shows as a 7-hour error.
ICT = datetime.timezone(datetime.timedelta(hours=7))


def padded(text: str, pad: bytes = b" ") -> bytes:
    """A header as sigtool writes it: the text, padded to 512 bytes."""
    raw = text.encode("ascii")
    return raw + pad * (HEADER_SIZE - len(raw))


# Written by `sigtool --unsigned --cvd-version=27100 --build=daily.cud` (ClamAV 1.4.6).
SIGTOOL_HEADER = (
    "ClamAV-VDB:27 Nov 2026 18-50 +0000:27100:1:216:985480fac698eac6fae0d8c78e2aaec8:X:builder:1795805400"
)
# Official databases: the same fields, signed.
OFFICIAL_HEADER = (
    "ClamAV-VDB:09 Nov 2026 07-33 -0500:27817:2077210:90:4b1f0c9d2a:sIgNaTuRe:raynman:1794227580"
)


def test_header_with_stime_takes_the_numeric_build_time() -> None:
    header = parse_header("daily", padded(SIGTOOL_HEADER) + b"\x1f\x8b compressed body follows")
    assert header == DatabaseHeader("daily", 27100, 1795805400, 1)


def test_header_stime_wins_over_the_readable_time() -> None:
    # The readable time says 07:33 -0500 = 12:33 UTC; stime is what clamd itself compares.
    header = parse_header("daily", padded(OFFICIAL_HEADER, b"\0"))
    assert header.build_time_unix == 1794227580
    assert (header.version, header.signatures) == (27817, 2077210)


def test_header_without_stime_uses_the_readable_time_with_its_offset() -> None:
    header = parse_header("main", padded("ClamAV-VDB:16 Sep 2021 08-32 -0400:62:6647427:90:md5:sig:sigmgr"))
    expected = datetime.datetime(2021, 9, 16, 12, 32, tzinfo=UTC).timestamp()
    assert header == DatabaseHeader("main", 62, int(expected), 6647427)


def test_header_with_an_empty_stime_field_falls_back_to_the_readable_time() -> None:
    header = parse_header("bytecode", padded("ClamAV-VDB:01 Jan 2026 00-00 +0000:335:86:90:md5:sig:builder:"))
    assert header.build_time_unix == int(datetime.datetime(2026, 1, 1, tzinfo=UTC).timestamp())


@pytest.mark.parametrize(
    ("raw", "complaint"),
    [
        (b"GARBAGEGARBAGE" + SIGTOOL_HEADER.encode()[14:], "not a ClamAV database header"),
        (b"\x1f\x8b\x08\x00" + b"\xff" * 508, "not a ClamAV database header"),
        (b"", "not a ClamAV database header"),
        (b"ClamAV-VDB:27 Nov 2026 18-50 +0000", "not a ClamAV database header"),
        (padded("ClamAV-VDB:27 Nov 2026 18-50 +0000:v27100:1:216:md5:X:b:1795805400"), "bad version"),
        (padded("ClamAV-VDB:27 Nov 2026 18-50 +0000:27100:many:216:md5:X:b:1795805400"), "bad version"),
        (padded("ClamAV-VDB:yesterday:27100:1:216:md5:X:builder"), "no readable build time"),
    ],
)
def test_garbage_headers_raise_a_format_error_naming_the_database(raw: bytes, complaint: str) -> None:
    with pytest.raises(ClamAVFormatError, match=complaint) as caught:
        parse_header("daily", raw)
    assert str(caught.value).startswith("daily: ")


def test_version_reply_gives_engine_and_the_loaded_database() -> None:
    assert parse_version_reply(b"ClamAV 1.4.6/27100/Fri Nov 27 18:53:52 2026\0", UTC) == ClamdVersion(
        "1.4.6", 27100, int(datetime.datetime(2026, 11, 27, 18, 53, 52, tzinfo=UTC).timestamp())
    )
    old = parse_version_reply(b"ClamAV 1.0.7/27412/Mon Sep 30 08:36:26 2024\n", ICT)
    assert (old.engine, old.database_version) == ("1.0.7", 27412)
    assert old.database_time_unix == int(datetime.datetime(2024, 9, 30, 1, 36, 26, tzinfo=UTC).timestamp())


def test_version_reply_with_a_single_digit_day_in_local_time() -> None:
    reply = parse_version_reply(b"ClamAV 1.4.6/27100/Tue Dec  1 12:26:28 2026\0")
    expected = datetime.datetime(2026, 12, 1, 12, 26, 28).timestamp()  # naive: this host's zone
    assert reply.database_time_unix == int(expected)


def test_version_reply_without_database_version() -> None:
    # clamd without a readable daily version answers with the engine alone.
    assert parse_version_reply(b"ClamAV 1.4.6\0") == ClamdVersion("1.4.6")
    assert parse_version_reply(b"ClamAV 1.4.6/unknown/x\0") == ClamdVersion("1.4.6")
    assert parse_version_reply(b"ClamAV 1.4.6/27100/someday\0", UTC) == ClamdVersion("1.4.6", 27100)


@pytest.mark.parametrize("reply", [b"", b"PONG\0", b"UNKNOWN COMMAND\0", b"clamav 1.4.6/1/x\0"])
def test_anything_else_is_not_a_version_reply(reply: bytes) -> None:
    with pytest.raises(ClamAVFormatError, match="unexpected clamd VERSION reply"):
        parse_version_reply(reply)


def test_found_line_with_time_prefix_in_the_given_zone() -> None:
    line = "Fri Nov 27 18:51:06 2026 -> /home/ke-toan/Downloads/eicar.com: Eicar-Test-Sig.UNOFFICIAL FOUND\n"
    utc = parse_found_line(line, UTC)
    assert utc == LogDetection(
        int(datetime.datetime(2026, 11, 27, 18, 51, 6, tzinfo=UTC).timestamp()),
        "/home/ke-toan/Downloads/eicar.com",
        "Eicar-Test-Sig.UNOFFICIAL",
    )
    local = parse_found_line(line, ICT)
    assert local is not None and utc.time_unix is not None and local.time_unix is not None
    assert utc.time_unix - local.time_unix == 7 * 3600


def test_found_line_with_a_single_digit_day() -> None:
    # clamd writes ctime-style times: the day of month is padded with a space.
    found = parse_found_line("Sat Nov  7 09:05:01 2026 -> /srv/x.doc: Doc.Dropper.Agent-1 FOUND", UTC)
    assert found is not None
    assert found.time_unix == int(datetime.datetime(2026, 11, 7, 9, 5, 1, tzinfo=UTC).timestamp())
    assert (found.path, found.signature) == ("/srv/x.doc", "Doc.Dropper.Agent-1")


def test_found_line_without_time_prefix() -> None:
    # LogTime no, and clamdscan/clamonacc output.
    assert parse_found_line("/tmp/a b/c.exe: Win.Trojan.Agent-123 FOUND", UTC) == LogDetection(
        None, "/tmp/a b/c.exe", "Win.Trojan.Agent-123"
    )


def test_found_line_path_may_contain_colons_and_arrows() -> None:
    found = parse_found_line("Fri Nov 27 18:51:06 2026 -> /data/a: b -> c.zip: Eicar-Test-Sig FOUND", UTC)
    assert found is not None
    assert (found.path, found.signature) == ("/data/a: b -> c.zip", "Eicar-Test-Sig")


def test_found_line_from_instream() -> None:
    found = parse_found_line(
        "Fri Nov 27 18:56:10 2026 -> instream(local): Eicar-Test-Sig.UNOFFICIAL FOUND", UTC
    )
    assert found is not None and found.path == "instream(local)"


def test_found_line_with_an_impossible_date_keeps_the_detection_without_time() -> None:
    found = parse_found_line("Fri Feb 30 10:00:00 2026 -> /x: Eicar-Test-Sig FOUND", UTC)
    assert found == LogDetection(None, "/x", "Eicar-Test-Sig")


@pytest.mark.parametrize(
    "line",
    [
        "Fri Nov 27 18:53:55 2026 -> +++ Started at Fri Nov 27 18:53:55 2026",
        "Fri Nov 27 18:53:55 2026 -> Loaded 1 signatures.",
        "Fri Nov 27 18:54:50 2026 -> SIGHUP caught: re-opening log file.",
        "Fri Nov 27 18:54:50 2026 -> /tmp/clean.txt: OK",
        "Fri Nov 27 18:54:50 2026 -> /tmp/locked.bin: Access denied. ERROR",
        "Fri Nov 27 18:54:50 2026 -> /tmp/x: Eicar-Test-Sig FOUND in archive",
        "",
        "FOUND",
    ],
)
def test_lines_that_are_not_detections(line: str) -> None:
    assert parse_found_line(line, UTC) is None
