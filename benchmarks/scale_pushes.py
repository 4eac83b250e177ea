"""bench_scale --pushes: single-report Pushes/s of this tree's collector and of a baseline's, alternating."""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from benchlib import section_header
from scale_load import fleet_order
from scale_peers import Generators, Peers, grow

TARGET_PUSHES = 3000


@dataclass
class PushRun:
    rate: float  # Pushes acknowledged per second
    cpu_per_push: float  # collector CPU seconds per Push
    busy: float  # collector cores busy
    generators_cpu: float
    refused: dict[str, int]


def push_run(args: argparse.Namespace, order: list[int], source: Path | None) -> PushRun:
    """One collector (``source``: another package folder, else this tree's): enrol, one fill, one burst."""
    with tempfile.TemporaryDirectory() as tmp:
        peers = Peers(Path(tmp), source=source, pushgateway=False)
        generators: Generators | None = None
        try:
            generators = Generators(args.generators, peers, len(order))
            grow(peers, generators, order, 0, len(order))
            generators.run("fill", 64)
            cpu = peers.cpu(peers.collector)
            stats = generators.run("burst", args.burst_seconds)
            used = peers.cpu(peers.collector) - cpu
        except BaseException:
            print((Path(tmp) / "collector.log").read_text(errors="replace")[-3000:], file=sys.stderr)
            raise
        finally:
            if generators is not None:
                generators.close()
            peers.close()
    return PushRun(
        stats.ok / stats.seconds,
        used / max(1, stats.ok),
        used / stats.seconds,
        stats.cpu_seconds,
        stats.refused,
    )


def pushes(args: argparse.Namespace) -> str:
    """--pushes: single-report Pushes/s of this tree's collector, and of --baseline's, alternating."""
    order = fleet_order(args.pushes_agents)
    sources: list[tuple[str, Path | None]] = [("this tree", None)]
    if args.baseline is not None:
        sources.insert(0, (f"baseline ({args.baseline})", args.baseline))
    runs: dict[str, list[PushRun]] = {label: [] for label, _ in sources}
    for n in range(args.rounds):
        for label, source in sources:
            runs[label].append(push_run(args, order, source))
            last = runs[label][-1]
            print(
                f"round {n + 1} {label}: {last.rate:,.0f} Pushes/s, {last.cpu_per_push * 1e3:.2f} ms",
                file=sys.stderr,
            )
    command = (
        f"python benchmarks/bench_scale.py --pushes --pushes-agents {args.pushes_agents}"
        f" --rounds {args.rounds} --generators {args.generators} --burst-seconds {args.burst_seconds:g}"
        + (f" --baseline {args.baseline}" if args.baseline else "")
    )
    rows = section_header("bench_scale --pushes", command)
    rows[-2] = "| figure | " + " | ".join(label for label, _ in sources) + " | target |"
    rows[-1] = "| --- " * (len(sources) + 2) + "|"

    def row(name: str, make: Callable[[PushRun], str], target: str = "") -> str:
        cells = [", ".join(make(r) for r in runs[label]) for label, _ in sources]
        return f"| {name} | " + " | ".join(cells) + f" | {target} |"

    rows += [
        row("single-report Pushes/s, each round", lambda r: f"{r.rate:,.0f}", f"≥ {TARGET_PUSHES:,}"),
        row("collector CPU per Push", lambda r: f"{r.cpu_per_push * 1e3:.2f} ms"),
        row("collector cores busy", lambda r: f"{r.busy:.2f}"),
        row("load generators' CPU", lambda r: f"{r.generators_cpu:.1f} s"),
        row("refused (code: count)", lambda r: str(r.refused or "none")),
    ]
    if args.baseline is not None:
        base, this = (runs[label] for label, _ in sources)
        speed = statistics.median(t.rate / b.rate for t, b in zip(this, base, strict=True))
        cpu = statistics.median(b.cpu_per_push / t.cpu_per_push for t, b in zip(this, base, strict=True))
        rows += [
            "",
            f"This tree / baseline, median of the rounds: Pushes/s x{speed:.2f}, "
            f"CPU per Push x{cpu:.2f} less.",
        ]
    rows.append("")
    return "\n".join(rows) + "\n"
