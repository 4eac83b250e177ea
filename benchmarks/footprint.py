"""What a running process costs: RSS, PSS and USS, CPU by thread, the mappings that hold its memory.

Used by ``bench_agent_rss.py --footprint`` for the agent, node_exporter and the stack floor side by
side. Linux only (/proc/PID/smaps_rollup, /proc/PID/task).
"""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MIB = 2**20
TICK = os.sysconf("SC_CLK_TCK")
# Threads of gRPC's C core (its event engine's pool, the pool's lifeguard, the timer manager).
GRPC_THREADS = ("event_engine", "lifeguard", "grpc_global_tim")
_MAPPING = re.compile(r"^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$")


def memory(pid: int) -> tuple[int, int, int]:
    """RSS, PSS and USS (pages of this process only) in bytes, from /proc/PID/smaps_rollup."""
    fields: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        name, value, *_ = line.split()
        fields[name.rstrip(":")] = int(value) * 1024
    return fields["Rss"], fields["Pss"], fields["Private_Clean"] + fields["Private_Dirty"]


def process_clock(pid: int) -> int:
    """The clock id of another process's CPU time (clock_getcpuclockid(3): all its threads, the ended
    ones included, in nanoseconds; Linux's CPUCLOCK_SCHED of the process)."""
    return ((~pid) << 3) | 2


def cpu_seconds(pid: int) -> float:
    """CPU time of the process, its ended threads included (not its children), to the nanosecond;
    utime + stime in clock ticks (10 ms) where the process clock cannot be read."""
    try:
        return time.clock_gettime(process_clock(pid))
    except OSError:
        parts = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(parts[11]) + int(parts[12])) / TICK


def thread_cpu(pid: int) -> dict[int, tuple[str, float]]:
    """Each living thread's name and CPU time (/proc/PID/task/TID/schedstat, nanoseconds), by thread id."""
    threads: dict[int, tuple[str, float]] = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            name = Path(f"/proc/{pid}/task/{tid}/comm").read_text().strip()
            ran = int(Path(f"/proc/{pid}/task/{tid}/schedstat").read_text().split()[0])
        except OSError:  # ended meanwhile
            continue
        threads[int(tid)] = (name, ran / 1e9)
    return threads


def mappings(pid: int, top: int = 8) -> list[tuple[str, int, int]]:
    """The mappings holding the most resident memory: (name, RSS bytes, anonymous bytes)."""
    totals: dict[str, list[int]] = {}
    current = "[anon]"
    for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        found = _MAPPING.match(line)
        if found:
            name = found.group(1)
            current = Path(name).name if name.startswith("/") else name or "[anon]"
            totals.setdefault(current, [0, 0])
        elif line.startswith("Rss:"):
            totals[current][0] += int(line.split()[1]) * 1024
        elif line.startswith("Anonymous:"):
            totals[current][1] += int(line.split()[1]) * 1024
    ranked = sorted(totals.items(), key=lambda item: -item[1][0])[:top]
    return [(name, rss, anon) for name, (rss, anon) in ranked]


@dataclass
class Watched:
    """One process under measurement: memory samples, and CPU over the measured window."""

    label: str
    pid: int
    rss: list[int] = field(default_factory=list)
    pss: list[int] = field(default_factory=list)
    uss: list[int] = field(default_factory=list)
    threads: list[int] = field(default_factory=list)
    cpu_start: float = 0.0
    cpu_end: float = 0.0
    threads_start: dict[int, tuple[str, float]] = field(default_factory=dict)
    threads_end: dict[int, tuple[str, float]] = field(default_factory=dict)
    cycles: float = 0.0  # reports made (agents) or scrapes answered (node_exporter) in the window

    def start(self) -> None:
        self.cpu_start, self.threads_start = cpu_seconds(self.pid), thread_cpu(self.pid)

    def end(self) -> None:
        self.cpu_end, self.threads_end = cpu_seconds(self.pid), thread_cpu(self.pid)

    def sample(self) -> None:
        rss, pss, uss = memory(self.pid)
        self.rss.append(rss)
        self.pss.append(pss)
        self.uss.append(uss)
        self.threads.append(len(os.listdir(f"/proc/{self.pid}/task")))

    def median_mib(self, values: list[int]) -> float:
        return statistics.median(values) / MIB

    @property
    def cpu_ms_per_cycle(self) -> float:
        return (self.cpu_end - self.cpu_start) * 1000 / self.cycles if self.cycles else float("nan")

    def cpu_by_group(self) -> dict[str, float]:
        """CPU ms per cycle of gRPC's threads, of the other living threads, and of threads that ended
        in the window (the probes' and the host facts' daemon threads)."""
        groups = {"grpc": 0.0, "other": 0.0}
        for tid, (name, seconds) in self.threads_end.items():
            before = self.threads_start.get(tid, (name, 0.0))[1]
            groups["grpc" if name.startswith(GRPC_THREADS) else "other"] += seconds - before
        ended = (self.cpu_end - self.cpu_start) - sum(groups.values())
        groups["ended"] = max(0.0, ended)
        return {name: seconds * 1000 / self.cycles for name, seconds in groups.items()} if self.cycles else {}


def _spread(values: list[int]) -> str:
    return f"{min(values) / MIB:.1f}–{max(values) / MIB:.1f}"


def _row(figure: str, agent: str, node: str, ratio: str, target: str = "") -> str:
    return f"| {figure} | {agent} | {node} | {ratio} | {target} |"


def comparison(agent: Watched, node: Watched, rss_target_mib: float, cpu_target_ms: float) -> list[str]:
    """The table of the agent beside node_exporter, with the ratio of each figure."""
    rows = [
        "| figure | agent | node_exporter | agent / node_exporter | target |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name, a, n, target in (
        ("RSS", agent.rss, node.rss, f"≤ {rss_target_mib:g} MiB"),
        ("PSS", agent.pss, node.pss, ""),
        ("USS", agent.uss, node.uss, ""),
    ):
        ma, mn = agent.median_mib(a), node.median_mib(n)
        rows.append(
            _row(f"{name}, median (min–max)", f"{ma:.1f} MiB ({_spread(a)})", f"{mn:.1f} MiB ({_spread(n)})",
                 f"× {ma / mn:.1f}", target)
        )  # fmt: skip
    ca, cn = agent.cpu_ms_per_cycle, node.cpu_ms_per_cycle
    rows.append(
        _row("CPU per cycle (agent: per resources cycle, one report each; node_exporter: per scrape)",
             f"{ca:.2f} ms", f"{cn:.2f} ms",
             f"× {ca / cn:.1f}", f"≤ {cpu_target_ms:g} ms")
    )  # fmt: skip
    threads = [f"{statistics.median(w.threads):.0f}" for w in (agent, node)]
    rows.append(_row("threads, median", threads[0], threads[1], ""))
    rows.append(_row("cycles measured", f"{agent.cycles:.0f} reports", f"{node.cycles:.0f} scrapes", ""))
    return rows


def others(processes: list[Watched]) -> list[str]:
    """One row per other process of the run (the stack floor, agents of other checkouts)."""
    rows = [
        "| process | RSS | PSS | USS | CPU per cycle | threads |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for p in processes:
        memory = " | ".join(f"{p.median_mib(values):.1f} MiB" for values in (p.rss, p.pss, p.uss))
        rows.append(
            f"| {p.label} | {memory} | {p.cpu_ms_per_cycle:.2f} ms | {statistics.median(p.threads):.0f} |"
        )
    return rows


def mapping_rows(top: list[tuple[str, int, int]]) -> list[str]:
    rows = ["| mapping | RSS | of which anonymous |", "| --- | --- | --- |"]
    rows += [f"| `{name}` | {rss / MIB:.1f} MiB | {anon / MIB:.1f} MiB |" for name, rss, anon in top]
    return rows


def profile_rows(profile: dict[str, Any]) -> list[str]:
    """Python memory by package and by module, and the slowest imports, from agent_profile.py."""
    by_size = sorted(profile["by_group"].items(), key=lambda group: -group[1])
    groups = ", ".join(f"{name} {size / MIB:.2f} MiB" for name, size in by_size)
    rows = [
        f"Python memory of the run path (`agent_profile.py`, tracemalloc; imports and one cycle of "
        f"{', '.join(profile['probes'])}): {profile['traced_bytes'] / MIB:.1f} MiB traced, "
        f"{profile['modules']} modules; allocated by the imports of each package: {groups}.",
        "",
        "| module (its own import, not the modules it imports) | KiB |",
        "| --- | --- |",
    ]
    rows += [f"| `{name}` | {size / 1024:.0f} |" for name, size in profile["top_modules"]]
    rows += ["", "| allocation site (tracemalloc, by file) | KiB |", "| --- | --- |"]
    rows += [f"| `{name}` | {size / 1024:.0f} |" for name, size in profile["top_sites"]]
    rows += ["", "| import (`python -X importtime`, the run path) | cumulative ms | own ms |"]
    rows += ["| --- | --- | --- |"]
    rows += [f"| `{name}` | {total:.1f} | {own:.1f} |" for name, total, own in profile["import_times"]]
    return rows


def measure(
    watched: list[Watched], processes: list[subprocess.Popen[bytes]], seconds: float, every: float = 5.0
) -> None:
    """Memory of every process every ``every`` seconds for ``seconds``; CPU at both ends."""
    for w in watched:
        w.start()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for w, process in zip(watched, processes, strict=True):
            if process.poll() is not None:
                raise SystemExit(f"bench_agent_rss: {w.label} exited")
            w.sample()
        time.sleep(every)
    for w in watched:
        w.end()


def by_thread(process: Watched) -> str:
    groups = process.cpu_by_group()
    return (
        f"| {process.label} | " + " | ".join(f"{groups[g]:.2f} ms" for g in ("grpc", "other", "ended")) + " |"
    )
