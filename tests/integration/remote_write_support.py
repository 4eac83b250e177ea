"""Backfill against a real receiver: a collector writing to it, an agent cut off and back, PromQL reads.

The scripted agent makes one report per interval on a fixed schedule (its collection times are exact
multiples of the interval), pushes each at once while connected, keeps them while cut off, and on
reconnection drains them as the agent's spool does: the newest first, then the oldest, a few per Push.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc.aio

from fleetwatch_collector.checks import Limits
from fleetwatch_collector.config import RemoteWriteSection
from fleetwatch_collector.server import CollectorServer
from fleetwatch_proto.v1 import fleetwatch_pb2 as pb
from tests.integration.support import GOOD, Harness, collector_config, report

MIB = 2**20
METRIC = "fleetwatch_host_memory_available_bytes"


@contextlib.asynccontextmanager
async def backfilling_collector(
    data_dir: Path, write_url: str, http_listen: str = "127.0.0.1:0"
) -> AsyncIterator[Harness]:
    """An in-process collector writing late reports to ``write_url``, with agent GOOD enrolled."""
    section = RemoteWriteSection(url=write_url, batch_samples=500, min_backoff_seconds=0.1, timeout_seconds=5)
    config = collector_config(data_dir, Limits())
    server_section = dataclasses.replace(config.server, http_listen=http_listen)
    config = dataclasses.replace(config, server=server_section, remote_write=section)
    server = CollectorServer(config)
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.grpc_port}") as channel:
            harness = Harness(server, channel)
            harness.enrol(GOOD)
            yield harness
    finally:
        await server.shutdown()


@dataclass
class Outage:
    """What the scripted agent did: every report's collection time and value, and which were late."""

    interval_ms: int
    times: dict[int, int] = field(default_factory=dict)  # seq -> collected_unix_ms
    late: list[int] = field(default_factory=list)  # seqs the collector got after a newer one was shown

    def memory(self, seq: int) -> int:
        """The value the agent measured in report ``seq`` (distinct for every report)."""
        return seq * MIB

    def late_times(self) -> list[int]:
        return [self.times[seq] for seq in self.late]


async def cut_off_agent(
    harness: Harness, interval_seconds: int, before: int = 2, cut: int = 5, after: int = 2, per_push: int = 2
) -> Outage:
    """``before`` reports on time, ``cut`` kept while cut off, the backlog drained ``per_push`` reports
    per Push as the newest report of the reconnection leads each, then ``after`` on time."""
    interval_ms = interval_seconds * 1000
    start_ms = (int(time.time() * 1000) // interval_ms + 1) * interval_ms
    outage = Outage(interval_ms)
    spool: list[int] = []

    def make(seq: int) -> pb.Report:
        message = report(seq, outage.memory(seq))
        message.collected_unix_ms = outage.times[seq]
        message.interval_seconds = interval_seconds
        return message

    for seq in range(1, before + cut + after + 2):
        outage.times[seq] = start_ms + (seq - 1) * interval_ms
        await asyncio.sleep(max(0.0, outage.times[seq] / 1000 - time.time()))
        spool.append(seq)
        if before < seq <= before + cut:
            continue  # cut off: the report waits in the spool
        while spool:
            batch = [spool[-1], *spool[: per_push - 1]] if len(spool) > 1 else spool[:1]
            batch = list(dict.fromkeys(batch))
            await harness.push([make(s) for s in batch], oldest_held_seq=min(spool))
            spool = [s for s in spool if s not in batch]
    outage.late = list(range(before + 1, before + cut + 1))
    return outage


class PromQL:
    """The Prometheus HTTP API of Prometheus or VictoriaMetrics at ``url``."""

    def __init__(self, url: str) -> None:
        self.url = url

    def get(self, path: str, **params: str) -> Any:
        query = urllib.parse.urlencode(params)
        try:
            with urllib.request.urlopen(f"{self.url}{path}?{query}", timeout=10.0) as response:
                answer = json.loads(response.read())
        except urllib.error.HTTPError as exc:
            raise AssertionError(f"{path} {params}: HTTP {exc.code} {exc.read()[:500]!r}") from exc
        assert answer.get("status") == "success", answer
        return answer["data"]["result"]

    def raw(self, selector: str, at_ms: int, window_seconds: int) -> dict[str, list[tuple[int, float]]]:
        """Raw samples of every series ``selector`` matches over the window before ``at_ms``, by series
        (its labels as JSON); times in milliseconds."""
        result = self.get("/api/v1/query", query=f"{selector}[{window_seconds}s]", time=f"{at_ms / 1000:.3f}")
        return {
            json.dumps(series["metric"], sort_keys=True): [
                (round(float(t) * 1000), float(v)) for t, v in series["values"]
            ]
            for series in result
        }

    def range(self, expr: str, start_ms: int, end_ms: int, step_ms: int) -> list[tuple[int, float]]:
        """The points of the only series of a range query (times in milliseconds)."""
        result = self.get(
            "/api/v1/query_range",
            query=expr,
            start=f"{start_ms / 1000:.3f}",
            end=f"{end_ms / 1000:.3f}",
            step=f"{step_ms / 1000:.3f}",
        )
        assert len(result) == 1, result
        return [(round(float(t) * 1000), float(v)) for t, v in result[0]["values"]]


def wait_for(read: Callable[[], Any], done: Callable[[Any], bool], timeout: float = 30.0) -> Any:
    """``read()`` once ``done`` holds for it, or its last value after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    value = read()
    while not done(value) and time.monotonic() < deadline:
        time.sleep(0.25)
        value = read()
    return value


def check_backfill(peer: PromQL, agent_id: str, outage: Outage, selector_extra: str = "") -> None:
    """The receiver holds the late reports at their collection times with their values, one sample per
    report, and a range query over the outage has a point at every interval (no hole)."""
    selector = f'{METRIC}{{agent_id="{agent_id}"{selector_extra}}}'
    late = outage.late_times()
    end_ms = max(outage.times.values()) + outage.interval_ms
    window = (end_ms - min(outage.times.values())) // 1000 + 60
    found = wait_for(
        lambda: peer.raw(selector, end_ms, window),
        lambda series: sum(len(points) for points in series.values()) >= len(late),
    )
    assert len(found) == 1, f"one backfilled series expected: {list(found)}"
    (points,) = found.values()
    assert points == [(outage.times[seq], float(outage.memory(seq))) for seq in outage.late]
    gaps = [b - a for a, b in itertools.pairwise(late)]
    assert gaps and max(gaps) <= outage.interval_ms
    steps = peer.range(selector, late[0], late[-1], outage.interval_ms)
    assert steps == [(outage.times[seq], float(outage.memory(seq))) for seq in outage.late]
