"""bench_scale --soak: every agent every interval for minutes against one collector or a cluster's members."""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from benchlib import section_header
from scale_load import Stats, fleet_order
from scale_peers import Check, Generators, Peers, grow

CHECK_SECONDS = 30.0  # between two looks at every member's /metrics
OVERLOADED = ("rejected_total", "reason", "overloaded")


@dataclass
class Soak:
    """What one soak saw. ``checks``: (seconds since the steady phase began, every member's /metrics);
    ``last``: the members' /metrics once the generators stopped; per member: CPU cores, RSS max."""

    agents: int
    members: int
    interval: float
    minutes: float
    enrol_seconds: float = 0.0
    checks: list[tuple[float, Check]] = field(default_factory=list)
    last: Check = field(default_factory=lambda: Check([]))
    stats: Stats = field(default_factory=Stats)
    cores: list[float] = field(default_factory=list)
    rss: list[int] = field(default_factory=list)
    reasons: dict[str, int] = field(default_factory=dict)  # refusals in the members' logs

    @property
    def boundary(self) -> float:
        """The end of the first interval: every agent has pushed once (it starts at a phase of its own
        within the interval), and a check's worth more."""
        return self.interval + CHECK_SECONDS

    def first(self) -> list[Check]:
        """The checks of the first interval (the members meet every agent: first contacts)."""
        return [check for seconds, check in self.checks if seconds <= self.boundary]

    def after(self) -> list[Check]:
        """The checks after the first interval: the steady state the targets are about."""
        return [check for seconds, check in self.checks if seconds > self.boundary]

    def overloaded(self) -> tuple[float, float]:
        """The members' overloaded refusals (summed) in the first interval and after it: their counters
        at the first check after the boundary, and at the end less that."""
        end = self.last.total(*OVERLOADED)
        after = self.after()
        at_boundary = after[0].total(*OVERLOADED) if after else end
        return at_boundary, end - at_boundary


def run_soak(args: argparse.Namespace, interval: float) -> Soak:
    """Enrol ``args.soak_agents`` through the first member, every agent pushing to its home every
    ``interval`` for ``args.soak_minutes`` after the first interval; every member looked at every 30 s."""
    soak = Soak(args.soak_agents, args.members, interval, args.soak_minutes)
    with tempfile.TemporaryDirectory() as tmp:
        peers = Peers(Path(tmp), members=args.members)
        generators: Generators | None = None
        try:
            order = fleet_order(args.soak_agents)
            generators = Generators(args.generators, peers, len(order))
            soak.enrol_seconds = grow(peers, generators, order, 0, args.soak_agents)
            generators.send("steady", [interval] * len(generators.processes))
            processes = [member.process for member in peers.members]
            cpu, began = [peers.cpu(p) for p in processes], time.monotonic()
            soak.rss = [0] * len(processes)
            while time.monotonic() - began < interval + args.soak_minutes * 60:
                time.sleep(CHECK_SECONDS)
                check = peers.check()
                soak.checks.append((time.monotonic() - began, check))
                times = " / ".join(ms(scrape.seconds) for scrape in check.scrapes)
                print(f"check at {soak.checks[-1][0]:.0f} s: gzip {times}", file=sys.stderr, flush=True)
                soak.rss = [max(rss, peers.rss(p)) for rss, p in zip(soak.rss, processes, strict=True)]
            seconds = time.monotonic() - began
            soak.cores = [(peers.cpu(p) - c) / seconds for p, c in zip(processes, cpu, strict=True)]
            generators.stop.set()
            soak.stats = generators.gather()
            soak.last = peers.check()
            soak.reasons = peers.refusals()
        except BaseException:
            print(peers.tails(), file=sys.stderr)
            raise
        finally:
            if generators is not None:
                generators.close()
            peers.close()
    return soak


def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.0f} ms" if seconds < 10 else f"{seconds:,.1f} s"


def latency(checks: list[Check]) -> str:
    """Median / worst over the checks of each check's slowest member."""
    if not checks:
        return "no check"
    worst = [check.worst for check in checks]
    return f"{ms(statistics.median(worst))} / {ms(max(worst))} ({len(worst)} checks)"


def spread(values: list[float], unit: str) -> str:
    return " / ".join(f"{value:,.2f}{unit}" for value in values)


def soak_section(soak: Soak) -> str:
    """The RESULTS.md section of a soak."""
    after = soak.after()
    up = [c.total("agents", "state", "up") for c in after] or [float("nan")]
    down = [c.total("agents", "state", "down") for c in after] or [float("nan")]
    first, later = soak.overloaded()
    stats, agents, n = soak.stats, soak.agents, soak.members
    command = (
        f"python benchmarks/bench_scale.py --soak --soak-agents {agents} --soak-minutes {soak.minutes:g}"
        f" --members {n}"
    )
    summed = " (summed over the members)" if n > 1 else ""
    each = " (each member)" if n > 1 else ""
    members = "1" if n == 1 else f"{n}, each agent pushing to its rendezvous home; enrolled through the first"
    refused = f"{sum(stats.refused.values()):,} {stats.refused or ''}"
    all_up = min(up) == agents and max(down) == 0
    details = "; ".join(f"{code}: {text!r}" for code, text in sorted(stats.details.items()))
    cores = f"{sum(soak.cores):.2f} cores" + (f" ({spread(soak.cores, '')})" if n > 1 else "")
    rss = " / ".join(f"{r / 2**20:,.0f}" for r in soak.rss) + " MiB"
    slowest = " (slowest member)" if n > 1 else ""
    pace = f"every {soak.interval:.0f} s (spread), {soak.minutes:g} min after the first"
    rows = [
        *section_header("bench_scale --soak", command),
        f"| collector members | {members} | |",
        f"| agents | {agents:,}, {pace} | |",
        f"| enrolment (Enroll calls) | {soak.enrol_seconds:.0f} s | |",
        f"| agents up at {len(after)} checks 30 s apart, min / max{summed} | {min(up):,.0f} / {max(up):,.0f} "
        "| all |",
        f"| agents down at a check, max{summed} | {max(down):,.0f} | 0 |",
        f"| Pushes acknowledged / refused | {stats.ok:,} / {refused} | |",
        f"| refusals with a retry hint (overloaded, rate limited) | {stats.retry_after:,} | 0 |",
        f'| collector rejected_total{{reason="overloaded"}}{summed} | {first + later:,.0f} | 0 |',
        f"| of which in the first interval (its first {soak.boundary:.0f} s: every agent's first Push) "
        f"/ after it | {first:,.0f} / {later:,.0f} | - / 0 |",
        f"| refusals in the collector's log, by reason{summed} | {soak.reasons or 'none'} | |",
        f"| pushes more than 10 s late (client side) | {stats.late:,} | |",
        f"| first message of each refusal code (client side) | {details or 'none'} | |",
        f"| refusals by message (client side) | {stats.messages or 'none'} | |",
        f"| load generators' CPU over the soak | {stats.cpu_seconds / stats.seconds:.2f} cores | |",
        f"| collector CPU over the soak{' (all members, each)' if n > 1 else ''} | {cores} | < 1 each |",
        f"| collector RSS, max{each} | {rss} | |",
        f"| /metrics gzip in the first interval, median / worst{slowest} | {latency(soak.first())} | |",
        f"| /metrics gzip after it, median / worst{slowest} | {latency(after)} | < 1 s |",
        "",
        f"All up throughout: {'yes' if all_up else 'NO'}; overloaded refusals: {first + later:,.0f}"
        f" ({first:,.0f} in the first interval, {later:,.0f} after it).",
        "",
    ]
    return "\n".join(rows) + "\n"


def soak(args: argparse.Namespace, interval: float) -> str:
    """--soak: the run and its section."""
    return soak_section(run_soak(args, interval))
