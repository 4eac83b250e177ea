"""Benchmark: a collector drains one hour of backlog from 4,130 agents at once (after an outage).

Starts a real collector process on loopback (generous per-agent rate limits, so the drain is not
throttled; max_pending_pushes at its default), enrols the agents with in-process Enroll calls
(any-site token), builds for each agent a backlog of 240 reports (one hour at 15 s: one template
Report per agent made by convert.report, seq and collected_unix_ms changed, each report serialized
once), then pushes every backlog concurrently in batches of 100 (oldest_held_seq = first seq of the
batch, gzip) from two load-generator processes, and measures wall time, reports/s, the collector's
CPU seconds and RSS. Verifies fleetwatch_collector_reports_applied_total == reports sent.
Appends the figures, the machine and the date to benchmarks/RESULTS.md.

`--profile` instead runs the collector's Push handler in-process under cProfile over prebuilt
requests (decode, validate, apply, persist), prints where the time goes, and appends nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import multiprocessing
import pstats
import queue
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
from benchlib import append_results, free_port, section_header, stop

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
PUSH_METHOD = "/fleetwatch.v1.Collector/Push"
TARGET_REPORTS_PER_SECOND = 10_000
INTERVAL_SECONDS = 15
SEED = 11
APPLIED_RE = re.compile(rb"^fleetwatch_collector_reports_applied_total ([0-9.e+]+)$", re.M)
DUPLICATE_RE = re.compile(rb"^fleetwatch_collector_reports_duplicate_total ([0-9.e+]+)$", re.M)
REJECTED_RE = re.compile(rb'^fleetwatch_collector_rejected_total\{reason="([^"]+)"\} ([0-9.e+]+)$', re.M)
RETRY_AFTER_METADATA = "x-fleetwatch-retry-after-ms"


# ---------------------------------------------------------------------------------------------------
# Backlogs: serialized PushRequests built by concatenation, each report serialized once


def varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def push_request_bytes(bodies: list[bytes], oldest_held_seq: int) -> bytes:
    """A serialized PushRequest: field 1 (reports) per body, then field 3 (oldest_held_seq)."""
    parts = [b"\x0a" + varint(len(body)) + body for body in bodies]
    parts.append(b"\x18" + varint(oldest_held_seq))
    return b"".join(parts)


@dataclass(frozen=True)
class Batch:
    raw: bytes
    reports: int
    last_seq: int


def backlogs(
    fleet_indexes: list[int], total_agents: int, reports_per_agent: int, batch: int, now_ms: int
) -> list[list[Batch]]:
    """Per agent, its backlog as batches: one hour (at 15 s) ending now, seq 1..reports_per_agent."""
    from fleetwatch_agent import convert
    from fleetwatch_agent.report import CycleReport, ProbeOutcome
    from fleetwatch_proto.sites import load_inventory
    from fleetwatch_sim.fleet import build_fleet

    fleet = build_fleet(total_agents, SEED, load_inventory())
    first_ms = now_ms - reports_per_agent * INTERVAL_SECONDS * 1000
    result = []
    for index in fleet_indexes:
        agent = fleet[index]
        template = convert.report(
            CycleReport(
                seq=1,
                collected_unix_ms=first_ms,
                interval_seconds=INTERVAL_SECONDS,
                host=agent.host.facts,
                location=agent.location,
                agent_version="bench",
                outcomes=(ProbeOutcome("resources", True, 0.004),),
                results={"resources": agent.host.sample(float(INTERVAL_SECONDS))},
            )
        )
        bodies = []
        for i in range(reports_per_agent):
            template.seq = i + 1
            template.collected_unix_ms = first_ms + i * INTERVAL_SECONDS * 1000
            bodies.append(template.SerializeToString())
        result.append(
            [
                Batch(
                    push_request_bytes(bodies[start : start + batch], start + 1),
                    len(bodies[start : start + batch]),
                    min(start + batch, reports_per_agent),
                )
                for start in range(0, reports_per_agent, batch)
            ]
        )
    return result


# ---------------------------------------------------------------------------------------------------
# Load generators


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


# ---------------------------------------------------------------------------------------------------
# The run


@dataclass
class Measured:
    agents: int = 0
    reports: int = 0
    pushes_expected: int = 0
    enrol_seconds: float = 0.0
    build_seconds: float = 0.0
    wall_seconds: float = 0.0
    collector_cpu: float = 0.0
    rss_after: int = 0
    rss_peak: int = 0
    applied: float = 0.0
    duplicates: float = 0.0
    rejected: dict[str, float] = field(default_factory=dict)
    generators: list[DrainStats] = field(default_factory=list)


def write_config(tmp: Path, grpc_port: int, http_port: int) -> Path:
    config = tmp / "collector.toml"
    config.write_text(
        f"""
[server]
grpc_listen = "127.0.0.1:{grpc_port}"
http_listen = "127.0.0.1:{http_port}"
data_dir = "{tmp / "data"}"

[limits]
# A drain of 3 pushes per agent must not be throttled per agent; load shedding stays at its default.
pushes_per_second_per_agent = 1000.0
push_burst = 1000
"""
    )
    return config


def wait_for_http(url: str, collector: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5):
                return
        except OSError:
            if collector.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("collector did not start") from None
            time.sleep(0.2)


def scrape(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=120) as response:
        body: bytes = response.read()
    return body


async def enrol(address: str, agents: int, token: str) -> list[tuple[int, str, str]]:
    """Enrol every agent of the fleet with Enroll calls; (fleet index, agent id, secret)."""
    from fleetwatch_agent.config import CollectorSection
    from fleetwatch_proto.sites import load_inventory
    from fleetwatch_sim.fleet import build_fleet, enrol_fleet
    from fleetwatch_agent.transport import Transport

    fleet = build_fleet(agents, SEED, load_inventory())
    transport = Transport(CollectorSection(addresses=(address,), timeout_seconds=60.0))
    try:
        identities = await enrol_fleet(fleet, transport, token, {})
    finally:
        await transport.close()
    return [
        (i, identities[a.host.agent_id].agent_id, identities[a.host.agent_id].secret)
        for i, a in enumerate(fleet)
    ]


def measure(args: argparse.Namespace, tmp: Path) -> Measured:
    grpc_port, http_port = free_port(), free_port()
    address = f"127.0.0.1:{grpc_port}"
    url = f"http://127.0.0.1:{http_port}/metrics"
    config = write_config(tmp, grpc_port, http_port)
    token = subprocess.run(
        [BIN / "fleetwatch-collector", "token", "create", "--any-site", "--config", str(config)],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    log = (tmp / "collector.log").open("wb")
    collector = subprocess.Popen(
        [BIN / "fleetwatch-collector", "run", "--config", str(config)], stdout=log, stderr=log
    )
    m = Measured(agents=args.agents, reports=args.agents * args.reports_per_agent)
    m.pushes_expected = args.agents * -(-args.reports_per_agent // args.batch)
    try:
        wait_for_http(url, collector)
        started = time.perf_counter()
        identities = asyncio.run(enrol(address, args.agents, token))
        m.enrol_seconds = time.perf_counter() - started
        m.generators = run_generators(args, address, identities, collector.pid, m)
        body = scrape(url)
        applied, duplicates = APPLIED_RE.search(body), DUPLICATE_RE.search(body)
        m.applied = float(applied.group(1)) if applied else float("nan")
        m.duplicates = float(duplicates.group(1)) if duplicates else float("nan")
        m.rejected = {k.decode(): float(v) for k, v in REJECTED_RE.findall(body)}
    except BaseException:
        log.flush()
        print((tmp / "collector.log").read_text(errors="replace")[-3000:], file=sys.stderr)
        raise
    finally:
        stop(collector, grace=30)
        log.close()
    return m


def run_generators(
    args: argparse.Namespace, address: str, identities: list[tuple[int, str, str]], pid: int, m: Measured
) -> list[DrainStats]:
    context = multiprocessing.get_context("spawn")  # grpc does not survive fork
    start, results = context.Event(), context.Queue()
    shares = [identities[g :: args.generators] for g in range(args.generators)]
    options = {
        "agents": args.agents,
        "reports": args.reports_per_agent,
        "batch": args.batch,
        "concurrency": args.concurrency,
        "channels": args.channels,
    }
    now_ms = int(time.time() * 1000)
    processes = [
        context.Process(target=generator, args=(g, address, share, options, now_ms, start, results))
        for g, share in enumerate(shares)
    ]
    for process in processes:
        process.start()
    try:
        for _ in processes:
            kind, number, value = results.get(timeout=1800)
            if kind != "ready":
                raise SystemExit(f"load generator {number} failed: {value}")
            m.build_seconds = max(m.build_seconds, value)
        collector = psutil.Process(pid)
        cpu = collector.cpu_times()
        began = time.perf_counter()
        start.set()
        stats: list[DrainStats] = []
        while len(stats) < len(processes):
            m.rss_peak = max(m.rss_peak, collector.memory_info().rss)
            try:
                kind, number, value = results.get(timeout=0.25)
            except queue.Empty:
                continue
            if kind != "done":
                raise SystemExit(f"load generator {number} failed: {value}")
            stats.append(value)
        m.wall_seconds = time.perf_counter() - began
        after = collector.cpu_times()
        m.collector_cpu = after.user + after.system - cpu.user - cpu.system
        m.rss_after = collector.memory_info().rss
        m.rss_peak = max(m.rss_peak, m.rss_after)
    finally:
        for process in processes:
            process.join(60)
            if process.is_alive():
                process.kill()
    return stats


def report(args: argparse.Namespace, m: Measured) -> str:
    command = (
        f"python benchmarks/bench_drain.py --agents {args.agents} --reports-per-agent "
        f"{args.reports_per_agent} --batch {args.batch} --concurrency {args.concurrency}"
    )
    rate = m.reports / m.wall_seconds
    pushes = sum(s.pushes for s in m.generators)
    retries = sum(s.retries for s in m.generators)
    codes: dict[str, int] = {}
    for s in m.generators:
        for code, n in s.retry_codes.items():
            codes[code] = codes.get(code, 0) + n
    bad_acks = sum(s.bad_acks for s in m.generators)
    generator_cpu = sum(s.cpu_seconds for s in m.generators)
    complete = pushes == m.pushes_expected and m.applied == m.reports and bad_acks == 0
    verified = "yes" if complete else f"**NO** ({pushes:,} of {m.pushes_expected:,} pushes acknowledged)"
    minutes = args.reports_per_agent * INTERVAL_SECONDS / 60
    retried = f"{retries:,} {codes}" if codes else f"{retries:,}"
    refused = ", ".join(f"{k} {v:,.0f}" for k, v in sorted(m.rejected.items())) or "none"
    rows = [
        *section_header("bench_drain", command),
        f"| backlog | {m.reports:,} reports: {m.agents:,} agents × {args.reports_per_agent} "
        f"({minutes:g} min at {INTERVAL_SECONDS} s), {pushes:,} pushes of ≤ {args.batch} (gzip), "
        f"{args.generators} load generators × {args.concurrency} in flight | |",
        f"| drain wall time | {m.wall_seconds:.1f} s | |",
        f"| reports/s | {rate:,.0f} | ≥ {TARGET_REPORTS_PER_SECOND:,} |",
        f"| collector CPU during the drain | {m.collector_cpu:.1f} s "
        f"({m.collector_cpu / (m.reports / 1000) * 1000:.1f} ms per 1,000 reports) | |",
        f"| collector RSS after the drain (peak) | {m.rss_after / 2**20:.0f} MiB "
        f"({m.rss_peak / 2**20:.0f} MiB) | < 150 MiB |",
        f"| reports_applied_total / duplicates | {m.applied:,.0f} / {m.duplicates:,.0f} "
        f"(every ack == last seq of its batch: {'yes' if bad_acks == 0 else f'no, {bad_acks} wrong'}) "
        f"| {m.reports:,} / 0 |",
        f"| pushes refused and retried | {retried} (rejected_total: {refused}) | |",
        f"| load generators' CPU | {generator_cpu:.1f} s | |",
        f"| enrolment of {m.agents:,} agents (Enroll calls) | {m.enrol_seconds:.1f} s | |",
        "",
        f"Verified: {verified}.",
        "",
    ]
    return "\n".join(rows) + "\n"


# ---------------------------------------------------------------------------------------------------
# In-process profile of the Push handler


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


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--agents", type=int, default=4130)
    parser.add_argument(
        "--reports-per-agent", type=int, default=240, help="backlog per agent (240: 1 h at 15 s)"
    )
    parser.add_argument("--batch", type=int, default=100, help="reports per Push")
    parser.add_argument("--results", type=Path, default=HERE / "RESULTS.md")
    parser.add_argument("--generators", type=int, default=2, help="load-generator processes")
    parser.add_argument("--concurrency", type=int, default=64, help="pushes in flight per load generator")
    parser.add_argument("--channels", type=int, default=2, help="gRPC channels per load generator")
    parser.add_argument("--profile", action="store_true", help="profile the Push handler in-process instead")
    parser.add_argument("--top", type=int, default=30, help="functions listed by --profile")
    args = parser.parse_args()
    if args.profile:
        return profile(args)

    with tempfile.TemporaryDirectory() as tmp:
        measured = measure(args, Path(tmp))
    text = report(args, measured)
    print(text)
    append_results(args.results, text)
    return 0 if measured.applied == measured.reports else 1


if __name__ == "__main__":
    sys.exit(main())
