"""Operator commands on the store and certificates: token, agent (list, revoke, forget), tls."""

from __future__ import annotations

import argparse
import datetime
import re
import sys
import time
from pathlib import Path

from fleetwatch_collector import enrolment
from fleetwatch_collector.agentstate import SiteLabels
from fleetwatch_collector.cluster import append_revoked, load_key
from fleetwatch_collector.config import CollectorConfig
from fleetwatch_collector.gate import AGENT_URN
from fleetwatch_collector.store import Store
from fleetwatch_proto.limits import AGENT_ID_RE, SLUG_RE
from fleetwatch_proto.names import SITE_TYPE
from fleetwatch_proto.sites import Inventory, load_inventory
from fleetwatch_proto.tomlconfig import ConfigError

DURATION_RE = re.compile(r"(\d+)([smhd])")
UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> float:
    """'30m', '12h', '7d' -> seconds; 'never' -> 0."""
    if text == "never":
        return 0.0
    match = DURATION_RE.fullmatch(text)
    if not match or int(match.group(1)) == 0:
        raise ConfigError(f"--expires: {text!r} is not a duration like 30m, 12h, 7d or 'never'")
    return float(int(match.group(1)) * UNIT_SECONDS[match.group(2)])


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    data_dir_help = "collector data folder (default: server.data_dir of --config, or its default)"
    token = sub.add_parser("token", help="manage site enrolment tokens")
    token_sub = token.add_subparsers(dest="action", required=True, metavar="ACTION")
    create = token_sub.add_parser("create", help="create a token for a site and print it once")
    where = create.add_mutually_exclusive_group(required=True)
    where.add_argument("--site", metavar="SLUG", help="site slug, e.g. xa-tan-my-chanh")
    where.add_argument("--any-site", action="store_true", help="lab/simulation: agents name their own site")
    create.add_argument("--district", help="district slug (default: from the site inventory)")
    create.add_argument(
        "--type", choices=SITE_TYPE.names(), help="site type (default: from the site inventory)"
    )
    create.add_argument("--name", default=None, help="display name with diacritics")
    create.add_argument("--expires", default="7d", help="lifetime: 30m, 12h, 7d or never (default: 7d)")
    uses = create.add_mutually_exclusive_group()
    uses.add_argument(
        "--max-uses",
        metavar="N",
        help="enrolments it may make: a number, or 'unlimited' (default: enrolment.site_token_max_uses,"
        " 500, for a site token; unlimited for --any-site)",
    )
    uses.add_argument("--single-use", action="store_true", help="good for one enrolment (--max-uses 1)")
    token_sub.add_parser("list", help="list tokens (never their secrets)")
    revoke = token_sub.add_parser("revoke", help="revoke a token; enrolled agents keep working")
    revoke.add_argument("token_id")
    agent = sub.add_parser("agent", help="list, revoke or forget enrolled agents")
    agent_sub = agent.add_subparsers(dest="action", required=True, metavar="ACTION")
    agent_sub.add_parser("list", help="list enrolled agents")
    agent_revoke = agent_sub.add_parser(
        "revoke", help="refuse this agent's next Push and all later ones; its series leave /metrics"
    )
    agent_revoke.add_argument("agent_id")
    forget = agent_sub.add_parser(
        "forget", help="remove the agent: its credential, its state and its series (a decommissioned PC)"
    )
    forget.add_argument("agent_id")
    for parser in (create, token_sub.choices["list"], revoke, *agent_sub.choices.values()):
        parser.add_argument("--config", type=Path, help="collector TOML configuration file")
        parser.add_argument("--data-dir", help=data_dir_help)
    tls = sub.add_parser("tls", help="certificates for a first installation")
    tls_sub = tls.add_subparsers(dest="action", required=True, metavar="ACTION")
    init = tls_sub.add_parser("init", help="create a CA (once) and a server certificate signed by it")
    init.add_argument(
        "--dir", type=Path, required=True, help="where to write ca.pem, server.pem, server-key.pem"
    )
    init.add_argument(
        "--name", action="append", default=[], help="DNS name or IP address of the collector (repeatable)"
    )
    client = tls_sub.add_parser("client", help="issue a client certificate for mutual TLS")
    client.add_argument("--dir", type=Path, required=True, help="folder of the CA made by `tls init`")
    named = client.add_mutually_exclusive_group(required=True)
    named.add_argument(
        "--agent-id",
        help="the agent id it proves (CN and SAN urn:fleetwatch:agent:ID): valid for that agent's Pushes",
    )
    named.add_argument(
        "--cn",
        help="a name for a machine not yet enrolled (e.g. its hostname): the agent that enrols with it"
        " is bound to it",
    )


def resolve_site(args: argparse.Namespace, inventory: Inventory) -> SiteLabels:
    if not SLUG_RE.fullmatch(args.site):
        raise ConfigError(f"--site: {args.site!r} is not an ASCII slug like 'xa-tan-my-chanh'")
    known = inventory.resolve(args.site)  # a merged site's slug gives the site it was merged into
    if known is not None and known.slug != args.site:
        print(
            f"site {args.site} was merged into {known.slug}: the token is for {known.slug}", file=sys.stderr
        )
    district = args.district or (known.district if known else None)
    site_type = args.type or (known.site_type if known else None)
    if district is None or site_type is None:
        raise ConfigError(
            f"--site {args.site} is not in the site inventory ({inventory.name}): add it there, "
            "or give --district and --type"
        )
    if not SLUG_RE.fullmatch(district):
        raise ConfigError(f"--district: {district!r} is not an ASCII slug")
    name = args.name if args.name is not None else (known.name if known else "")
    return SiteLabels(known.slug if known else args.site, district, site_type, name)


def parse_max_uses(args: argparse.Namespace, config: CollectorConfig) -> int | None:
    """The --max-uses of ``token create``: None for unlimited."""
    if args.single_use:
        return 1
    if args.max_uses is None:
        return None if args.any_site else config.enrolment.site_token_max_uses
    if args.max_uses == "unlimited":
        return None
    if not args.max_uses.isdigit() or int(args.max_uses) < 1:
        raise ConfigError(
            f"--max-uses: {args.max_uses!r} is not a number of enrolments (1 or more) or 'unlimited'"
        )
    return int(args.max_uses)


def _inventory(config: CollectorConfig) -> Inventory:
    return load_inventory(Path(config.sites.file) if config.sites.file else None)


def _when(seconds: float | None) -> str:
    if not seconds:
        return "never"
    return datetime.datetime.fromtimestamp(seconds, datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")


def run_store_command(args: argparse.Namespace, config: CollectorConfig) -> int:
    store = Store(Path(args.data_dir or config.server.data_dir) / "collector.sqlite")
    try:
        now = time.time()
        if args.command == "token" and args.action == "create":
            site = None if args.any_site else resolve_site(args, _inventory(config))
            lifetime = parse_duration(args.expires)
            max_uses = parse_max_uses(args, config)
            key = load_key(config.cluster.key_file) if config.cluster.key_file else None
            expires = now + lifetime if lifetime else None
            text = enrolment.create_token(store, site, now, expires, max_uses, key)
            where = f"site {site.site} ({site.district}, {site.site_type})" if site else "any site"
            print(text, flush=True)  # alone on stdout, for scripts
            uses = "unlimited enrolments" if max_uses is None else f"at most {max_uses} enrolments"
            if key is not None:
                uses += " at each member of the cluster (signed: every member accepts it)"
            print(f"token for {where}, expires {_when(expires)}; {uses}", file=sys.stderr)
        elif args.command == "token" and args.action == "list":
            print("token_id  site  created  expires  max_uses  revoked  enrolments")
            for t in enrolment.list_tokens(store):
                slug = t.site.site if t.site else "*"
                dates = f"{_when(t.created)}  {_when(t.expires)}"
                limit = "unlimited" if t.max_uses is None else t.max_uses
                print(f"{t.token_id}  {slug}  {dates}  {limit}  {t.revoked}  {t.enrolments}")
        elif args.command == "token":
            # With a cluster key, a token signed at another member is recorded here as revoked.
            if not enrolment.revoke_token(store, args.token_id, now if config.cluster.key_file else None):
                raise ConfigError(f"no token {args.token_id!r}")
            elsewhere = " at this member; revoke it at every member" if config.cluster.key_file else ""
            print(f"token {args.token_id} revoked{elsewhere}")
        elif args.action == "list":
            print("agent_id  site  revoked  enrolled  last_seen")
            for agent_id, site_labels, revoked, enrolled, seen in enrolment.list_agents(store):
                slug = site_labels.site if site_labels else "*"
                print(f"{agent_id}  {slug}  {revoked}  {_when(enrolled)}  {_when(seen)}")
        elif args.action == "revoke":
            revoke_agent(store, args.agent_id, config)
        else:
            if not enrolment.forget_agent(store, args.agent_id):
                raise ConfigError(f"no agent {args.agent_id!r}")
            print(f"agent {args.agent_id} forgotten: credential and state deleted, its series leave /metrics")
    finally:
        store.close()
    return 0


def revoke_agent(store: Store, agent_id: str, config: CollectorConfig) -> None:
    """`agent revoke`: in this store, and in the cluster's revoked file when there is one (an agent
    enrolled at another member may not be in this store yet)."""
    shared = config.cluster.revoked_file
    if shared and not AGENT_ID_RE.fullmatch(agent_id):
        raise ConfigError(f"{agent_id!r} is not an agent id")
    here = enrolment.revoke_agent(store, agent_id)
    if not here and not shared:
        raise ConfigError(f"no agent {agent_id!r}")
    print(f"agent {agent_id} revoked: its next Push is refused, its series leave /metrics")
    if shared:
        added = append_revoked(Path(shared), agent_id, config.cluster.self)
        state = "added to" if added else "already in"
        print(f"{state} {shared}: the other members refuse it once they read that file", file=sys.stderr)


def run_tls_command(args: argparse.Namespace) -> int:
    from fleetwatch_collector.tlsinit import issue

    if args.action == "init":
        names = args.name or ["localhost", "127.0.0.1"]
        files = issue(args.dir, "server", names[0], names, server=True)
        print(f"CA certificate:      {files.ca_cert}  (give it to agents as collector.ca_file)")
        print(f"server certificate:  {files.cert}  (tls.cert_file) for {', '.join(names)}")
        print(f"server key:          {files.key}  (tls.key_file, mode 0600)")
    else:
        if args.agent_id is not None:
            if not AGENT_ID_RE.fullmatch(args.agent_id):
                raise ConfigError(f"--agent-id: {args.agent_id!r} is not an agent id")
            files = issue(
                args.dir, f"client-{args.agent_id}", args.agent_id, [AGENT_URN + args.agent_id], server=False
            )
        else:
            files = issue(args.dir, f"client-{args.cn}", args.cn, [], server=False)
        print(f"client certificate:  {files.cert}  (collector.cert_file on the agent)")
        print(f"client key:          {files.key}  (collector.key_file, mode 0600)")
    return 0
