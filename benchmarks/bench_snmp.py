"""Benchmark: a central SNMP poll of 200 simulated routers, fleetwatch's Poller beside snmp_exporter.

Starts snmpsim processes serving 200 routers of 24 interfaces (benchmarks/snmpfleet.py) and
Debian's prometheus-snmp-exporter (0.21) with an snmp.yml reading the same OIDs. Then, for each
concurrency, alternates cycles: fleetwatch's Poller polls every router with ``poll_many`` (in
this process, whose CPU time is the poller's), and the exporter is scraped once per router
(``/snmp?target=...&module=...``, as many in flight; its CPU from /proc/<pid>/stat). Ends with
one profiled fleetwatch cycle. Appends the figures, the machine and the date to
benchmarks/RESULTS.md (not with ``--quick``, a smoke run of 10 routers and one cycle).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import math
import os
import pstats
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import snmpfleet
from benchlib import append_results, free_port, machine, stop, utc_now

from fleetwatch_snmp.credentials import Credential
from fleetwatch_snmp.poller import Poller
from fleetwatch_snmp.target import DEFAULT_EXCLUDED_TYPES, DeviceTarget

HERE = Path(__file__).resolve().parent
EXPORTER = "/usr/bin/prometheus-snmp-exporter"
MODULE = "if_mib_numeric"
INTERVAL_SECONDS = 60.0  # the polling interval the CPU share is given for
TARGET_CYCLE_SECONDS = 15.0
TARGET_CORE_SHARE = 0.30
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PDUS_RE = re.compile(rb"^snmp_scrape_pdus_returned ([0-9.e+]+)$", re.M)
SCRAPE_RE = re.compile(rb"^snmp_scrape_duration_seconds ([0-9.e+-]+)$", re.M)
VARBINDS_PER_DEVICE = len(snmpfleet.POLLED_SCALARS) + len(snmpfleet.POLLED_COLUMNS) * snmpfleet.INTERFACES


def process_cpu(pid: int) -> float:
    """utime + stime of a process, in seconds (/proc/<pid>/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def machine_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot (/proc/stat), all cores."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:9]]
    total = sum(values) / CLOCK_TICKS
    return total - (values[3] + values[4]) / CLOCK_TICKS, total


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


class Meter:
    """Wall, simulators' CPU and machine CPU around a cycle; the side's own CPU comes from ``cpu``."""

    def __init__(self, cpu: Callable[[], float], sim_pids: Sequence[int]) -> None:
        self._cpu, self._sim_pids = cpu, sim_pids

    def __enter__(self) -> Meter:
        self._start = (time.perf_counter(), self._cpu(), self._sims(), *machine_busy())
        return self

    def __exit__(self, *_exc: object) -> None:
        wall, cpu, sims, busy, total = self._start
        now_busy, now_total = machine_busy()
        self.wall, self.cpu, self.sim_cpu = time.perf_counter() - wall, self._cpu() - cpu, self._sims() - sims
        self.busy = (now_busy - busy) / max(now_total - total, 1e-9)

    def _sims(self) -> float:
        return sum(process_cpu(pid) for pid in self._sim_pids)

    def cycle(
        self, complete: int, varbinds: int, device_seconds: list[float], failures: Counter[str]
    ) -> Cycle:
        return Cycle(
            self.wall, self.cpu, self.sim_cpu, self.busy, complete, varbinds, device_seconds, failures
        )


async def fleetwatch_cycle(poller: Poller, targets: list[DeviceTarget], sim_pids: Sequence[int]) -> Cycle:
    expected = snmpfleet.reported_interfaces(DEFAULT_EXCLUDED_TYPES)
    with Meter(time.process_time, sim_pids) as meter:
        devices = await poller.poll_many(targets)
    failures = Counter(
        d.error or f"{len(d.interfaces)} interfaces"
        for d in devices
        if d.error or len(d.interfaces) != expected
    )
    complete = len(devices) - sum(failures.values())
    seconds = [d.poll_duration_seconds for d in devices]
    return meter.cycle(complete, VARBINDS_PER_DEVICE * complete, seconds, failures)


def scrape(url: str) -> bytes:
    """The body of a 200 answer; b"" when the exporter answers an error (a failed SNMP walk: HTTP 500)."""
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            body: bytes = response.read()
    except urllib.error.HTTPError:
        return b""
    return body


def exporter_cycle(pool: ThreadPoolExecutor, urls: list[str], pid: int, sim_pids: Sequence[int]) -> Cycle:
    with Meter(lambda: process_cpu(pid), sim_pids) as meter:
        bodies = list(pool.map(scrape, urls))
    pdus = [int(float(m.group(1))) if (m := PDUS_RE.search(body)) else 0 for body in bodies]
    seconds = [float(m.group(1)) if (m := SCRAPE_RE.search(body)) else float("nan") for body in bodies]
    failures = Counter(f"{n} varbinds" if n else "HTTP error" for n in pdus if n != VARBINDS_PER_DEVICE)
    return meter.cycle(len(urls) - sum(failures.values()), sum(pdus), seconds, failures)


def start_exporter(config: Path, port: int) -> subprocess.Popen[bytes]:
    command = [
        EXPORTER,
        f"--config.file={config}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--log.level=error",
    ]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while True:
        try:
            scrape(f"http://127.0.0.1:{port}/")
            return process
        except OSError:  # not listening yet
            if process.poll() is not None or time.monotonic() > deadline:
                stop(process)
                raise SystemExit(
                    f"{EXPORTER} did not start (check: {EXPORTER} --config.file={config} --dry-run)"
                ) from None
            time.sleep(0.2)


def _where(filename: str, line: int, name: str) -> str:
    """A profiled function as ``package-folder/file.py:line name`` (a builtin: its name)."""
    return name if filename == "~" else f"{Path(filename).parent.name}/{Path(filename).name}:{line} {name}"


def profile_cycle(runner: asyncio.Runner, poller: Poller, targets: list[DeviceTarget]) -> tuple[str, str]:
    """One fleetwatch cycle under cProfile: (own time by package, the top functions), and the full table."""
    profile = cProfile.Profile()
    profile.enable()
    runner.run(poller.poll_many(targets))
    profile.disable()
    stats = pstats.Stats(profile)
    table = io.StringIO()
    pstats.Stats(profile, stream=table).sort_stats("tottime").print_stats(25)
    entries = stats.stats  # type: ignore[attr-defined]
    total = sum(entry[2] for entry in entries.values()) or 1.0
    packages: dict[str, float] = {}
    for (filename, _line, _name), entry in entries.items():
        match = re.search(r"(pyasn1|pysnmp|fleetwatch_snmp|fleetwatch_proto|asyncio)[/\\]", filename)
        package = match.group(1) if match else "builtins" if filename == "~" else "other"
        packages[package] = packages.get(package, 0.0) + entry[2]
    shares = ", ".join(
        f"{name} {seconds / total:.0%}" for name, seconds in sorted(packages.items(), key=lambda i: -i[1])
    )
    top = sorted(entries.items(), key=lambda item: -item[1][2])[:6]
    functions = "; ".join(f"`{_where(*key)}` {entry[2] / total:.0%}" for key, entry in top)
    return f"own time by package: {shares}. Top functions by own time: {functions}", table.getvalue()


@dataclass
class Run:
    """Every measured cycle, by side and concurrency, and the profile's summary."""

    fleetwatch: dict[int, list[Cycle]]
    exporter: dict[int, list[Cycle]]
    profile: str = ""


class Sides:
    """The two pollers of the same routers: fleetwatch's (one Poller per concurrency) and the exporter."""

    def __init__(
        self, runner: asyncio.Runner, fleet: snmpfleet.SimFleet, exporter_pid: int, port: int
    ) -> None:
        names = sorted(fleet.ports)
        self.runner, self.exporter_pid, self.sims = runner, exporter_pid, fleet.pids()
        self.urls = [
            f"http://127.0.0.1:{port}/snmp?target={fleet.address(n)}&module={MODULE}_{n}" for n in names
        ]
        self.targets = [
            DeviceTarget(n, fleet.address(n), Credential(f"c-{n}", "2c", community=n)) for n in names
        ]
        self.pollers: dict[int, Poller] = {}

    def poller(self, concurrency: int) -> Poller:
        if concurrency not in self.pollers:
            self.pollers[concurrency] = Poller(concurrency)
        return self.pollers[concurrency]

    def fleetwatch(self, concurrency: int) -> Cycle:
        return self.runner.run(fleetwatch_cycle(self.poller(concurrency), self.targets, self.sims))

    def exporter(self, concurrency: int) -> Cycle:
        with ThreadPoolExecutor(concurrency) as pool:
            return exporter_cycle(pool, self.urls, self.exporter_pid, self.sims)

    def close(self) -> None:
        for poller in self.pollers.values():
            poller.close()


def alternate(args: argparse.Namespace, sides: Sides) -> Run:
    """A warm-up cycle of each side, then ``args.cycles`` of each per concurrency, alternating who starts."""
    run = Run({c: [] for c in args.concurrency}, {c: [] for c in args.concurrency})
    devices = len(sides.targets)
    first = args.concurrency[0]
    print(sides.fleetwatch(first).line("warm-up: fleetwatch", first, devices))
    print(sides.exporter(first).line("warm-up: snmp_exporter", first, devices))
    for c in args.concurrency:
        for i in range(args.cycles):
            for side in ("fleetwatch", "snmp_exporter")[:: 1 if i % 2 == 0 else -1]:
                if side == "fleetwatch":
                    cycle = sides.fleetwatch(c)
                    run.fleetwatch[c].append(cycle)
                else:
                    cycle = sides.exporter(c)
                    run.exporter[c].append(cycle)
                print(cycle.line(side, c, devices))
    if not args.no_profile:
        profiled = 32 if 32 in args.concurrency else first
        run.profile, table = profile_cycle(sides.runner, sides.poller(profiled), sides.targets)
        run.profile = f"one cycle at c={profiled}: " + run.profile
        print(table)
    return run


def measure(args: argparse.Namespace, workdir: Path) -> Run:
    with snmpfleet.running_fleet(workdir, args.devices, args.sim_processes, moving=not args.static) as fleet:
        config = workdir / "snmp.yml"
        config.write_text(snmpfleet.exporter_config(sorted(fleet.ports), MODULE))
        port = free_port()
        exporter = start_exporter(config, port)
        try:
            with asyncio.Runner() as runner:
                sides = Sides(runner, fleet, exporter.pid, port)
                try:
                    return alternate(args, sides)
                finally:
                    sides.close()
        finally:
            stop(exporter)


def _median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def _micro(seconds_e6: float) -> str:
    return "n/a" if math.isnan(seconds_e6) else f"{seconds_e6:.0f} µs"


def _ratio(a: float, b: float) -> str:
    return f"×{a / b:.2f}" if b > 0 and not math.isnan(a) else "n/a"


def report(args: argparse.Namespace, run: Run, command: str, load: str) -> str:
    """The RESULTS.md section of one run."""
    moving = (
        "static counters"
        if args.static
        else "octet and packet counters and sysUpTime moving: snmpsim's `numeric` variation"
    )
    lines = [
        f"## bench_snmp — {utc_now()}",
        "",
        f"Machine: {machine()}; load average at the start {load}",
        f"Command: `{command}`",
        "",
        f"{args.devices} routers × {snmpfleet.INTERFACES} interfaces served by {args.sim_processes} "
        f"snmpsim processes ({moving}); each poll reads {VARBINDS_PER_DEVICE} varbinds (4 system scalars, "
        f"20 IF-MIB columns × {snmpfleet.INTERFACES}), {args.cycles} measured cycle(s) per side and "
        "concurrency, alternating. fleetwatch: `Poller(max_concurrent=c).poll_many`, CPU of the polling "
        "process; snmp_exporter: c scrapes in flight, CPU of the exporter process. The simulators' CPU "
        "counts for neither.",
        "",
        "| figure | fleetwatch Poller | snmp_exporter 0.21 | fleetwatch / exporter | target |",
        "| --- | --- | --- | --- | --- |",
    ]
    for c in args.concurrency:
        fw, ex = run.fleetwatch[c], run.exporter[c]
        wall = [_median([x.wall for x in side]) for side in (fw, ex)]
        spread = [f"{min(x.wall for x in side):.1f}–{max(x.wall for x in side):.1f}" for side in (fw, ex)]
        cpu = [_median([x.cpu for x in side]) for side in (fw, ex)]
        whole = [[x for x in side if x.complete == args.devices] for side in (fw, ex)]  # no failed poll
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
            f"| c={c}: routers read entirely, worst cycle | {complete[0]}/{args.devices} "
            f"| {complete[1]}/{args.devices} | | {args.devices} |",
            f"| c={c}: simulators' CPU per cycle; machine busy (all cores) | {sims[0]:.1f} s; {busy[0]:.0%} "
            f"| {sims[1]:.1f} s; {busy[1]:.0%} | | |",
        ]
        failures = [sum((x.failures for x in side), Counter()) for side in (fw, ex)]
        if any(failures):
            text = [", ".join(f"{n} × {reason}" for reason, n in f.most_common()) or "none" for f in failures]
            lines.append(f"| c={c}: failed polls, all cycles | {text[0]} | {text[1]} | | none |")
    lines += ["", f"Profile of fleetwatch's poll ({run.profile})" if run.profile else "", ""]
    return "\n".join(lines) + "\n"


def concurrency_list(text: str) -> list[int]:
    values = [int(part) for part in text.split(",") if part.strip()]
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: positive integers separated by commas expected")
    return values


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--devices", type=int, default=200)
    parser.add_argument("--sim-processes", type=int, default=8, help="snmpsim processes serving the routers")
    parser.add_argument("--concurrency", type=concurrency_list, default=[8, 16, 32], help="e.g. 8,16,32")
    parser.add_argument("--cycles", type=int, default=5, help="measured cycles per side and concurrency")
    parser.add_argument("--static", action="store_true", help="static counters (no snmpsim variation)")
    parser.add_argument("--no-profile", action="store_true", help="skip the profiled fleetwatch cycle")
    parser.add_argument("--quick", action="store_true", help="smoke run: 10 routers, one cycle, no results")
    parser.add_argument("--results", type=Path, default=HERE / "RESULTS.md")
    args = parser.parse_args()
    if args.quick:
        args.devices, args.cycles, args.concurrency = 10, 1, args.concurrency[:1]
        args.sim_processes = min(args.sim_processes, 2)
    if not os.path.exists(EXPORTER):
        raise SystemExit(f"{EXPORTER} not found (apt-get install prometheus-snmp-exporter)")
    load = "{:.2f} {:.2f} {:.2f}".format(*os.getloadavg())
    command = (
        f"python benchmarks/bench_snmp.py --devices {args.devices} --sim-processes {args.sim_processes} "
        f"--concurrency {','.join(map(str, args.concurrency))} --cycles {args.cycles}"
        + (" --static" if args.static else "")
    )
    with tempfile.TemporaryDirectory(prefix="bench-snmp-") as tmp:
        run = measure(args, Path(tmp))
    text = report(args, run, command, load)
    print(text)
    if not args.quick:
        append_results(args.results, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
