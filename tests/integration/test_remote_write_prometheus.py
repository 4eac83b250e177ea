"""Backfill into a real Prometheus: an agent cut off for several intervals leaves no hole in its series.

Prometheus scrapes the collector (the current state, as in production) and receives the late reports
by remote write (--web.enable-remote-write-receiver, storage.tsdb.out_of_order_time_window: 2h).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from fleetwatch_collector.config import RemoteWriteSection
from fleetwatch_collector.remotewrite.encode import Labels, write_request_body
from fleetwatch_collector.remotewrite.policy import Outcome, classify
from fleetwatch_collector.remotewrite.sender import HttpSender
from tests.conftest import free_port, require_program
from tests.e2e.support import ProcessGroup, http_get, wait_until
from tests.integration.remote_write_support import (
    METRIC,
    Outage,
    PromQL,
    backfilling_collector,
    check_backfill,
    cut_off_agent,
    wait_for,
)
from tests.integration.support import GOOD

INTERVAL_SECONDS = 2
JOB = "fleetwatch-collector"


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[ProcessGroup]:
    group = ProcessGroup(tmp_path / "logs")
    yield group
    group.stop_all()


def start_prometheus(group: ProcessGroup, tmp: Path, collector_http: str | None) -> PromQL:
    """Prometheus with the remote write receiver and an out-of-order window, on a free loopback port,
    scraping ``collector_http`` every second; the lookback is one agent interval, so a missing report
    shows as a missing point."""
    prometheus = require_program("prometheus", "apt-get install prometheus")
    config = tmp / "prometheus.yml"
    scrape = (
        "scrape_configs:\n"
        f"  - job_name: {JOB}\n"
        "    scrape_interval: 1s\n"
        "    scrape_timeout: 1s\n"
        f"    static_configs: [{{targets: [{json.dumps(collector_http)}]}}]\n"
        if collector_http
        else ""
    )
    config.write_text("storage:\n  tsdb:\n    out_of_order_time_window: 2h\n" + scrape)
    address = f"127.0.0.1:{free_port()}"
    process = group.spawn(
        [
            prometheus,
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp / 'tsdb'}",
            f"--web.listen-address={address}",
            "--web.enable-remote-write-receiver",
            f"--query.lookback-delta={INTERVAL_SECONDS}s",
        ],
        "prometheus",
    )
    url = f"http://{address}"
    wait_until(
        lambda: http_get(f"{url}/-/ready", timeout=2.0)[0] == 200, "prometheus ready", watch=(process,)
    )
    return PromQL(url)


def collection_times_known(peer: PromQL, agent_id: str, outage: Outage) -> list[int]:
    """Every collection time Prometheus holds for the agent: the values of the scraped
    fleetwatch_agent_last_report_timestamp_seconds (reports on time) and of the backfilled one."""
    end_ms = max(outage.times.values()) + 2 * outage.interval_ms
    found = peer.raw(f'fleetwatch_agent_last_report_timestamp_seconds{{agent_id="{agent_id}"}}', end_ms, 120)
    return sorted({round(value * 1000) for points in found.values() for _, value in points})


@pytest.mark.peer("prometheus")
def test_an_outage_leaves_no_hole_in_prometheus(tmp_path: Path, processes: ProcessGroup) -> None:
    async def run() -> tuple[Outage, str, list[int]]:
        tsdb = tmp_path / "prometheus"
        tsdb.mkdir()
        # The collector must know Prometheus' write URL, Prometheus the collector's /metrics address:
        # start Prometheus first, scraping a port the collector then listens on.
        scrape_port = free_port()
        peer = start_prometheus(processes, tsdb, f"127.0.0.1:{scrape_port}")
        async with backfilling_collector(
            tmp_path / "collector", f"{peer.url}/api/v1/write", http_listen=f"127.0.0.1:{scrape_port}"
        ) as harness:
            agent_id = harness.agent_id(GOOD)
            scraped = await asyncio.to_thread(
                wait_for, lambda: peer.get("/api/v1/query", query=f'up{{job="{JOB}"}} == 1'), bool
            )
            assert scraped, "Prometheus does not scrape the collector"
            outage = await cut_off_agent(harness, INTERVAL_SECONDS)
            await asyncio.to_thread(check_backfill, peer, agent_id, outage, ',job=""')
            known = await asyncio.to_thread(
                wait_for,
                lambda: collection_times_known(peer, agent_id, outage),
                lambda times: set(outage.times.values()) <= set(times),
            )
            sent = await harness.counter("fleetwatch_collector_remote_write_samples_total", result="sent")
            queued = await harness.counter("fleetwatch_collector_remote_write_reports_total", result="queued")
            rejected = await harness.counter(
                "fleetwatch_collector_remote_write_samples_total", result="rejected"
            )
            shown = [s for s in await harness.samples() if s.name == METRIC]
        assert queued == len(outage.late)
        assert sent > 0 and rejected == 0
        # /metrics carries the current state only: the newest report's value, no time stamp.
        assert [(s.value, s.timestamp) for s in shown] == [(outage.memory(max(outage.times)), None)]
        return outage, agent_id, known

    outage, _, known = asyncio.run(run())
    # Prometheus knows every report's collection time: none lost, no gap larger than one interval.
    assert known == sorted(outage.times.values())
    gaps = [b - a for a, b in itertools.pairwise(known)]
    assert max(gaps) <= outage.interval_ms


@pytest.mark.peer("prometheus")
def test_samples_prometheus_will_never_take_are_not_retried(tmp_path: Path, processes: ProcessGroup) -> None:
    """Older than the out-of-order window, Prometheus refuses samples with a 500 "too old sample", for a
    series it has and a new one alike; the writer counts them, it does not send them again."""
    peer = start_prometheus(processes, tmp_path, None)
    sender = HttpSender(RemoteWriteSection(url=f"{peer.url}/api/v1/write", timeout_seconds=5))
    now_ms = int(time.time() * 1000)
    three_hours_ms = 3 * 3600 * 1000
    known: Labels = (("__name__", "fleetwatch_host_cpus"), ("agent_id", "a1"))
    new: Labels = (("__name__", "fleetwatch_host_cpus"), ("agent_id", "a2"))
    answers = [
        sender.post(write_request_body([(known, now_ms, 4.0)])),
        sender.post(write_request_body([(known, now_ms - three_hours_ms, 4.0)])),
        sender.post(write_request_body([(new, now_ms - three_hours_ms, 4.0)])),
    ]
    sender.close()
    outcomes = [classify(status, body) for status, body in answers]
    assert outcomes == [Outcome.SENT, Outcome.REJECTED, Outcome.REJECTED], answers
    # A 500, the status of a retryable failure: only the body tells it is final.
    assert [status for status, _ in answers] == [204, 500, 500], answers
    assert all("too old sample" in body for _, body in answers[1:]), answers
