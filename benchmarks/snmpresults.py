"""bench_snmp's figures: one side's cycle, a run's cycles, and the RESULTS.md section summing them up."""

from __future__ import annotations

import math
import statistics
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from benchlib import machine, utc_now

INTERVAL_SECONDS = 60.0  # the polling interval the CPU share is given for
TARGET_CYCLE_SECONDS = 15.0
TARGET_CORE_SHARE = 0.30


@dataclass(frozen=True)
class Shape:
    """A simulated router: interfaces, those fleetwatch reports, variables one whole poll reads."""

    interfaces: int
    reported: int
    varbinds: int
    scalars: int
    columns: int


@dataclass
class Cycle:
    """One poll of every router by one side."""

    wall: float
    cpu: float
    sim_cpu: float
    machine_busy: float  # share of all cores busy during the cycle
    complete: int  # routers read entirely
    varbinds: int
    device_seconds: list[float]
    failures: Counter[str]

    def line(self, side: str, concurrency: int, devices: int) -> str:
        return (
            f"{side:>13} c={concurrency:<3} {self.wall:6.2f} s, CPU {self.cpu:6.2f} s, "
            f"complete {self.complete}/{devices}, simulators' CPU {self.sim_cpu:5.1f} s, "
            f"machine busy {self.machine_busy:.0%}"
            + (f"; failures: {dict(self.failures)}" if self.failures else "")
        )


@dataclass
class Run:
    """Every measured cycle, by side and concurrency, and the profile's summary."""

    fleetwatch: dict[int, list[Cycle]]
    exporter: dict[int, list[Cycle]]
    profile: str = ""


def _median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def _micro(seconds_e6: float) -> str:
    return "n/a" if math.isnan(seconds_e6) else f"{seconds_e6:.0f} µs"


def _ratio(a: float, b: float) -> str:
    return f"×{a / b:.2f}" if b > 0 and not math.isnan(a) else "n/a"


def report(
    run: Run, devices: int, cycles: int, shape: Shape, simulators: str, command: str, load: str
) -> str:
    """The RESULTS.md section of one run; ``simulators`` says what served the routers."""
    lines = [
        f"## bench_snmp — {utc_now()}",
        "",
        f"Machine: {machine()}; load average at the start {load}",
        f"Command: `{command}`",
        "",
        f"{devices} routers × {shape.interfaces} interfaces served by {simulators}; each poll reads "
        f"{shape.varbinds} varbinds ({shape.scalars} scalars: system group and ifNumber; "
        f"{shape.columns} IF-MIB columns × {shape.interfaces}), of which fleetwatch reports "
        f"{shape.reported} interfaces (its default interface filter), {cycles} measured cycle(s) per side "
        "and concurrency, alternating. fleetwatch: `Poller(max_concurrent=c).poll_many`, CPU of the polling "
        "process; snmp_exporter: c scrapes in flight, CPU of the exporter process. The simulators' CPU "
        "counts for neither.",
        "",
        "| figure | fleetwatch Poller | snmp_exporter 0.21 | fleetwatch / exporter | target |",
        "| --- | --- | --- | --- | --- |",
    ]
    for c in run.fleetwatch:
        fw, ex = run.fleetwatch[c], run.exporter[c]
        wall = [_median([x.wall for x in side]) for side in (fw, ex)]
        spread = [f"{min(x.wall for x in side):.1f}–{max(x.wall for x in side):.1f}" for side in (fw, ex)]
        cpu = [_median([x.cpu for x in side]) for side in (fw, ex)]
        whole = [[x for x in side if x.complete == devices] for side in (fw, ex)]  # no failed poll
        per_varbind = [_median([x.cpu / x.varbinds for x in side]) * 1e6 for side in whole]
        device = [_median([s for x in side for s in x.device_seconds]) * 1e3 for side in (fw, ex)]
        slowest = [max(s for x in side for s in x.device_seconds) for side in (fw, ex)]
        complete = [min(x.complete for x in side) for side in (fw, ex)]
        sims = [_median([x.sim_cpu for x in side]) for side in (fw, ex)]
        busy = [_median([x.machine_busy for x in side]) for side in (fw, ex)]
        share = [seconds / INTERVAL_SECONDS for seconds in cpu]
        lines += [
            f"| c={c}: cycle time, median (min–max) | {wall[0]:.2f} s ({spread[0]}) "
            f"| {wall[1]:.2f} s ({spread[1]}) | {_ratio(wall[0], wall[1])} | < {TARGET_CYCLE_SECONDS:g} s |",
            f"| c={c}: CPU per cycle, median (share of one core at a {INTERVAL_SECONDS:g} s interval) "
            f"| {cpu[0]:.2f} s ({share[0]:.1%}) | {cpu[1]:.2f} s ({share[1]:.1%}) | {_ratio(cpu[0], cpu[1])} "
            f"| < {TARGET_CORE_SHARE:.0%} |",
            f"| c={c}: CPU per varbind, median of the cycles without a failed poll ({len(whole[0])}, "
            f"{len(whole[1])}) | {_micro(per_varbind[0])} | {_micro(per_varbind[1])} "
            f"| {_ratio(per_varbind[0], per_varbind[1])} | |",
            f"| c={c}: one router's poll, median (slowest) | {device[0]:.0f} ms ({slowest[0]:.1f} s) "
            f"| {device[1]:.0f} ms ({slowest[1]:.1f} s) | {_ratio(device[0], device[1])} | |",
            f"| c={c}: routers read entirely, worst cycle | {complete[0]}/{devices} "
            f"| {complete[1]}/{devices} | | {devices} |",
            f"| c={c}: simulators' CPU per cycle; machine busy (all cores) | {sims[0]:.1f} s; {busy[0]:.0%} "
            f"| {sims[1]:.1f} s; {busy[1]:.0%} | | |",
        ]
        failures = [sum((x.failures for x in side), Counter()) for side in (fw, ex)]
        if any(failures):
            text = [", ".join(f"{n} × {reason}" for reason, n in f.most_common()) or "none" for f in failures]
            lines.append(f"| c={c}: failed polls, all cycles | {text[0]} | {text[1]} | | none |")
    lines += ["", f"Profile of fleetwatch's poll ({run.profile})" if run.profile else "", ""]
    return "\n".join(lines) + "\n"
