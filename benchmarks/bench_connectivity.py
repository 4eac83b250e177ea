"""Benchmark: how long one connectivity cycle takes when the network fails, beside the agent's interval."""
# Builds the namespace lab of tests/e2e/deadline_lab.py (agent <-> router <-> server, 20 targets behind the
# router: 5 ICMP, 5 TCP, 5 DNS servers (one of them the host's resolver), 5 web servers by name through that
# resolver beyond the router) and runs the probe's collect() in the agent namespace every ``--interval``
# seconds, the way the agent does (in a thread; the runner would give up at ``timeout_seconds``):
#
# - "uplink dead": the router drops everything it forwards; all 20 targets time out.
# - "10 of 20 dead, traceroute on": half the targets are dropped; their paths are diagnosed.
#
# ``--code DIR`` runs another checkout's agent package too (e.g. ``git archive HEAD agent proto | tar -x -C
# /tmp/before``), for a before/after comparison. Needs root (network namespaces). Appends the figures, the
# machine and the date to benchmarks/RESULTS.md.

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

from benchlib import append_results, section_header

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # the lab of the end-to-end tests

from tests.e2e.deadline_lab import DEAD, LIVE, TargetsLab, address_of  # noqa: E402
from tests.e2e.support import ProcessGroup  # noqa: E402
from tests.integration import netns  # noqa: E402

KINDS = ("icmp", "tcp", "dns", "http")

# Runs in the agent namespace: ``cycles`` collections ``interval`` apart, each in a daemon thread
# waited for at most ``wait`` seconds; prints one JSON line per cycle.
CHILD = """
import dataclasses, json, os, sys, threading, time
from pathlib import Path
os.environ.pop("FLEETWATCH_LOOPBACK_ONLY", None)
code, targets, options, cycles, interval, wait = json.loads(sys.argv[1])
sys.path[:0] = code
from fleetwatch_agent.probes.connectivity import ConnectivityConfig
from fleetwatch_agent.probes.connectivity.collect import make_collector
from fleetwatch_agent.probes.connectivity.targets import TargetConfig
from fleetwatch_agent.probes.context import ProbeContext
known = {f.name for f in dataclasses.fields(ConnectivityConfig)}
options = {k: v for k, v in options.items() if k in known}
config = ConnectivityConfig(targets=tuple(TargetConfig(*t) for t in targets), **options)
collect = make_collector(config, ProbeContext(Path(".")))
start = time.monotonic()
for cycle in range(cycles):
    time.sleep(max(0.0, start + cycle * interval - time.monotonic()))
    box = []
    began = time.monotonic()
    thread = threading.Thread(target=lambda: box.append(collect()), daemon=True)
    thread.start()
    thread.join(wait)
    took = time.monotonic() - began
    result = box[0] if box else None
    row = {"cycle": cycle + 1, "seconds": took, "finished": result is not None}
    if result is not None:
        row["targets"] = len(result.targets)
        row["down"] = sum(not s.result.success for s in result.targets)
        row["paths"] = sum(s.path is not None for s in result.targets)
        row["with_hop"] = sum(s.path is not None and s.path.hops > 0 for s in result.targets)
    print(json.dumps(row), flush=True)
"""


def targets(dead: int) -> list[tuple[str, str, str]]:
    """Five targets of each kind (dns-1, the resolver, is a DNS one); the first ``dead`` are dropped."""
    chosen = []
    for n in range(1, 21):
        kind = KINDS[(n - 1) // 5]
        if n == 11:  # the fifth DNS server is dns-1
            continue
        network = DEAD if n <= dead else LIVE
        chosen.append(
            (f"{kind}-{n}", kind, address_of(kind, network, n, named=kind == "http" and network == LIVE))
        )
    return chosen


def run(
    lab: TargetsLab,
    code: list[str],
    chosen: list[tuple[str, str, str]],
    args: argparse.Namespace,
    **options: Any,
) -> list[dict[str, Any]]:
    options = {"gateway": False, "collector": False, "dns_name": "portal.lab", **options}
    payload = json.dumps([code, chosen, options, args.cycles, args.interval, args.wait])
    timeout = args.cycles * args.interval + args.wait + 60
    result = lab.network.run("agent", sys.executable, "-c", CHILD, payload, timeout=timeout)
    return [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]


def describe(rows: list[dict[str, Any]], interval: float) -> str:
    seconds = [r["seconds"] for r in rows]
    unfinished = sum(not r["finished"] for r in rows)
    text = f"{statistics.median(seconds):.2f} s median, {max(seconds):.2f} s max (interval {interval:g} s)"
    return text + (f"; {unfinished} of {len(rows)} never returned" if unfinished else "")


def reported(rows: list[dict[str, Any]]) -> str:
    return ", ".join(f"{r.get('targets', 0)} ({r.get('down', 0)} down)" for r in rows)


def carried(rows: list[dict[str, Any]]) -> str:
    return ", ".join(f"{r.get('paths', 0)} ({r.get('with_hop', 0)})" for r in rows)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cycles", type=int, default=3)
    parser.add_argument("--interval", type=float, default=15.0, help="the agent's interval (default 15 s)")
    parser.add_argument("--wait", type=float, default=60.0, help="give up on a cycle after this long")
    parser.add_argument("--code", type=Path, action="append", default=[], help="another checkout to run too")
    parser.add_argument("--results", type=Path, default=HERE / "RESULTS.md")
    args = parser.parse_args()
    netns.require_netns()
    checkouts = [("this tree", [])] + [(str(d), [str(d / "agent"), str(d / "proto")]) for d in args.code]
    lines = section_header(
        "bench_connectivity", "python benchmarks/" + " ".join([Path(__file__).name, *sys.argv[1:]])
    )
    for label, code in checkouts:
        with tempfile.TemporaryDirectory() as tmp, netns.Network(("agent", "router", "server")) as network:
            lab = TargetsLab(network, ProcessGroup(Path(tmp) / "logs"), Path(tmp), False)
            lab.build()
            lab.uplink_dies()
            dead = run(lab, code, targets(0), args, traceroute=False)
            print(label, "uplink dead", dead, flush=True)
            lab.uplink_returns()
            half = run(lab, code, targets(10), args, traceroute=True)
            print(label, "10 of 20 dead", half, flush=True)
        within, interval = f"< {args.interval:g} s", args.interval
        lines += [
            f"| {label}: cycle, 20 of 20 timing out (uplink dead) | {describe(dead, interval)} | {within} |",
            f"| {label}: targets reported per cycle | {reported(dead)} | 20 (20 down) |",
            f"| {label}: cycle, 10 of 20 timing out, traceroute on | {describe(half, interval)} | {within} |",
            f"| {label}: paths carried per cycle (with a hop) | {carried(half)} | 10 (10) in the 2nd |",
        ]
    append_results(args.results, "\n" + "\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
