"""Command line of fleetwatch-agent: run, check, enroll; exit 0 ok, 1 a failure, 2 a configuration error."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import logging
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

from google.protobuf.message import Message

from fleetwatch_agent import __version__, credentials
from fleetwatch_agent.centralconfig import overridden
from fleetwatch_agent.centralstate import CentralState, read_local
from fleetwatch_agent.config import AgentConfig, CollectorSection, load_config
from fleetwatch_agent.credentials import AgentCredential, CredentialError
from fleetwatch_agent.hostfacts import read_host_facts
from fleetwatch_agent.probes import PROBES
from fleetwatch_agent.probes.context import ProbeContext
from fleetwatch_agent.runner import bind_probes, run_cycle
from fleetwatch_agent.transport import CollectorVerdict, Identity, PushError, check_collectors
from fleetwatch_agent.winservice import command as service_command
from fleetwatch_proto.tomlconfig import ConfigError

log = logging.getLogger("fleetwatch_agent")
CHECK_WARMUP_SECONDS = 1.0
TOKEN_ENV = "FLEETWATCH_ENROLL_TOKEN"
CHECK_DESCRIPTION = """Collect once and print the report as JSON on stdout, each probe's summary on
stderr; then send an empty Push to every collector address to tell whether it is reachable and
accepts this agent's credential, one verdict line each on stderr. Reads only: creates no file
and no folder. Exit codes: 0 all probes succeeded and every collector address accepts this
agent (or is reachable and collector.token_file will enrol it); 1 a probe failed, or a collector
address is unreachable, refuses the credential, or the agent is not enrolled; 2 a configuration
error (the option is named)."""


def _add_token_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--token", help=f"site enrolment token (prefer --token-file or ${TOKEN_ENV})")
    group.add_argument("--token-file", type=Path, help="file holding the enrolment token")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fleetwatch-agent",
        description="fleetwatch workstation agent: collects host reports and pushes them to the collector.",
    )
    parser.add_argument("--version", action="version", version=f"fleetwatch-agent {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="run the agent until SIGTERM or Ctrl-C")
    run.add_argument("--config", type=Path, help="TOML configuration file (default: built-in defaults)")

    check = sub.add_parser(
        "check",
        help="collect once, print the report as JSON, check the collector; exit 1 on a failure",
        description=CHECK_DESCRIPTION,
    )
    check.add_argument("--config", type=Path, help="TOML configuration file")
    check.add_argument("--no-collector", action="store_true", help="do not contact the collector")

    enroll = sub.add_parser("enroll", help="exchange a site token for this host's credential")
    enroll.add_argument("--collector", help="collector HOST:PORT (default: collector.addresses of --config)")
    enroll.add_argument("--config", type=Path, help="TOML configuration file (data_dir, TLS settings)")
    _add_token_options(enroll)

    service_command.add_parser(sub)
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


def _token(args: argparse.Namespace) -> str:
    if args.token:
        return str(args.token)
    if args.token_file:
        try:
            return str(args.token_file.read_text().strip())
        except OSError as exc:
            raise ConfigError(f"--token-file {args.token_file}: {exc.strerror}") from exc
    if os.environ.get(TOKEN_ENV):
        return os.environ[TOKEN_ENV].strip()
    raise ConfigError(f"an enrolment token is needed: --token-file FILE, --token T or ${TOKEN_ENV}")


async def _run(config_path: Path | None) -> int:
    from fleetwatch_agent.service import AgentService

    config = load_config(config_path)
    _setup_logging(config.agent.log_level)
    central = CentralState(Path(config.agent.data_dir), read_local(config_path))
    service = AgentService(config, central=central)
    stop = asyncio.Event()
    _stop_on_signals(stop)
    await service.run(stop)
    return 0


def result_json(result: object) -> Any:
    """A probe's result as JSON data: a dataclass field by field, a message by its proto field names."""
    if isinstance(result, Message):
        from google.protobuf.json_format import MessageToDict  # `check` only: not in the running agent

        return MessageToDict(
            result,
            always_print_fields_with_no_presence=True,
            preserving_proto_field_name=True,
            unquote_int64_if_possible=True,  # byte counts stay numbers
        )
    if dataclasses.is_dataclass(result) and not isinstance(result, type):
        return dataclasses.asdict(result)
    return repr(result)


def _not_enrolled(verdict: CollectorVerdict, config: AgentConfig) -> CollectorVerdict:
    """A reachable collector without a credential: fine when collector.token_file will enrol at start."""
    token_file = config.collector.token_file
    if token_file and os.access(token_file, os.R_OK):
        detail = f"reachable; not enrolled yet: `run` enrols with {token_file}"
        return dataclasses.replace(verdict, status="ok", detail=detail)
    where = f"collector.token_file {token_file} is not readable" if token_file else "no credential"
    detail = f"reachable, but this agent is not enrolled ({where}): run `fleetwatch-agent enroll`"
    return dataclasses.replace(verdict, detail=detail)


async def _check_collectors(
    config: AgentConfig, credential: AgentCredential | None
) -> list[CollectorVerdict]:
    identity = Identity(credential.agent_id, credential.secret) if credential else None
    verdicts = await check_collectors(config.collector, identity)
    return [_not_enrolled(v, config) if v.status == "not_enrolled" else v for v in verdicts]


async def _check(config_path: Path | None, contact_collector: bool = True) -> int:
    config = load_config(config_path)
    data_dir = Path(config.agent.data_dir)
    central = CentralState(data_dir, read_local(config_path))
    config = central.load() or config  # what `run` would run: the last good central version over the file
    credential = credentials.load(data_dir) if contact_collector else None  # read only
    context = ProbeContext(data_dir, collector_addresses=config.collector.addresses)
    probes = bind_probes(config.probes, context)
    await asyncio.sleep(CHECK_WARMUP_SECONDS)  # rate probes (CPU) need two samples
    outcomes, results = await run_cycle(probes)
    verdicts = await _check_collectors(config, credential) if contact_collector else []
    document = {
        "host": dataclasses.asdict(read_host_facts()),
        "site": dataclasses.asdict(config.site),
        "central_config": {
            "version": central.version,
            "kept_from_local_file": overridden(central.local, central.message) if central.message else [],
        },
        "probes": [dataclasses.asdict(o) for o in outcomes],
        "results": {name: result_json(r) for name, r in results.items()},
        "collectors": [dataclasses.asdict(v) for v in verdicts],
    }
    # default: a message inside a dataclass result (the snmp probe's devices) prints like a message result.
    print(json.dumps(document, indent=2, ensure_ascii=False, default=result_json))
    now = time.time()
    for probe in PROBES:  # the readable part goes to the terminal
        result = results.get(probe.name)
        if result is not None:
            print("\n".join(probe.summary(result, now)), file=sys.stderr)
    print(f"central configuration: {central.version or 'none (the local file alone)'}", file=sys.stderr)
    for verdict in verdicts:
        print(f"collector {verdict.address}: {verdict.status}: {verdict.detail}", file=sys.stderr)
    problems = []
    failed = [o.name for o in outcomes if not o.success]
    if failed:
        problems.append(f"probes failed: {', '.join(failed)}")
    problems.extend(f"collector {v.address} {v.status.replace('_', ' ')}" for v in verdicts if not v.ok)
    if problems:
        print(f"check failed: {'; '.join(problems)}", file=sys.stderr)
        return 1
    print("check ok", file=sys.stderr)
    return 0


def _collector_section(config: AgentConfig, address: str | None) -> CollectorSection:
    if address is None:
        return config.collector
    section = dataclasses.replace(config.collector, addresses=(address,))
    try:
        section.validate()
    except ValueError as exc:
        raise ConfigError(f"--collector: {exc}") from exc
    return section


async def _enroll(args: argparse.Namespace) -> int:
    from fleetwatch_agent.service import enroll
    from fleetwatch_agent.transport import Transport

    config = load_config(args.config)
    config = dataclasses.replace(config, collector=_collector_section(config, args.collector))
    _setup_logging("info")
    transport = Transport(config.collector)
    central = CentralState(Path(config.agent.data_dir), read_local(args.config))  # the site's, if any
    try:
        credential = await enroll(transport, _token(args), config, central.offer)
    finally:
        await transport.close()
    print(f"enrolled as {credential.agent_id} at site {credential.site or '(as configured)'}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    commands = {
        "run": lambda: _run(args.config),
        "check": lambda: _check(args.config, not args.no_collector),
    }
    commands["enroll"] = lambda: _enroll(args)
    try:
        if args.command == "service":
            return service_command.run(args)
        return asyncio.run(commands[args.command]())
    except (ConfigError, CredentialError) as exc:
        print(f"fleetwatch-agent: {exc}", file=sys.stderr)
        return 2
    except PushError as exc:
        print(f"fleetwatch-agent: the collector refused: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
