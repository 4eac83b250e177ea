"""Command line of fleetwatch-collector: run, token, agent, config, tls, metrics-doc."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import signal
import sys
from pathlib import Path

from fleetwatch_collector import __version__
from fleetwatch_collector.admin import add_commands, run_store_command, run_tls_command
from fleetwatch_collector.centraladmin import add_config_command, run_config_command
from fleetwatch_collector.config import CollectorConfig, load_config
from fleetwatch_collector.server import ConfigurationError
from fleetwatch_collector.store import StoreError
from fleetwatch_proto.tomlconfig import ConfigError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fleetwatch-collector",
        description="fleetwatch collector: receives agent reports over gRPC, exposes Prometheus metrics.",
    )
    parser.add_argument("--version", action="version", version=f"fleetwatch-collector {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = sub.add_parser("run", help="run the collector until SIGTERM or Ctrl-C")
    run.add_argument("--config", type=Path, help="TOML configuration file (default: built-in defaults)")
    run.add_argument("--grpc-listen", metavar="HOST:PORT", help="overrides server.grpc_listen")
    run.add_argument("--http-listen", metavar="HOST:PORT", help="overrides server.http_listen")
    run.add_argument("--data-dir", metavar="DIR", help="overrides server.data_dir")
    add_commands(sub)
    add_config_command(sub)
    doc = sub.add_parser(
        "metrics-doc", help="print the metric reference (Markdown) generated from the catalog"
    )
    doc.add_argument("--output", type=Path, help="write to this file instead of standard output")
    return parser


def apply_overrides(config: CollectorConfig, args: argparse.Namespace) -> CollectorConfig:
    """Command-line options win over the file; the result is validated again."""
    changes = {
        key: value
        for key, value in (
            ("grpc_listen", args.grpc_listen),
            ("http_listen", args.http_listen),
            ("data_dir", args.data_dir),
        )
        if value is not None
    }
    server = dataclasses.replace(config.server, **changes)
    try:
        server.validate()
    except ValueError as exc:
        raise ConfigError(f"command line: option server.{exc}") from exc
    return dataclasses.replace(config, server=server)


async def _run(config: CollectorConfig) -> int:
    from fleetwatch_collector.server import CollectorServer

    server = CollectorServer(config)
    await server.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    if hasattr(signal, "SIGHUP"):  # read the site inventory and SNMP devices files again now
        loop.add_signal_handler(signal.SIGHUP, server.reload)
    await server.serve(stop)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "metrics-doc":
            from fleetwatch_collector.docgen import metrics_markdown

            text = metrics_markdown()
            if args.output:
                args.output.write_text(text)
            else:
                sys.stdout.write(text)
            return 0
        if args.command == "tls":
            return run_tls_command(args)
        config = load_config(args.config)
        if args.command in ("token", "agent"):
            return run_store_command(args, config)
        if args.command == "config":
            return run_config_command(args, config)
        config = apply_overrides(config, args)
        logging.basicConfig(
            level=getattr(logging, config.server.log_level.upper()),
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        )
        return asyncio.run(_run(config))
    except (ConfigError, StoreError, ConfigurationError) as exc:
        print(f"fleetwatch-collector: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"fleetwatch-collector: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
