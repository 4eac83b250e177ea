"""Backfill into a real VictoriaMetrics (Debian's victoria-metrics), the long-term store of the docs.

An agent cut off for several intervals reconnects and drains its backlog; VictoriaMetrics, written to
on /api/v1/write as the docs configure it, answers PromQL over the outage with every report at its
collection time. VictoriaMetrics has no out-of-order window: it takes samples of any age within its
retention.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import free_port, require_program
from tests.e2e.support import ProcessGroup, http_get, wait_until
from tests.integration.remote_write_support import (
    PromQL,
    backfilling_collector,
    check_backfill,
    cut_off_agent,
)
from tests.integration.support import GOOD

INTERVAL_SECONDS = 1


@pytest.fixture
def victoriametrics(tmp_path: Path) -> Iterator[PromQL]:
    """victoria-metrics on a free loopback port with its data in a temporary folder. Queries see samples
    at once (-search.latencyOffset hides the newest 30 s by default) and are not cached."""
    program = require_program("victoria-metrics", "apt-get install victoria-metrics")
    group = ProcessGroup(tmp_path / "logs")
    address = f"127.0.0.1:{free_port()}"
    process = group.spawn(
        [
            program,
            f"-storageDataPath={tmp_path / 'vmdata'}",
            f"-httpListenAddr={address}",
            "-retentionPeriod=1d",
            "-search.latencyOffset=0s",
            "-search.disableCache",
            "-loggerLevel=ERROR",
        ],
        "victoria-metrics",
    )
    url = f"http://{address}"
    try:
        wait_until(
            lambda: http_get(f"{url}/health", timeout=2.0)[0] == 200, "victoria-metrics", watch=(process,)
        )
        yield PromQL(url)
    finally:
        group.stop_all()


@pytest.mark.peer("victoria-metrics")
def test_an_outage_leaves_no_hole_in_victoriametrics(tmp_path: Path, victoriametrics: PromQL) -> None:
    async def run() -> None:
        async with backfilling_collector(
            tmp_path / "collector", f"{victoriametrics.url}/api/v1/write"
        ) as harness:
            outage = await cut_off_agent(harness, INTERVAL_SECONDS, before=2, cut=6, after=1, per_push=3)
            await asyncio.to_thread(check_backfill, victoriametrics, harness.agent_id(GOOD), outage)
            assert (
                await harness.counter("fleetwatch_collector_remote_write_reports_total", result="queued") == 6
            )
            assert (
                await harness.counter("fleetwatch_collector_remote_write_samples_total", result="rejected")
                == 0
            )

    asyncio.run(run())
