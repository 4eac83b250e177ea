"""The collector's central configuration (an AgentConfig message) over the local file: pure, no I/O.

The message becomes a table shaped like the agent's TOML file; the local file's table is laid over
it, so an option the operator wrote in the local file wins, and the result goes through the same
loader and validate() as the file alone (docs/central-config.md). Every error is a ConfigError
naming the option: the agent refuses that version and keeps the configuration it runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fleetwatch_agent.config import AgentConfig
from fleetwatch_proto.limits import CONFIG_VERSION_RE
from fleetwatch_proto.names import PROBE_KIND
from fleetwatch_proto.tomlconfig import ConfigError, from_dict
from fleetwatch_proto.v1 import fleetwatch_pb2 as pb


def as_table(message: pb.AgentConfig) -> dict[str, Any]:
    """The options ``message`` sets, as the agent file's tables would set them (0 or empty: unset)."""
    probes: dict[str, dict[str, Any]] = {}
    for name, seconds in message.probe_intervals.items():
        probes.setdefault(name, {})["interval_seconds"] = float(seconds)
    if message.antivirus_outdated_after_days:
        probes.setdefault("antivirus", {})["outdated_after_days"] = float(
            message.antivirus_outdated_after_days
        )
    if message.targets:
        probes.setdefault("connectivity", {})["targets"] = [
            # An unknown kind stays a name the loader refuses, never a silent default.
            {"name": t.name, "kind": PROBE_KIND.name(t.kind, f"kind-{t.kind}"), "address": t.address}
            for t in message.targets
        ]
    if message.snmp_devices:
        probes.setdefault("snmp", {})["devices"] = [
            {"name": d.name, "address": d.address, "credential": d.credential_ref}
            for d in message.snmp_devices
        ]
    table: dict[str, Any] = {}
    if message.interval_seconds:
        table["agent"] = {"interval_seconds": float(message.interval_seconds)}
    if probes:
        table["probes"] = probes
    return table


def overlay(base: Mapping[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with every option of ``top`` over it, table by table (``top`` wins; lists whole)."""
    merged = dict(base)
    for key, value in top.items():
        below = merged.get(key)
        if isinstance(value, Mapping) and isinstance(below, Mapping):
            merged[key] = overlay(below, value)
        else:
            merged[key] = value
    return merged


def set_options(local: Mapping[str, Any], prefix: str = "") -> list[str]:
    """The dotted paths of the options a local file sets (a list or a value is one option)."""
    found: list[str] = []
    for key, value in local.items():
        if isinstance(value, Mapping):
            found.extend(set_options(value, f"{prefix}{key}."))
        else:
            found.append(f"{prefix}{key}")
    return found


def resolve(local: Mapping[str, Any], message: pb.AgentConfig) -> AgentConfig:
    """The configuration to run: ``message`` under the local file's table ``local``, validated."""
    version = message.version
    if not CONFIG_VERSION_RE.fullmatch(version):
        raise ConfigError(f"central configuration: version {version[:40]!r} is not a version")
    return from_dict(
        AgentConfig, overlay(as_table(message), local), source=f"central configuration {version}"
    )


def overridden(local: Mapping[str, Any], message: pb.AgentConfig) -> list[str]:
    """The options the central configuration sets that the local file keeps (shown by `check`)."""
    local_paths = set(set_options(local))
    return [path for path in set_options(as_table(message)) if path in local_paths]
