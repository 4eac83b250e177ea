"""Gzip /metrics over HTTP: the encoding follows the client's Accept-Encoding, both encodings carry the
same samples, and the background compaction of gzip blocks runs only while scrapes ask for gzip."""

from __future__ import annotations

import gzip
import threading
import zlib
from collections.abc import Iterator
from typing import Any

import pytest

from fleetwatch_collector.fleet import FleetState
from fleetwatch_collector.http import make_app
from fleetwatch_collector.scrape import Compactor, MetricsPage, accepts_gzip
from fleetwatch_collector.selfmetrics import CollectorMetrics
from tests.collector.support import add_antivirus, full_report
from tests.collector.test_exposition_gzip import Clock, comparable


@pytest.mark.parametrize(
    ("header", "gzip_ok"),
    [
        ("gzip", True),
        ("GZIP", True),
        ("x-gzip", True),
        ("gzip, deflate, br", True),
        ("deflate, gzip;q=0.5", True),
        ("gzip;q=0.001", True),
        ("gzip; q=1.0", True),
        ("gzip;q=0", False),
        ("gzip; q=0.000", False),
        ("gzip;q=nonsense", False),
        ("", False),
        ("identity", False),
        ("deflate, br", False),
        ("*", True),
        ("*;q=0", False),
        ("br;q=1, *;q=0.1", True),
        ("gzip;q=0, *", False),  # gzip named: its weight decides
        ("identity;q=1, gzip;q=0", False),
    ],
)
def test_accept_encoding(header: str, gzip_ok: bool) -> None:
    assert accepts_gzip(header) is gzip_ok


class Answer:
    def __init__(self) -> None:
        self.status = ""
        self.headers: dict[str, str] = {}

    def __call__(self, status: str, headers: list[tuple[str, str]]) -> None:
        self.status, self.headers = status, dict(headers)


def get_metrics(page: MetricsPage, accept_encoding: str | None) -> tuple[Answer, bytes]:
    environ: dict[str, Any] = {"PATH_INFO": "/metrics"}
    if accept_encoding is not None:
        environ["HTTP_ACCEPT_ENCODING"] = accept_encoding
    answer = Answer()
    body = b"".join(make_app(page, lambda: True)(environ, answer))
    return answer, body


@pytest.fixture
def fleet() -> FleetState:
    fleet = FleetState(clock=Clock())
    for n in range(3):
        fleet.apply(f"agent-{n}", [add_antivirus(full_report(1, hostname=f"pc-{n}"))])
    return fleet


@pytest.fixture
def page(fleet: FleetState) -> Iterator[MetricsPage]:
    page = MetricsPage(fleet, CollectorMetrics())
    yield page
    page.close()


@pytest.mark.parametrize("accept_encoding", ["gzip", "deflate, gzip;q=0.8", "*"])
def test_metrics_answers_gzip_when_accepted(
    fleet: FleetState, page: MetricsPage, accept_encoding: str
) -> None:
    answer, body = get_metrics(page, accept_encoding)
    assert answer.status == "200 OK"
    assert answer.headers["Content-Encoding"] == "gzip"
    assert answer.headers["Vary"] == "Accept-Encoding"
    assert answer.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    text = gzip.decompress(body).decode()
    fleet_part = fleet.render()[0].decode()
    assert text.startswith(fleet_part)
    assert "fleetwatch_collector_build_info{" in text[len(fleet_part) :]
    assert "fleetwatch_collector_render_duration_seconds " in text


@pytest.mark.parametrize("accept_encoding", [None, "", "identity", "gzip;q=0", "br"])
def test_metrics_answers_identity_otherwise(page: MetricsPage, accept_encoding: str | None) -> None:
    answer, body = get_metrics(page, accept_encoding)
    assert "Content-Encoding" not in answer.headers
    assert answer.headers["Vary"] == "Accept-Encoding"
    text = body.decode()
    assert text.startswith("# HELP fleetwatch_")
    assert 'fleetwatch_agent_up{agent_id="agent-2"' in text
    assert not page.compactor.running  # no gzip scrape: nothing compressed in the background


def test_both_encodings_carry_the_same_samples(page: MetricsPage) -> None:
    _, plain = get_metrics(page, None)
    _, zipped = get_metrics(page, "gzip")

    def host_samples(body: bytes) -> list[tuple[str, list[tuple[str, str]], float]]:
        ours = ("fleetwatch_agent", "fleetwatch_host", "fleetwatch_antivirus")
        return sorted(comparable(body.decode(), lambda name: name.startswith(ours)))

    assert host_samples(gzip.decompress(zipped)) == host_samples(plain)
    assert host_samples(plain)
    # One gzip stream of several members, which zlib reads member by member too.
    inflater = zlib.decompressobj(31)
    assert inflater.decompress(zipped)
    assert inflater.eof and inflater.unused_data


# ---------------------------------------------------------------------------------------------------
# The background compaction


class Ticks:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_compactor_runs_after_a_gzip_scrape_and_stops_when_idle() -> None:
    ticks = Ticks()
    ran = threading.Event()
    calls: list[float] = []

    def compact() -> None:
        calls.append(ticks.now)
        ran.set()

    compactor = Compactor(compact, period=0.01, idle=100.0, clock=ticks)
    try:
        assert not compactor.running
        compactor.scraped()
        assert compactor.running
        assert ran.wait(10)
        ticks.now = 101.0  # no gzip scrape for longer than idle
        for _ in range(1000):
            if not compactor.running:
                break
            threading.Event().wait(0.01)
        assert not compactor.running
        stopped_after = len(calls)
        ran.clear()
        compactor.scraped()  # the next gzip scrape starts it again
        assert compactor.running
        assert ran.wait(10)
        assert len(calls) > stopped_after
    finally:
        compactor.close()
    assert not compactor.running


def test_compactor_survives_a_failing_compaction(caplog: pytest.LogCaptureFixture) -> None:
    done = threading.Event()
    attempts: list[int] = []

    def compact() -> None:
        attempts.append(1)
        if len(attempts) == 1:
            raise RuntimeError("out of room")
        done.set()

    compactor = Compactor(compact, period=0.01)
    compactor.scraped()
    try:
        assert done.wait(10)
    finally:
        compactor.close()
    assert "gzip compaction failed" in caplog.text
