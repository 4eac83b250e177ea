"""Benchmark: a collector fed by 4,130 simulated agents; /metrics render time and collector RSS.

Starts a real collector process and a real `fleetwatch-agent simulate` process on loopback,
waits until every simulated agent is up, then scrapes /metrics repeatedly while the fleet
keeps reporting. Also renders the same fleet in-process through prometheus-client objects,
to record the ratio between the two ways of rendering on the same machine in the same run.
Appends the figures, the machine and the date to benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import psutil

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
UP_RE = re.compile(rb'^fleetwatch_collector_agents\{state="up"\} ([0-9.e+]+)$', re.M)
RENDER_RE = re.compile(rb"^fleetwatch_collector_render_duration_seconds ([0-9.e+-]+)$", re.M)


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def scrape(url: str) -> tuple[bytes, float]:
    started = time.perf_counter()
    with urllib.request.urlopen(url, timeout=30) as response:
        body: bytes = response.read()
    return body, time.perf_counter() - started


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = psutil.virtual_memory().total / 2**30
    return f"{platform.node()}: {cpu}, {os.cpu_count()} cores, {memory:.0f} GiB, Python {platform.python_version()}"


def client_library_ratio(agents: int) -> tuple[float, float, int]:
    """Seconds to render the same fleet from cached text and via prometheus-client objects."""
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.core import GaugeMetricFamily
    from prometheus_client.parser import text_string_to_metric_families

    from fleetwatch_agent import convert
    from fleetwatch_agent.report import CycleReport, ProbeOutcome
    from fleetwatch_agent.simulate.fleet import build_fleet
    from fleetwatch_collector.fleet import FleetState

    fleet = FleetState()
    for n, agent in enumerate(build_fleet(agents, seed=7)):
        cycle = CycleReport(
            seq=1,
            collected_unix_ms=int(time.time() * 1000),
            interval_seconds=15,
            host=agent.host.facts,
            location=agent.location,
            agent_version="bench",
            outcomes=(ProbeOutcome("resources", True, 0.004),),
            results={"resources": agent.host.sample(15.0)},
        )
        fleet.apply(f"{agent.host.agent_id}-{n}", [convert.report(cycle)])
    text, _, _ = fleet.render()
    samples = [
        (family.name, family.type, family.documentation, s)
        for family in text_string_to_metric_families(text)
        for s in family.samples
    ]

    class Replay:
        def collect(self):  # type: ignore[no-untyped-def]
            families: dict[str, GaugeMetricFamily] = {}
            for name, _type, doc, s in samples:
                family = families.get(s.name)
                if family is None:
                    family = families[s.name] = GaugeMetricFamily(s.name, doc, labels=list(s.labels))
                family.add_metric(list(s.labels.values()), s.value)
            yield from families.values()

    registry = CollectorRegistry()
    registry.register(Replay())
    started = time.perf_counter()
    for _ in range(3):
        fleet.render()
    cached = (time.perf_counter() - started) / 3
    started = time.perf_counter()
    generate_latest(registry)
    objects = time.perf_counter() - started
    return cached, objects, len(samples)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--agents", type=int, default=4130)
    parser.add_argument("--interval", type=float, default=15.0, help="simulated report interval")
    parser.add_argument("--scrapes", type=int, default=20)
    parser.add_argument("--results", type=Path, default=HERE / "RESULTS.md")
    args = parser.parse_args()

    grpc_port, http_port = free_port(), free_port()
    url = f"http://127.0.0.1:{http_port}/metrics"
    with tempfile.TemporaryDirectory() as tmp:
        collector = subprocess.Popen(
            [BIN / "fleetwatch-collector", "run", "--grpc-listen", f"127.0.0.1:{grpc_port}",
             "--http-listen", f"127.0.0.1:{http_port}", "--data-dir", tmp],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        fleet = None
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    scrape(url)
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise SystemExit("collector did not start") from None
                    time.sleep(0.2)
            fleet = subprocess.Popen(
                [BIN / "fleetwatch-agent", "simulate", "--collector", f"127.0.0.1:{grpc_port}",
                 "--agents", str(args.agents), "--interval", str(args.interval)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )
            started = time.monotonic()
            up = 0.0
            while up < args.agents:
                if time.monotonic() - started > args.interval * 4 + 60:
                    raise SystemExit(f"only {up:.0f} of {args.agents} agents up")
                time.sleep(1)
                body, _ = scrape(url)
                match = UP_RE.search(body)
                up = float(match.group(1)) if match else 0.0
            fill_seconds = time.monotonic() - started
            client_times, server_times, sizes = [], [], []
            for _ in range(args.scrapes):
                body, seconds = scrape(url)
                client_times.append(seconds)
                match = RENDER_RE.search(body)
                server_times.append(float(match.group(1)) if match else float("nan"))
                sizes.append(len(body))
                time.sleep(0.5)
            series = sum(1 for line in body.splitlines() if line and not line.startswith(b"#"))
            rss = psutil.Process(collector.pid).memory_info().rss
            cpu = psutil.Process(collector.pid).cpu_times()
        finally:
            for proc in (fleet, collector):
                if proc is not None:
                    proc.terminate()
                    try:
                        proc.wait(15)
                    except subprocess.TimeoutExpired:
                        proc.kill()

    cached, objects, object_samples = client_library_ratio(args.agents)
    p50 = statistics.median(client_times)
    p90 = sorted(client_times)[int(0.9 * (len(client_times) - 1))]
    fleet_render = statistics.median(server_times)
    rows = [
        f"## bench_collector — {datetime.datetime.now(datetime.UTC).strftime('%Y-%m-%d %H:%M UTC')}",
        "",
        f"Machine: {machine()}",
        f"Command: `python benchmarks/bench_collector.py --agents {args.agents} --interval {args.interval:g} --scrapes {args.scrapes}`",
        "",
        "| figure | value | target |",
        "| --- | --- | --- |",
        f"| agents up | {up:.0f} (all up {fill_seconds:.0f} s after the fleet started) | {args.agents} |",
        f"| series in /metrics | {series:,} ({statistics.median(sizes) / 1e6:.1f} MB) | |",
        f"| /metrics scrape, client side, median / p90 | {p50 * 1000:.1f} ms / {p90 * 1000:.1f} ms | < 50 ms |",
        f"| fleet render inside the collector, median | {fleet_render * 1000:.1f} ms | |",
        f"| collector RSS with the fleet loaded | {rss / 2**20:.0f} MiB | < 150 MiB |",
        f"| collector CPU while filling and scraping | {cpu.user + cpu.system:.1f} s over {fill_seconds + args.scrapes * 0.5:.0f} s | |",
        f"| in-process: cached-text render vs prometheus-client objects ({object_samples:,} samples) | {cached * 1000:.1f} ms vs {objects * 1000:.0f} ms (x{objects / cached:.0f}) | |",
        "",
    ]
    text = "\n".join(rows) + "\n"
    print(text)
    if not args.results.exists():
        args.results.write_text("# Benchmark results\n\nNewest first is not guaranteed: each run appends.\n\n")
    with args.results.open("a") as handle:
        handle.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
