"""Command line of fleetwatch-sim: drive a simulated fleet against a collector."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import logging
import signal
import sys
from pathlib import Path

from fleetwatch_agent import __version__
from fleetwatch_agent.config import CollectorSection
from fleetwatch_agent.transport import PushError
from fleetwatch_proto.sites import load_inventory
from fleetwatch_proto.tomlconfig import ConfigError
from fleetwatch_sim.fleet import run_fleet
from fleetwatch_sim.scenario import NO_INCIDENTS, load_scenario

log = logging.getLogger("fleetwatch_sim")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fleetwatch-sim",
        description="Drive N simulated agents through the agent's real transport, spread over the "
        "sites of an inventory (needs an --any-site enrolment token).",
    )
    parser.add_argument("--version", action="version", version=f"fleetwatch-sim {__version__}")
    parser.add_argument(
        "--collector", default="127.0.0.1:50051", help="collector host:port (default: %(default)s)"
    )
    parser.add_argument("--agents", type=int, default=4130, help="number of agents (default: %(default)s)")
    parser.add_argument(
        "--interval", type=float, default=15.0, help="seconds between reports (default: %(default)s)"
    )
    parser.add_argument("--duration", type=float, help="stop after this many seconds (default: until Ctrl-C)")
    parser.add_argument("--seed", type=int, default=1, help="random seed of the fleet (default: %(default)s)")
    parser.add_argument(
        "--sites", type=Path, help="site inventory TOML (default: the built-in Tiền Giang 2023 inventory)"
    )
    parser.add_argument(
        "--scenario",
        metavar="FILE|demo",
        help="incidents on a timeline (TOML), or 'demo' for the built-in demo scenario (default: none)",
    )
    parser.add_argument(
        "--state-file", type=Path, help="keep the simulated agents' credentials here across runs"
    )
    parser.add_argument(
        "--no-probes",
        action="store_true",
        help="reports carry host facts and the central configuration fields only (delivery at scale)",
    )
    parser.add_argument("--ca-file", default="", help="CA bundle when the collector uses TLS")
    parser.add_argument("--token-file", type=Path, required=True, help="file holding an --any-site token")
    return parser


async def _simulate(args: argparse.Namespace) -> int:
    if args.agents < 1:
        raise ConfigError("--agents must be at least 1")
    if not 1 <= args.interval <= 3600:
        raise ConfigError("--interval must be between 1 and 3600 seconds")
    section = dataclasses.replace(
        CollectorSection(),
        addresses=(args.collector,),
        ca_file=args.ca_file,
        timeout_seconds=max(10.0, args.interval),
    )
    try:
        section.validate()
    except ValueError as exc:
        raise ConfigError(f"--collector: {exc}") from exc
    inventory = load_inventory(args.sites)
    scenario = NO_INCIDENTS
    if args.scenario:
        scenario = load_scenario(None if args.scenario == "demo" else Path(args.scenario))
        unknown = sorted(slug for slug in scenario.sites() if inventory.site(slug) is None)
        if unknown:
            raise ConfigError(f"--scenario: sites not in the inventory: {', '.join(unknown)}")
    try:
        token = args.token_file.read_text().strip()
    except OSError as exc:
        raise ConfigError(f"--token-file {args.token_file}: {exc.strerror}") from exc
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    stats = await run_fleet(
        section,
        args.agents,
        args.interval,
        args.duration,
        args.seed,
        token,
        args.state_file,
        stop,
        inventory,
        scenario,
        probes=not args.no_probes,
    )
    log.info(
        "simulation ended: %d reports made, %d acknowledged; %d pushes ok, %d failed %s",
        stats.reports_made,
        stats.reports_acked,
        stats.pushes_ok,
        stats.pushes_failed,
        stats.errors or "",
    )
    return 0 if stats.pushes_ok else 1


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return asyncio.run(_simulate(args))
    except ConfigError as exc:
        print(f"fleetwatch-sim: {exc}", file=sys.stderr)
        return 2
    except PushError as exc:
        print(f"fleetwatch-sim: the collector refused: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
