"""Values checked against physics: each impossible value is refused with INVALID_ARGUMENT, its reason
counted, and a legitimate agent is served meanwhile (real collector process, loopback)."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from pathlib import Path

import grpc
import grpc.aio

from fleetwatch_proto.v1 import fleetwatch_pb2 as pb
from tests.e2e.support import ProcessGroup
from tests.security.support import Agent, running_lab

NAN, INF = float("nan"), float("inf")
Corrupt = Callable[[pb.Report, Agent], None]


def target(r: pb.Report, **fields: object) -> None:
    values: dict[str, object] = {"name": "gateway", "kind": pb.PROBE_KIND_ICMP, "success": True, "sent": 4}
    values.update(fields)
    r.connectivity.targets.add(**values)  # type: ignore[arg-type]


def outage(r: pb.Report, start: int, end: int) -> None:
    r.events.add(time_unix_ms=end, outage=pb.Outage(target="gateway", start_unix_ms=start, end_unix_ms=end))


CASES: dict[str, tuple[Corrupt, str, str]] = {
    "rtt-nan": (lambda r, a: target(r, received=4, rtt_avg_seconds=NAN), "invalid_value", "rtt_avg_seconds"),
    "rtt-inf": (lambda r, a: target(r, received=4, rtt_max_seconds=INF), "invalid_value", "rtt_max_seconds"),
    "rtt-negative": (lambda r, a: target(r, received=4, rtt_min_seconds=-1.0), "invalid_value", "rtt_min"),
    "jitter-negative": (lambda r, a: target(r, received=4, jitter_seconds=-0.5), "invalid_value", "jitter"),
    "received-above-sent": (lambda r, a: target(r, received=4_000_000_000), "invalid_value", "received"),
    "cert-days-nan": (lambda r, a: target(r, received=4, tls_cert_days_left=NAN), "invalid_value", "days"),
    "cert-negative": (
        lambda r, a: target(r, received=4, tls_cert_not_after_unix=-5),
        "invalid_value",
        "not_after",
    ),
    "probe-duration-inf": (
        lambda r, a: setattr(r.probes[0], "duration_seconds", INF),
        "invalid_value",
        "duration_seconds",
    ),
    "outage-1.8e16s": (
        lambda r, a: outage(r, r.collected_unix_ms - 18 * 10**15, r.collected_unix_ms),  # 1.8e16 s
        "invalid_value",
        "outage",
    ),
    "outage-ends-before-start": (
        lambda r, a: outage(r, r.collected_unix_ms, r.collected_unix_ms - 60_000),
        "invalid_value",
        "outage",
    ),
    "event-in-the-future": (
        lambda r, a: r.events.add(
            time_unix_ms=r.collected_unix_ms + 3_600_000, threat=pb.ThreatDetected(product="ClamAV")
        ),
        "invalid_value",
        "time_unix_ms",
    ),
    "seq-beyond-its-clock": (lambda r, a: setattr(r, "seq", 2**63 - 1), "invalid_seq", "collection time"),
    "seq-jump": (lambda r, a: setattr(r, "seq", a.seq + 10**9), "invalid_seq", "jumps"),
}


def test_impossible_values_are_refused_and_counted(processes: ProcessGroup, tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_lab(processes, tmp_path) as lab:
            good = await lab.enroll(lab.token(), "good-pc")
            hostile = await lab.enroll(lab.token(), "hostile-pc")
            assert await lab.push(hostile) == 1  # known, so that a jump is a jump
            for name, (corrupt, reason, fragment) in sorted(CASES.items()):
                report = hostile.next_report()
                corrupt(report, hostile)
                before = await lab.counter("fleetwatch_collector_rejected_total", reason=reason)
                try:
                    await lab.push(hostile, [report], oldest_held_seq=0)
                    raise AssertionError(f"{name}: accepted")
                except grpc.aio.AioRpcError as error:
                    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, (name, error)
                    assert fragment in (error.details() or ""), (name, error.details())
                after = await lab.counter("fleetwatch_collector_rejected_total", reason=reason)
                assert after == before + 1, name
                assert await lab.push(good) == good.seq, name
            # oldest_held_seq above anything sent would make every later report a duplicate.
            report = hostile.next_report()
            try:
                await lab.push(hostile, [report], oldest_held_seq=report.seq + 10**6)
                raise AssertionError("oldest_held_seq beyond the Push accepted")
            except grpc.aio.AioRpcError as error:
                assert error.code() == grpc.StatusCode.INVALID_ARGUMENT and "oldest_held_seq" in (
                    error.details() or ""
                )
            # Nothing refused reached /metrics: no NaN, no infinity, no negative duration.
            for sample in await lab.samples():
                assert math.isfinite(sample.value), sample  # type: ignore[attr-defined]
            # A restart of the numbering at the agent's clock is accepted, and counted.
            restart = hostile.next_report()
            restart.seq = int(time.time() * 1000)
            assert await lab.push(hostile, [restart]) == restart.seq
            assert await lab.counter("fleetwatch_collector_seq_restarts_total") == 1

    asyncio.run(scenario())
