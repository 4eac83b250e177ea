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
import multiprocessing
import queue
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import psutil
from benchlib import append_results, free_port, section_header, stop
from drain_backlog import INTERVAL_SECONDS, SEED
from drain_load import DrainStats, generator
from drain_profile import profile

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
TARGET_REPORTS_PER_SECOND = 10_000
APPLIED_RE = re.compile(rb"^fleetwatch_collector_reports_applied_total ([0-9.e+]+)$", re.M)
DUPLICATE_RE = re.compile(rb"^fleetwatch_collector_reports_duplicate_total ([0-9.e+]+)$", re.M)
REJECTED_RE = re.compile(rb'^fleetwatch_collector_rejected_total\{reason="([^"]+)"\} ([0-9.e+]+)$', re.M)


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
    from fleetwatch_agent.transport import Transport
    from fleetwatch_proto.sites import load_inventory
    from fleetwatch_sim.fleet import build_fleet, enrol_fleet

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
