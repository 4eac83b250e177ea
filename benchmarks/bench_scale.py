"""Benchmark: the collector at 4,130, 20,000 and 50,000 agents beside a Pushgateway holding the same series.

One run, one collector process and one Debian prometheus-pushgateway (--push.disable-consistency-check,
its persistence file in a temp folder), both on loopback; load-generator processes (scale_load.py)
enrol the simulated agents (Enroll calls) and push their reports (resources, antivirus and
connectivity, one report per Push) over real gRPC. At each size:

- fill: one report per agent as fast as the collector takes them; the first gzip scrape after it
  (which compresses everything once);
- steady: every agent pushes every 60 s (spread over the interval); the collector's CPU over 30 s of
  it, then /metrics plain and gzip (timed to the last byte), size, RSS;
- the Pushgateway gets each agent's series as one group (PUT, the same text the collector exposes),
  then its /metrics plain and gzip, size, RSS.

At 4,130 agents, single-report Pushes/s (several generators, 64 in flight each, collector CPU
measured) against Pushgateway PUTs/s (the same series per push, 8 threads per generator).

`--soak`: 50,000 agents at a 60 s interval for 10 minutes (no fill burst: they start spread over the
interval): all up throughout? how many refusals (RESOURCE_EXHAUSTED, retry hints)? The overloaded
refusals and gzip scrape times are split into the first interval (until every agent has pushed once,
interval + 30 s) and the rest of the run, the steady state the targets are about (scale_soak.py).
`--members N` (with --soak): N collectors of one cluster instead of one (`[cluster] members`, their
loopback gRPC addresses, and one `key_file`), each with its own ports and store; the agents enrol
through the first (their signed secrets hold on every member) and each pushes to its rendezvous home;
every member's /metrics is read at each check, the agents up and the refusals summed over them, the
slowest member's scrape kept, CPU and RSS reported per member.
`--profile`: cProfile of the Push handler and of the exposition in-process (scale_profile.py).
`--gzip`: gzip scrapes in-process while reports arrive at --gzip-agents every 60 s (scale_gzip.py).
`--pushes`: only the single-report Pushes/s at --pushes-agents (no Pushgateway), for this tree's collector
and, with `--baseline DIR` (a folder holding another fleetwatch_collector package, e.g. one exported with
`git archive HEAD collector/fleetwatch_collector | tar -x -C DIR --strip-components=1`), the other one,
alternating for --rounds rounds, each collector with a fresh store: compare their ratio on a noisy machine.
Appends the figures, the machine and the date to benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from benchlib import append_results, section_header
from scale_load import Stats, fleet_order
from scale_peers import Generators, Peers, Timings, grow, scrape

HERE = Path(__file__).resolve().parent
INTERVAL = 60.0
STEADY_CPU_SECONDS = 30.0
TARGET_RATIO = 20
TARGET_SECONDS_50K = 1.0
TARGET_BYTES_PER_AGENT = 20 * 1024
TARGET_PUSHES = 3000


@dataclass
class Stage:
    agents: int
    enrol_seconds: float = 0.0
    fill: Stats = field(default_factory=Stats)
    fill_cpu: float = 0.0
    first_gzip: float = 0.0
    steady_cores: float = 0.0
    plain: Timings = field(default_factory=Timings)
    gzip: Timings = field(default_factory=Timings)
    rss: int = 0
    up: float = 0.0
    steady: Stats = field(default_factory=Stats)
    gateway_fill: Stats = field(default_factory=Stats)
    gateway_plain: Timings = field(default_factory=Timings)
    gateway_gzip: Timings = field(default_factory=Timings)
    gateway_rss: int = 0
    series: int = 0
    gateway_series: int = 0
    reasons: dict[str, int] = field(default_factory=dict)  # refusals in the collector's log so far


@dataclass
class Rates:
    pushes: Stats = field(default_factory=Stats)
    collector_cpu: float = 0.0
    puts: Stats = field(default_factory=Stats)
    gateway_cpu: float = 0.0


def measure_stage(args: argparse.Namespace, peers: Peers, generators: Generators, stage: Stage) -> None:
    cpu = peers.cpu(peers.collector)
    stage.fill = generators.run("fill", 64)
    stage.fill_cpu = peers.cpu(peers.collector) - cpu
    stage.first_gzip = scrape(peers.metrics_url, True).seconds
    generators.send("steady", [INTERVAL] * len(generators.processes))
    time.sleep(5)
    cpu, began = peers.cpu(peers.collector), time.perf_counter()
    time.sleep(STEADY_CPU_SECONDS)
    stage.steady_cores = (peers.cpu(peers.collector) - cpu) / (time.perf_counter() - began)
    for n in range(args.scrapes):
        stage.gzip.scrapes.append(scrape(peers.metrics_url, True, decompress=True))
        if n < max(2, args.scrapes // 2):
            plain = scrape(peers.metrics_url, False)
            stage.plain.scrapes.append(plain)
            stage.series, stage.up = plain.series, plain.value("agents", "state", "up")
        time.sleep(1)
    stage.rss = peers.rss(peers.collector)
    generators.stop.set()
    stage.steady = generators.gather()
    stage.reasons = peers.refusals()
    generators.stop.clear()
    stage.gateway_fill = generators.run("pushgateway_fill", None)
    for _ in range(1 if stage.agents > 20000 else 2):
        stage.gateway_plain.scrapes.append(scrape(peers.pushgateway_url + "/metrics", False))
        stage.gateway_gzip.scrapes.append(scrape(peers.pushgateway_url + "/metrics", True))
    stage.gateway_series = stage.gateway_plain.scrapes[-1].series
    stage.gateway_rss = peers.rss(peers.pushgateway)


def measure_rates(args: argparse.Namespace, peers: Peers, generators: Generators) -> Rates:
    rates = Rates()
    cpu = peers.cpu(peers.collector)
    rates.pushes = generators.run("burst", args.burst_seconds)
    rates.collector_cpu = peers.cpu(peers.collector) - cpu
    cpu = peers.cpu(peers.pushgateway)
    rates.puts = generators.run("pushgateway_burst", args.burst_seconds)
    rates.gateway_cpu = peers.cpu(peers.pushgateway) - cpu
    return rates


def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.0f} ms" if seconds < 10 else f"{seconds:,.1f} s"


def mb(size: float) -> str:
    return f"{size / 1e6:,.1f} MB"


def per_agent(s: Stage) -> str:
    return f"{s.plain.size / s.agents / 1024:.1f} / {s.gzip.size / s.agents / 1024:.2f} KiB"


def fill(s: Stage) -> str:
    return f"{s.fill.ok / s.fill.seconds:,.0f} ({s.fill_cpu / max(1, s.fill.ok) * 1e3:.2f} ms)"


def ratio(s: Stage) -> str:
    gzip = s.gateway_gzip.median / s.gzip.median
    return f"x{gzip:,.0f} (plain x{s.gateway_plain.median / s.plain.median:,.1f})"


STAGE_ROWS: list[tuple[str, Callable[[Stage], str], str]] = [
    ("enrolment (Enroll calls)", lambda s: f"{s.enrol_seconds:.0f} s", ""),
    ("fill: one report per agent, Pushes/s (collector CPU per Push)", fill, ""),
    ("first gzip scrape after the fill (compresses all)", lambda s: ms(s.first_gzip), ""),
    (
        f"collector CPU, every agent pushing every {INTERVAL:.0f} s",
        lambda s: f"{s.steady_cores:.2f} cores",
        "",
    ),
    ("agents up (collector)", lambda s: f"{s.up:,.0f}", ""),
    ("host series (collector / Pushgateway)", lambda s: f"{s.series:,} / {s.gateway_series:,}", ""),
    (
        "collector /metrics gzip, median / worst",
        lambda s: f"{ms(s.gzip.median)} / {ms(s.gzip.worst)}",
        f"< {TARGET_SECONDS_50K:g} s at 50,000",
    ),
    ("collector /metrics plain, median / worst", lambda s: f"{ms(s.plain.median)} / {ms(s.plain.worst)}", ""),
    (
        "of which the collector's render (its own gauge), gzip / plain",
        lambda s: f"{ms(s.gzip.render)} / {ms(s.plain.render)}",
        "",
    ),
    ("collector /metrics size, plain / gzip", lambda s: f"{mb(s.plain.size)} / {mb(s.gzip.size)}", ""),
    ("per agent, plain / gzip", per_agent, f"< {TARGET_BYTES_PER_AGENT // 1024} KiB"),
    (
        "collector RSS (per agent)",
        lambda s: f"{s.rss / 2**20:,.0f} MiB ({s.rss / s.agents / 1024:.1f} KiB)",
        "",
    ),
    (
        "Pushgateway /metrics gzip / plain",
        lambda s: f"{ms(s.gateway_gzip.median)} / {ms(s.gateway_plain.median)}",
        "",
    ),
    (
        "Pushgateway /metrics size, plain / gzip",
        lambda s: f"{mb(s.gateway_plain.size)} / {mb(s.gateway_gzip.size)}",
        "",
    ),
    ("Pushgateway RSS", lambda s: f"{s.gateway_rss / 2**20:,.0f} MiB", ""),
    ("Pushgateway /metrics time / collector's (gzip)", ratio, f"≥ x{TARGET_RATIO} at 4,130"),
    ("Pushgateway fill, PUTs/s", lambda s: f"{s.gateway_fill.ok / s.gateway_fill.seconds:,.0f}", ""),
    ("refusals while steady (code: count)", lambda s: str(s.steady.refused or "none"), ""),
    ("refusals in the collector's log so far, by reason", lambda s: str(s.reasons or "none"), ""),
]


def report(args: argparse.Namespace, stages: list[Stage], rates: Rates) -> str:
    command = f"python benchmarks/bench_scale.py --agents {' '.join(str(s.agents) for s in stages)}"
    head = section_header("bench_scale", command)
    head[-2] = "| figure | " + " | ".join(f"{s.agents:,} agents" for s in stages) + " | target |"
    head[-1] = "| --- " * (len(stages) + 2) + "|"
    rows = [
        f"| {label} | " + " | ".join(make(s) for s in stages) + f" | {target} |"
        for label, make, target in STAGE_ROWS
    ]
    pushes = rates.pushes.ok / rates.pushes.seconds
    puts = rates.puts.ok / rates.puts.seconds
    push_cpu = rates.collector_cpu / max(1, rates.pushes.ok) * 1e3
    busy = rates.collector_cpu / rates.pushes.seconds
    rows += [
        "",
        f"At {stages[0].agents:,} agents, {args.generators} load generators, {args.burst_seconds:g} s each:",
        "",
        "| figure | value | target |",
        "| --- | --- | --- |",
        f"| collector: single-report Pushes/s | {pushes:,.0f} | ≥ {TARGET_PUSHES:,} |",
        f"| collector CPU per Push (cores busy) | {push_cpu:.2f} ms ({busy:.2f}) | |",
        f"| refused (code: count) | {rates.pushes.refused or 'none'} | |",
        f"| load generators' CPU | {rates.pushes.cpu_seconds:.1f} s | |",
        f"| Pushgateway: PUTs/s, same series per push | {puts:,.0f} | |",
        f"| Pushgateway CPU per PUT | {rates.gateway_cpu / max(1, rates.puts.ok) * 1e3:.2f} ms | |",
        f"| collector Pushes/s / Pushgateway PUTs/s | x{pushes / puts:.1f} | |",
        "",
    ]
    return "\n".join([*head, *rows]) + "\n"


def run(args: argparse.Namespace) -> str:
    stages = [Stage(n) for n in args.agents]
    with tempfile.TemporaryDirectory() as tmp:
        peers = Peers(Path(tmp))
        generators: Generators | None = None
        try:
            order = fleet_order(max(args.agents))
            generators = Generators(args.generators, peers, len(order))
            done = 0
            rates = Rates()
            for stage in stages:
                stage.enrol_seconds = grow(peers, generators, order, done, stage.agents)
                done = stage.agents
                measure_stage(args, peers, generators, stage)
                print(f"{stage.agents:,} agents measured", file=sys.stderr)
                if stage is stages[0]:
                    rates = measure_rates(args, peers, generators)
        except BaseException:
            print((Path(tmp) / "collector.log").read_text(errors="replace")[-3000:], file=sys.stderr)
            raise
        finally:
            if generators is not None:
                generators.close()
            peers.close()
    return report(args, stages, rates)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--agents", type=int, nargs="+", default=[4130, 20000, 50000])
    parser.add_argument("--generators", type=int, default=3, help="load-generator processes")
    parser.add_argument("--scrapes", type=int, default=6, help="gzip scrapes per size (half as many plain)")
    parser.add_argument("--burst-seconds", type=float, default=20.0)
    parser.add_argument("--soak", action="store_true", help="the 10-minute soak instead")
    parser.add_argument("--soak-agents", type=int, default=50000)
    parser.add_argument("--soak-minutes", type=float, default=10.0)
    parser.add_argument("--members", type=int, default=1, help="--soak: collectors of one cluster")
    parser.add_argument("--profile", action="store_true", help="cProfile of ingest and exposition instead")
    parser.add_argument("--profile-agents", type=int, default=4130)
    parser.add_argument("--gzip", action="store_true", help="in-process gzip scrapes under reports instead")
    parser.add_argument("--gzip-agents", type=int, default=50000)
    parser.add_argument("--gzip-seconds", type=float, default=60.0)
    parser.add_argument("--pushes", action="store_true", help="only single-report Pushes/s (see above)")
    parser.add_argument("--pushes-agents", type=int, default=4130)
    parser.add_argument("--baseline", type=Path, help="--pushes: a folder with another fleetwatch_collector")
    parser.add_argument("--rounds", type=int, default=2, help="--pushes: rounds per collector")
    parser.add_argument("--results", type=Path, default=HERE / "RESULTS.md")
    args = parser.parse_args()
    if args.members < 1 or (args.members > 1 and not args.soak):
        parser.error("--members: a positive count, above 1 only with --soak")
    if args.profile:
        from scale_profile import profile

        text = profile(args.profile_agents)
    elif args.soak:
        from scale_soak import soak

        text = soak(args, INTERVAL)
    elif args.gzip:
        from scale_gzip import gzip_section

        text = gzip_section(args.gzip_agents, INTERVAL, args.gzip_seconds)
    elif args.pushes:
        from scale_pushes import pushes

        text = pushes(args)
    else:
        text = run(args)
    print(text)
    append_results(args.results, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
