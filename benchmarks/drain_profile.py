"""`bench_drain.py --profile`: the Push handler in-process over prebuilt requests, by stage and cProfile."""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import pstats
import tempfile
import time
from pathlib import Path
from typing import Any

from drain_backlog import Batch, backlogs


class _Context:
    """The parts of a grpc.aio.ServicerContext the Push handler uses."""

    def set_trailing_metadata(self, metadata: object) -> None:
        pass

    async def abort(self, code: object, details: str) -> None:
        raise RuntimeError(f"push refused: {code} {details}")


def time_stages(work: list[tuple[str, Batch]], total: int, limits: Any, db: Path) -> None:
    """Each stage of a Push alone, one push at a time; save is one transaction per push here."""
    from fleetwatch_collector.fleet import FleetState
    from fleetwatch_collector.store import Store
    from fleetwatch_collector.validate import validate_push
    from fleetwatch_proto.v1 import fleetwatch_pb2 as pb

    store = Store(db)
    fleet = FleetState()
    stage: dict[str, float] = dict.fromkeys(("decode", "validate", "apply", "snapshot", "save"), 0.0)
    now_ms = int(time.time() * 1000)
    for agent_id, batch in work:
        t0 = time.perf_counter()
        request = pb.PushRequest.FromString(batch.raw)
        t1 = time.perf_counter()
        validate_push(request, now_ms, limits)
        t2 = time.perf_counter()
        fleet.apply(agent_id, request.reports, request.oldest_held_seq, None)
        t3 = time.perf_counter()
        snapshot = fleet.snapshot(agent_id)
        t4 = time.perf_counter()
        store.save_agents([snapshot])
        t5 = time.perf_counter()
        for name, seconds in zip(stage, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4), strict=True):
            stage[name] += seconds
    store.close()
    spent = sum(stage.values())
    print("\nstages, one push at a time (save: one transaction per push, no group commit):")
    for name, seconds in stage.items():
        share = seconds / spent
        print(f"  {name:9s} {seconds:7.2f} s  {seconds / total * 1e6:6.1f} µs/report  {share:5.1%}")
    print(f"  {'total':9s} {spent:7.2f} s  -> {total / spent:,.0f} reports/s on one core")


def profile_handler(
    work: list[tuple[str, Batch]], limits: Any, db: Path, concurrency: int
) -> tuple[cProfile.Profile, float]:
    """The real handler, group commit included, under cProfile (the writer thread is not profiled)."""
    from fleetwatch_collector.agentstate import SiteLabels
    from fleetwatch_collector.auth import Identity, current_identity
    from fleetwatch_collector.fleet import FleetState
    from fleetwatch_collector.persist import Persister
    from fleetwatch_collector.selfmetrics import CollectorMetrics
    from fleetwatch_collector.service import CollectorService
    from fleetwatch_collector.store import Store

    store = Store(db)
    persister = Persister(store)
    service = CollectorService(FleetState(), CollectorMetrics(), limits, store, persister)
    site = SiteLabels("xa-my-phong", "tp-my-tho", "commune")

    async def run_all() -> None:
        in_flight = asyncio.Semaphore(concurrency)

        async def one(agent_id: str, raw: bytes) -> None:
            async with in_flight:
                current_identity.set(Identity(agent_id, site))
                await service.push(raw, _Context())  # type: ignore[arg-type]

        # gather runs each in its own task, with its own copy of the context (current_identity).
        await asyncio.gather(*(one(a, b.raw) for a, b in work))

    profiler = cProfile.Profile()
    began = time.perf_counter()
    profiler.enable()
    asyncio.run(run_all())
    profiler.disable()
    elapsed = time.perf_counter() - began
    persister.close()
    store.close()
    return profiler, elapsed


def profile(args: argparse.Namespace) -> int:
    """Run the Push path in-process over prebuilt requests: stage times, then cProfile of the handler."""
    from fleetwatch_collector.validate import Limits

    now_ms = int(time.time() * 1000)
    batches = backlogs(list(range(args.agents)), args.agents, args.reports_per_agent, args.batch, now_ms)
    work = [(f"a-{i:06d}", b) for i, agent in enumerate(batches) for b in agent]
    total = sum(b.reports for _, b in work)
    print(f"{len(work):,} prebuilt pushes, {total:,} reports")
    limits = Limits(pushes_per_second_per_agent=1000.0, push_burst=1000)
    with tempfile.TemporaryDirectory() as tmp:
        time_stages(work, total, limits, Path(tmp) / "stages.sqlite")
        profiler, elapsed = profile_handler(work, limits, Path(tmp) / "collector.sqlite", args.concurrency)
    rate = total / elapsed
    print(f"\nCollectorService.push in-process, cProfile on: {elapsed:.1f} s, {rate:,.0f} reports/s")
    for order in ("tottime", "cumulative"):
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats(order).print_stats(args.top)
        print(out.getvalue())
    return 0
