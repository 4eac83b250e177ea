"""Benchmark: a central SNMP poll of 200 simulated routers, fleetwatch's Poller beside snmp_exporter.

The routers (24 interfaces each, the community of a router is its name) are served by one of:

- ``--sim snmpd`` (the default): net-snmp snmpd processes (benchmarks/snmpdfleet.py), a few ports
  each, in a network namespace of their own (``fwbench-<pid>``) whose interfaces are lo and 23
  veth with UDP traffic moving their counters. snmpd spends 3-6 µs of CPU per varbind, so the cycle
  measures the pollers, not the simulators. Needs root: this process makes the namespace, runs
  itself inside it (``ip netns exec ... --inside``), where the measuring happens, and deletes it at
  the end, also after an error or Ctrl-C.
- ``--sim snmpsim``: snmpsim processes serving `.snmprec` recordings of branch routers
  (benchmarks/snmpfleet.py) on the host's loopback; snmpsim is Python and spends ~0.2 ms of CPU per
  varbind (more than either poller) and answers at most 64 varbinds per GETBULK.

Debian's prometheus-snmp-exporter (0.21) reads the same OIDs through an snmp.yml made for them. For
each concurrency, cycles alternate: fleetwatch's Poller polls every router with ``poll_many`` (in
this process, whose CPU time is the poller's), and the exporter is scraped once per router
(``/snmp?target=...&module=...``, as many in flight; its CPU from /proc/<pid>/stat). Both must read
every router entirely (the poller: the interfaces its default filter keeps, so every row was read;
the exporter: its ``snmp_scrape_pdus_returned``). Ends with one profiled fleetwatch cycle. Appends
the figures, the machine and the date to benchmarks/RESULTS.md (not with ``--quick``, a smoke run of
10 routers and one cycle).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import io
import os
import pstats
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Protocol

import snmpdfleet
import snmpfleet
from benchlib import append_results, free_port, stop
from snmpresults import Cycle, Run, Shape, report

from fleetwatch_snmp.credentials import Credential
from fleetwatch_snmp.poller import Poller
from fleetwatch_snmp.target import DEFAULT_EXCLUDED_TYPES, DeviceTarget

HERE = Path(__file__).resolve().parent
EXPORTER = "/usr/bin/prometheus-snmp-exporter"
MODULE = "if_mib_numeric"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PDUS_RE = re.compile(rb"^snmp_scrape_pdus_returned ([0-9.e+]+)$", re.M)
SCRAPE_RE = re.compile(rb"^snmp_scrape_duration_seconds ([0-9.e+-]+)$", re.M)
SIM_PROCESSES = {"snmpd": 4, "snmpsim": 8}  # default --sim-processes
NAMESPACE_GRACE_SECONDS = 60.0  # for the run inside the namespace to stop its processes


class Fleet(Protocol):
    """Running simulators: where each router answers (name -> port on 127.0.0.1), their processes."""

    ports: dict[str, int]

    def address(self, name: str) -> str: ...

    def pids(self) -> list[int]: ...


def shape(sim: str) -> Shape:
    """Each router's interfaces and the variables a whole poll of it reads, as ``sim`` serves them."""
    module = snmpdfleet if sim == "snmpd" else snmpfleet
    interfaces = module.INTERFACES
    return Shape(
        interfaces,
        module.reported_interfaces(DEFAULT_EXCLUDED_TYPES),
        snmpfleet.varbinds_per_device(interfaces),
        len(snmpfleet.POLLED_SCALARS),
        len(snmpfleet.POLLED_COLUMNS),
    )


def process_cpu(pid: int) -> float:
    """utime + stime of a process, in seconds (/proc/<pid>/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def machine_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot (/proc/stat), all cores."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:9]]
    total = sum(values) / CLOCK_TICKS
    return total - (values[3] + values[4]) / CLOCK_TICKS, total


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


async def fleetwatch_cycle(
    poller: Poller, targets: list[DeviceTarget], sim_pids: Sequence[int], routers: Shape
) -> Cycle:
    """A poll of every target; a router counts as read entirely when every interface the filter keeps is
    reported (each row then was read: it is a walk), its varbinds as those of a whole poll."""
    with Meter(time.process_time, sim_pids) as meter:
        devices = await poller.poll_many(targets)
    failures = Counter(
        d.error or f"{len(d.interfaces)} interfaces"
        for d in devices
        if d.error or len(d.interfaces) != routers.reported
    )
    complete = len(devices) - sum(failures.values())
    seconds = [d.poll_duration_seconds for d in devices]
    return meter.cycle(complete, routers.varbinds * complete, seconds, failures)


def scrape(url: str) -> bytes:
    """The body of a 200 answer; b"" when the exporter answers an error (a failed SNMP walk: HTTP 500)."""
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            body: bytes = response.read()
    except urllib.error.HTTPError:
        return b""
    return body


def exporter_cycle(
    pool: ThreadPoolExecutor, urls: list[str], pid: int, sim_pids: Sequence[int], varbinds: int
) -> Cycle:
    with Meter(lambda: process_cpu(pid), sim_pids) as meter:
        bodies = list(pool.map(scrape, urls))
    pdus = [int(float(m.group(1))) if (m := PDUS_RE.search(body)) else 0 for body in bodies]
    seconds = [float(m.group(1)) if (m := SCRAPE_RE.search(body)) else float("nan") for body in bodies]
    failures = Counter(f"{n} varbinds" if n else "HTTP error" for n in pdus if n != varbinds)
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


class Sides:
    """The two pollers of the same routers: fleetwatch's (one Poller per concurrency) and the exporter."""

    def __init__(
        self, runner: asyncio.Runner, fleet: Fleet, routers: Shape, exporter_pid: int, port: int
    ) -> None:
        names = sorted(fleet.ports)
        self.runner, self.exporter_pid, self.sims, self.routers = runner, exporter_pid, fleet.pids(), routers
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
        return self.runner.run(
            fleetwatch_cycle(self.poller(concurrency), self.targets, self.sims, self.routers)
        )

    def exporter(self, concurrency: int) -> Cycle:
        with ThreadPoolExecutor(concurrency) as pool:
            return exporter_cycle(pool, self.urls, self.exporter_pid, self.sims, self.routers.varbinds)

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


def simulators(args: argparse.Namespace, workdir: Path) -> contextlib.AbstractContextManager[Fleet]:
    if args.sim == "snmpd":
        return snmpdfleet.running_fleet(workdir, args.devices, args.sim_processes)
    return snmpfleet.running_fleet(workdir, args.devices, args.sim_processes, moving=not args.static)


def describe(args: argparse.Namespace) -> str:
    """What served the routers, for the results."""
    if args.sim == "snmpd":
        return snmpdfleet.describe(args.sim_processes, moving=not args.static)
    moving = "static counters" if args.static else "octet and packet counters and sysUpTime moving: "
    return f"{args.sim_processes} snmpsim processes ({moving}snmpsim's `numeric` variation)"


def measure(args: argparse.Namespace, workdir: Path) -> Run:
    with simulators(args, workdir) as fleet:
        config = workdir / "snmp.yml"
        config.write_text(snmpfleet.exporter_config(sorted(fleet.ports), MODULE))
        port = free_port()
        exporter = start_exporter(config, port)
        try:
            with asyncio.Runner() as runner:
                sides = Sides(runner, fleet, shape(args.sim), exporter.pid, port)
                try:
                    return alternate(args, sides)
                finally:
                    sides.close()
        finally:
            stop(exporter)


def concurrency_list(text: str) -> list[int]:
    values = [int(part) for part in text.split(",") if part.strip()]
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: positive integers separated by commas expected")
    return values


def in_namespace(argv: Sequence[str], moving: bool) -> int:
    """This script run with ``argv`` inside a network namespace made for it (``--inside``), then deleted."""
    if os.geteuid() != 0 or shutil.which("ip") is None:
        raise SystemExit("--sim snmpd makes a network namespace: it needs root and ip (iproute2)")
    with snmpdfleet.network(f"fwbench-{os.getpid()}", moving) as lab:
        inner = subprocess.Popen([*lab.prefix(), sys.executable, __file__, "--inside", *argv])
        try:
            return inner.wait()
        except BaseException as exc:  # Ctrl-C reached the inner run too; SIGTERM is passed on
            with contextlib.suppress(subprocess.TimeoutExpired):
                inner.wait(2 if isinstance(exc, KeyboardInterrupt) else 0)
            if inner.poll() is None:
                inner.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                inner.wait(NAMESPACE_GRACE_SECONDS)  # then the namespace's deletion ends what is left
            raise


def _terminated(_signal: int, _frame: object) -> None:
    """SIGTERM as SystemExit, so that the processes started are stopped and the namespace deleted."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise SystemExit(128 + signal.SIGTERM)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sim", choices=("snmpd", "snmpsim"), default="snmpd", help="the routers' simulator")
    parser.add_argument("--devices", type=int, default=200)
    parser.add_argument(
        "--sim-processes", type=int, help="simulator processes serving the routers (snmpd 4, snmpsim 8)"
    )
    parser.add_argument("--concurrency", type=concurrency_list, default=[8, 16, 32], help="e.g. 8,16,32")
    parser.add_argument("--cycles", type=int, default=5, help="measured cycles per side and concurrency")
    parser.add_argument(
        "--static", action="store_true", help="static counters (snmpsim: no variation; snmpd: no traffic)"
    )
    parser.add_argument("--no-profile", action="store_true", help="skip the profiled fleetwatch cycle")
    parser.add_argument("--quick", action="store_true", help="smoke run: 10 routers, one cycle, no results")
    parser.add_argument("--results", type=Path, default=HERE / "RESULTS.md")
    parser.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)  # in the namespace made
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, _terminated)
    if not os.path.exists(EXPORTER):
        raise SystemExit(f"{EXPORTER} not found (apt-get install prometheus-snmp-exporter)")
    if args.sim == "snmpd" and not args.inside:
        return in_namespace(sys.argv[1:], moving=not args.static)
    args.sim_processes = args.sim_processes or SIM_PROCESSES[args.sim]
    if args.quick:
        args.devices, args.cycles, args.concurrency = 10, 1, args.concurrency[:1]
        args.sim_processes = min(args.sim_processes, 2)
    load = "{:.2f} {:.2f} {:.2f}".format(*os.getloadavg())
    command = (
        f"python benchmarks/bench_snmp.py --sim {args.sim} --devices {args.devices} "
        f"--sim-processes {args.sim_processes} --concurrency {','.join(map(str, args.concurrency))} "
        f"--cycles {args.cycles}" + (" --static" if args.static else "")
    )
    with tempfile.TemporaryDirectory(prefix="bench-snmp-") as tmp:
        run = measure(args, Path(tmp))
    text = report(run, args.devices, args.cycles, shape(args.sim), describe(args), command, load)
    print(text)
    if not args.quick:
        append_results(args.results, text)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # everything started was stopped on the way out
        sys.exit(130)
