"""`fleetwatch-collector config show|set|history`: central agent configuration (docs/central-config.md)."""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import time
import tomllib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from fleetwatch_collector.centralconfig import parse_scope, validate_document
from fleetwatch_collector.centralstore import AgentStatus, CentralConfigs
from fleetwatch_collector.config import CollectorConfig
from fleetwatch_collector.store import Store
from fleetwatch_proto.limits import SLUG_RE
from fleetwatch_proto.sites import load_inventory
from fleetwatch_proto.tomlconfig import ConfigError, decode, describe_toml_error


def add_config_command(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    data_dir_help = "collector data folder (default: server.data_dir of --config, or its default)"
    config = sub.add_parser("config", help="central agent configuration by scope: all, district, site")
    actions = config.add_subparsers(dest="action", required=True, metavar="ACTION")
    show = actions.add_parser(
        "show",
        help="print the effective configuration of a site and its version, the agents per version they run "
        "and those refusing their site's version",
    )
    show.add_argument("--site", metavar="SLUG", help="site slug (default: the `all` scope alone)")
    show.add_argument("--district", metavar="SLUG", help="its district (default: from the site inventory)")
    show.add_argument("--format", choices=("toml", "json"), default="toml")
    set_ = actions.add_parser("set", help="validate a TOML file and store it as the scope's document")
    set_.add_argument("--scope", required=True, help="all, district:<slug> or site:<slug>")
    set_.add_argument("file", type=Path, help="TOML document (docs/central-config.md)")
    history = actions.add_parser("history", help="every document stored, oldest first")
    history.add_argument("--scope", help="only this scope")
    for parser in (show, set_, history):
        parser.add_argument("--config", type=Path, help="collector TOML configuration file")
        parser.add_argument("--data-dir", help=data_dir_help)


def read_document(path: Path) -> dict[str, object]:
    """A document file parsed and validated; ConfigError names the file and the key."""
    try:
        text = decode(path.read_bytes(), f"config file {path}")
    except OSError as exc:
        raise ConfigError(f"config file {path}: {exc.strerror or exc}") from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path}: {describe_toml_error(text, exc)}") from exc
    try:
        return validate_document(data)
    except ConfigError as exc:
        raise ConfigError(f"config file {path}: {exc}") from exc


def to_toml(doc: dict[str, object]) -> str:
    """A merged document as TOML (its values are integers, strings, tables and lists of tables)."""
    lines: list[str] = []
    tables: list[str] = []
    for key, value in doc.items():
        if isinstance(value, dict):
            tables.append(f"\n[{key}]")
            tables.extend(f"{k} = {json.dumps(v)}" for k, v in value.items())
        elif isinstance(value, list):
            for entry in value:
                tables.append(f"\n[[{key}]]")
                tables.extend(f"{k} = {json.dumps(v)}" for k, v in entry.items())
        else:
            lines.append(f"{key} = {json.dumps(value)}")
    return "\n".join(lines + tables).strip() + "\n"


@dataclass(frozen=True)
class AgentsView:
    """The agents (of one site, or all) by the version they run, and those refusing their site's."""

    running: dict[str, int]  # version ("" = none: the local file alone) -> agents
    refusing: list[AgentStatus]  # refusing the current version of their site


def agents_view(central: CentralConfigs, site: str = "") -> AgentsView:
    """What the agents said in their latest Push (stored by the running collector at each refresh)."""
    running: Counter[str] = Counter()
    refusing: list[AgentStatus] = []
    for status in central.statuses():
        if site and status.site != site:
            continue
        running[status.version] += 1
        current = central.for_site(status.site, status.district)
        if current is not None and status.refused_version == current.version:
            refusing.append(status)
    return AgentsView(dict(running.most_common()), refusing)


def agents_lines(view: AgentsView) -> list[str]:
    """The agents' part of `config show` as TOML comments, so the output stays a document."""
    lines = [f"# agents by the version they run ({sum(view.running.values())} agents):"]
    lines.extend(
        f"#   {version or '(none: the local file alone)'}  {n}" for version, n in view.running.items()
    )
    lines.append(f"# agents refusing their site's version: {len(view.refusing)}")
    lines.extend(
        f"#   {s.agent_id}  site {s.site or '?'}  version {s.refused_version}: "
        f"{s.refused_reason or '(no reason given)'}"
        for s in view.refusing
    )
    return lines


def _district_of(site: str, config: CollectorConfig) -> str:
    inventory = load_inventory(Path(config.sites.file) if config.sites.file else None)
    known = inventory.resolve(site)
    if known is None:
        raise ConfigError(f"--site {site} is not in the site inventory ({inventory.name}): give --district")
    return known.district


def run_config_command(args: argparse.Namespace, config: CollectorConfig) -> int:
    path = Path(args.data_dir or config.server.data_dir) / "collector.sqlite"
    Store(path).close()  # makes the folder and the file as the collector would
    central = CentralConfigs(path)
    try:
        if args.action == "set":
            parse_scope(args.scope)
            document = read_document(args.file)
            row = central.set(args.scope, document, time.time())
            print(
                f"scope {args.scope}: document {row} stored; running collectors serve it within "
                f"fleet.check_seconds (or at once on SIGHUP)"
            )
        elif args.action == "history":
            if args.scope is not None:
                parse_scope(args.scope)
            for entry in central.history(args.scope):
                when = datetime.datetime.fromtimestamp(entry.created, datetime.UTC).strftime(
                    "%Y-%m-%d %H:%M:%S"
                )
                print(f"{entry.id}  {entry.scope}  {when} UTC  {json.dumps(entry.document, sort_keys=True)}")
        else:
            site = args.site or ""
            if site and not SLUG_RE.fullmatch(site):
                raise ConfigError(f"--site: {site!r} is not an ASCII slug")
            district = args.district or (_district_of(site, config) if site else "")
            effective = central.for_site(site, district)
            if effective is None:
                print("# no central configuration: agents run their local files alone")
                return 0
            scopes = [s for s in ("all", f"district:{district}", f"site:{site}") if central.history(s)]
            view = agents_view(central, site)
            if args.format == "json":
                agents = {
                    "running": view.running,
                    "refusing": [
                        {
                            "agent_id": s.agent_id,
                            "site": s.site,
                            "version": s.refused_version,
                            "reason": s.refused_reason,
                        }
                        for s in view.refusing
                    ],
                }
                doc = {
                    "version": effective.version,
                    "scopes": scopes,
                    "config": effective.document,
                    "agents": agents,
                }
                print(json.dumps(doc, indent=2, sort_keys=True))
            else:
                print(f"# version {effective.version}, from scopes: {', '.join(scopes) or '(none)'}")
                sys.stdout.write(to_toml(effective.document))
                print("\n" + "\n".join(agents_lines(view)))
    finally:
        central.close()
    return 0
