"""Health Watch through the gate: a watcher gets SERVING; Watch streams are bounded per address and
the ones beyond are refused and counted, while agents are served (real collector process)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import grpc
import grpc.aio
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.e2e.support import ProcessGroup
from tests.security.support import running_lab


def test_watch_streams_are_served_and_bounded(processes: ProcessGroup, tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_lab(processes, tmp_path, {"calls": {"max_watch_streams_per_peer": 2}}) as lab:
            agent = await lab.enroll(lab.token(), "good-pc")
            health = health_pb2_grpc.HealthStub(lab.channel)
            watches = [health.Watch(health_pb2.HealthCheckRequest(service=""), timeout=20) for _ in range(3)]
            try:
                for watch in watches[:2]:
                    first = await asyncio.wait_for(watch.read(), 10)
                    assert first.status == health_pb2.HealthCheckResponse.SERVING
                try:
                    await asyncio.wait_for(watches[2].read(), 10)
                    raise AssertionError("a third Watch from one address was served")
                except grpc.aio.AioRpcError as error:
                    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, error
                refused = await lab.counter(
                    "fleetwatch_collector_calls_refused_total", method="Watch", reason="peer_busy"
                )
                assert refused == 1
                assert await lab.counter("fleetwatch_collector_calls_in_progress", pool="watch") == 2
                assert await lab.push(agent) == agent.seq
                check = await health.Check(health_pb2.HealthCheckRequest(service=""), timeout=10)
                assert check.status == health_pb2.HealthCheckResponse.SERVING
            finally:
                for watch in watches:
                    watch.cancel()

    asyncio.run(scenario())
