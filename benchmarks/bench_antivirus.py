"""Benchmark: CPU time of one antivirus probe collection on Linux, against a real clamd.

Builds an EICAR signature database with sigtool, starts clamd on it (unix socket), and runs the
probe's collect() many times as the agent does (cursors committed after each collection). Every
``--scan-every`` collections an EICAR file is scanned through clamd, outside the timed region, so
detections are parsed from clamd's log too. ``time.process_time`` counts this process only:
clamd's own work (VERSION replies, scans) runs in its process and is not included.
Appends the figures, the machine and the date to benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import psutil
from benchlib import append_results, section_header

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # tests.integration.clamav: the same clamd the tests use

from fleetwatch_agent.probes.antivirus import AntivirusConfig, make_collector  # noqa: E402
from fleetwatch_agent.probes.antivirus._linux import clamd_version, clamonacc_running, read_databases  # noqa: E402
from fleetwatch_agent.probes.context import ProbeContext  # noqa: E402
from tests.integration.clamav import DETECTED_AS, build_database, running_clamd, wait_for_log, write_eicar  # noqa: E402

TARGET_MS = 20.0


def p90(values: list[float]) -> float:
    return sorted(values)[int(0.9 * (len(values) - 1))]


def cpu_ms(function: Callable[[], object], runs: int) -> list[float]:
    """CPU milliseconds of each of ``runs`` calls."""
    times = []
    for _ in range(runs):
        started = time.process_time()
        function()
        times.append((time.process_time() - started) * 1e3)
    return times


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--scan-every", type=int, default=20, help="scan EICAR before every Nth collection")
    parser.add_argument("--results", type=Path, default=HERE / "RESULTS.md")
    args = parser.parse_args()
    missing = [name for name in ("clamd", "sigtool") if shutil.which(name) is None]
    if missing:
        print(f"bench_antivirus: {', '.join(missing)} not found (apt-get install clamav clamav-daemon)")
        return 2

    with tempfile.TemporaryDirectory(prefix="fw-bench-av-") as tmp_dir:
        tmp = Path(tmp_dir)
        db = tmp / "db"
        build_database(db)
        with running_clamd(db, log_path=tmp / "clamd.log") as clamd:
            config = AntivirusConfig(
                clamav_database_dir=str(db),
                clamd_socket=str(clamd.socket_path),
                clamd_log=str(clamd.log_path),
                freshclam_log=str(tmp / "freshclam.log"),
            )
            committed: dict[str, str] = {}
            collect = make_collector(config, ProbeContext(tmp, cursors=committed))
            for _ in range(5):  # warm-up: imports, first cursor, page cache
                committed.update(collect().cursors)
            cpu: list[float] = []
            wall: list[float] = []
            scans = detections = 0
            states: set[str] = set()
            for i in range(args.runs):
                if args.scan_every and i % args.scan_every == 0:
                    path = write_eicar(tmp / f"eicar-{i}.com")
                    clamd.scan(path)
                    wait_for_log(clamd.log_path, f"{path}: {DETECTED_AS} FOUND")
                    scans += 1
                started_cpu, started_wall = time.process_time(), time.perf_counter()
                result = collect()
                cpu.append((time.process_time() - started_cpu) * 1e3)
                wall.append((time.perf_counter() - started_wall) * 1e3)
                committed.update(result.cursors)
                detections += len(result.detections)
                states.add(result.host_state)
            processes = len(psutil.pids())
            parts = {
                "/proc scan for clamonacc": cpu_ms(clamonacc_running, args.runs),
                "clamd VERSION round trip": cpu_ms(lambda: clamd_version(str(clamd.socket_path)), args.runs),
                "database headers": cpu_ms(lambda: read_databases(db), args.runs),
            }

    command = f"python benchmarks/bench_antivirus.py --runs {args.runs} --scan-every {args.scan_every}"
    rows = [
        *section_header("bench_antivirus", command),
        f"| CPU per collect (ClamAV, real clamd), median / p90 "
        f"| {statistics.median(cpu):.2f} ms / {p90(cpu):.2f} ms | < {TARGET_MS:g} ms |",
        f"| wall time per collect, median / p90 | {statistics.median(wall):.2f} ms / {p90(wall):.2f} ms | |",
        *(f"| of which {name}, median CPU | {statistics.median(t):.2f} ms | |" for name, t in parts.items()),
        f"| processes on the machine (the /proc scan reads each) | {processes} | |",
        f"| detections reported / EICAR scans | {detections} / {scans} | equal |",
        f"| host states seen | {', '.join(sorted(states))} | protected |",
        "",
    ]
    text = "\n".join(rows) + "\n"
    print(text)
    append_results(args.results, text)
    ok = detections == scans and states == {"protected"} and statistics.median(cpu) < TARGET_MS
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
