"""Command line of fleetwatch-agent: run, check, simulate."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import logging
import signal
import sys
from pathlib import Path

from fleetwatch_agent import __version__
from fleetwatch_agent.config import load_config
from fleetwatch_agent.hostfacts import read_host_facts
from fleetwatch_agent.runner import bind_probes, run_cycle
from fleetwatch_agent.tomlconfig import ConfigError

log = logging.getLogger("fleetwatch_agent")
CHECK_WARMUP_SECONDS = 1.0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fleetwatch-agent",
        description="fleetwatch workstation agent: collects host reports and pushes them to the collector.",
    )
    parser.add_argument("--version", action="version", version=f"fleetwatch-agent {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="run the agent until SIGTERM or Ctrl-C")
    run.add_argument("--config", type=Path, help="TOML configuration file (default: built-in defaults)")

    check = sub.add_parser("check", help="collect once, print the report as JSON, exit 1 if a probe failed")
    check.add_argument("--config", type=Path, help="TOML configuration file")

    sim = sub.add_parser("simulate", help="drive a simulated fleet against a collector")
    sim.add_argument(
        "--collector", default="127.0.0.1:50051", help="collector host:port (default: %(default)s)"
    )
    sim.add_argument("--agents", type=int, default=4130, help="number of agents (default: %(default)s)")
    sim.add_argument(
        "--interval",
        type=float,
        default=15.0,
        help="seconds between reports (default: %(default)s)",
    )
    sim.add_argument(
        "--duration", type=float, help="stop after this many seconds (default: run until Ctrl-C)"
    )
    sim.add_argument("--seed", type=int, default=1, help="random seed of the fleet (default: %(default)s)")
    return parser


def _setup_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper()),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def _stop_on_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        # Windows has no add_signal_handler: the service wrapper sets ``stop`` instead.
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)


async def _run(config_path: Path | None) -> int:
    from fleetwatch_agent.service import AgentService

    config = load_config(config_path)
    _setup_logging(config.agent.log_level)
    stop = asyncio.Event()
    _stop_on_signals(stop)
    await AgentService(config).run(stop)
    return 0


async def _check(config_path: Path | None) -> int:
    config = load_config(config_path)
    probes = bind_probes(config.probes)
    await asyncio.sleep(CHECK_WARMUP_SECONDS)  # rate probes (CPU) need two samples
    outcomes, results = await run_cycle(probes)
    document = {
        "host": dataclasses.asdict(read_host_facts()),
        "site": dataclasses.asdict(config.site),
        "probes": [dataclasses.asdict(o) for o in outcomes],
        "results": {
            name: dataclasses.asdict(r)
            for name, r in results.items()
            if dataclasses.is_dataclass(r) and not isinstance(r, type)
        },
    }
    print(json.dumps(document, indent=2, ensure_ascii=False))
    failed = [o.name for o in outcomes if not o.success]
    if failed:
        print(f"probes failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


async def _simulate(args: argparse.Namespace) -> int:
    from fleetwatch_agent.simulate.fleet import run_fleet

    if args.agents < 1:
        raise ConfigError("--agents must be at least 1")
    if args.interval < 0.1:
        raise ConfigError("--interval must be at least 0.1 seconds")
    _setup_logging("info")
    stop = asyncio.Event()
    _stop_on_signals(stop)
    stats = await run_fleet(args.collector, args.agents, args.interval, args.duration, args.seed, stop)
    log.info(
        "simulation ended: %d pushes ok, %d failed %s",
        stats.pushes_ok,
        stats.pushes_failed,
        stats.errors or "",
    )
    return 0 if stats.pushes_ok else 1


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "run":
            return asyncio.run(_run(args.config))
        if args.command == "check":
            return asyncio.run(_check(args.config))
        return asyncio.run(_simulate(args))
    except ConfigError as exc:
        print(f"fleetwatch-agent: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
