"""The drain benchmark's load generators: processes pushing their agents' backlogs concurrently over gRPC."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import psutil
from drain_backlog import Batch, backlogs

PUSH_METHOD = "/fleetwatch.v1.Collector/Push"
RETRY_AFTER_METADATA = "x-fleetwatch-retry-after-ms"


@dataclass
class DrainStats:
    pushes: int = 0
    reports: int = 0
    retries: int = 0
    retry_codes: dict[str, int] = field(default_factory=dict)
    bad_acks: int = 0
    seconds: float = 0.0
    cpu_seconds: float = 0.0


def _retry_after(exc: Any) -> float:
    for key, value in exc.trailing_metadata() or ():
        if key == RETRY_AFTER_METADATA:
            return int(value) / 1000.0
    return 0.0


async def drain(
    address: str, work: list[tuple[str, str, list[Batch]]], concurrency: int, channels: int
) -> DrainStats:
    import grpc
    import grpc.aio

    from fleetwatch_proto.v1 import fleetwatch_pb2 as pb

    stats = DrainStats()
    retryable = {grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.UNAVAILABLE}
    options = [("grpc.max_send_message_length", 64 * 2**20), ("grpc.enable_retries", 0)]
    opened = [grpc.aio.insecure_channel(address, options=options) for _ in range(channels)]
    calls = [c.unary_unary(PUSH_METHOD, request_serializer=None, response_deserializer=None) for c in opened]
    in_flight = asyncio.Semaphore(concurrency)

    async def agent(number: int, agent_id: str, secret: str, batches: list[Batch]) -> None:
        metadata = (("x-fleetwatch-agent-id", agent_id), ("authorization", f"Bearer {secret}"))
        call = calls[number % channels]
        for batch in batches:
            while True:
                delay = 0.0
                async with in_flight:
                    try:
                        raw = await call(
                            batch.raw, metadata=metadata, timeout=120, compression=grpc.Compression.Gzip
                        )
                    except grpc.aio.AioRpcError as exc:
                        if exc.code() not in retryable:
                            raise
                        stats.retries += 1
                        stats.retry_codes[exc.code().name] = stats.retry_codes.get(exc.code().name, 0) + 1
                        delay = max(0.05, _retry_after(exc))
                    else:
                        stats.pushes += 1
                        stats.reports += batch.reports
                        if pb.PushResponse.FromString(raw).acked_seq != batch.last_seq:
                            stats.bad_acks += 1
                        break
                await asyncio.sleep(delay)

    try:
        await asyncio.gather(*(agent(n, *item) for n, item in enumerate(work)))
    finally:
        for channel in opened:
            await channel.close()
    return stats


def generator(
    number: int,
    address: str,
    agents: list[tuple[int, str, str]],
    args: dict[str, int],
    now_ms: int,
    start: Any,
    results: Any,
) -> None:
    """A load-generator process: builds its agents' backlogs, waits for ``start``, drains them."""
    try:
        built = time.perf_counter()
        batches = backlogs([i for i, _, _ in agents], args["agents"], args["reports"], args["batch"], now_ms)
        work = [(agent_id, secret, b) for (_, agent_id, secret), b in zip(agents, batches, strict=True)]
        results.put(("ready", number, time.perf_counter() - built))
        start.wait()
        cpu = psutil.Process().cpu_times()
        began = time.perf_counter()
        stats = asyncio.run(drain(address, work, args["concurrency"], args["channels"]))
        stats.seconds = time.perf_counter() - began
        after = psutil.Process().cpu_times()
        stats.cpu_seconds = after.user + after.system - cpu.user - cpu.system
        results.put(("done", number, stats))
    except BaseException as exc:
        results.put(("error", number, repr(exc)))
        raise
