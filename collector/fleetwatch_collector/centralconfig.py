"""Central agent configuration documents: their schema, the merge of scopes and the version (pure).

A document is a TOML table of these keys, every one optional (docs/central-config.md):

    interval_seconds = 0                 # [agent] interval_seconds; 0 = keep the agent's
    antivirus_outdated_after_days = 3    # [probes.antivirus] outdated_after_days; 0 = keep
    [probe_intervals]                    # [probes.<name>] interval_seconds, by probe name
    connectivity = 30
    [[targets]]                          # [probes.connectivity] targets
    name = "portal"; kind = "http"; address = "https://portal.example/"
    [[snmp_devices]]                     # [probes.snmp] devices
    name = "r1"; address = "192.0.2.1"; credential = "site"

Scopes, least to most specific: ``all`` < ``district:<slug>`` < ``site:<slug>``. Merge: for each key
the most specific scope that sets it wins; a list (targets, snmp_devices) is replaced whole, never
joined; ``probe_intervals`` merges probe by probe. The version is a digest of the merged document, so
equal configurations have equal versions and a version never names two contents.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

from fleetwatch_proto.limits import (
    MAX_NETWORK_DEVICES,
    MAX_PROBES,
    MAX_TARGETS,
    PROBE_NAME_RE,
    SLUG_RE,
    TARGET_NAME_RE,
)
from fleetwatch_proto.names import PROBE_KIND
from fleetwatch_proto.tomlconfig import ConfigError
from fleetwatch_proto.v1 import fleetwatch_pb2 as pb

Document = dict[str, Any]
TOP_KEYS = ("interval_seconds", "antivirus_outdated_after_days", "probe_intervals", "targets", "snmp_devices")
TARGET_KEYS = ("name", "kind", "address")
DEVICE_KEYS = ("name", "address", "credential")
MAX_AGENT_INTERVAL_SECONDS = 3600
MAX_PROBE_INTERVAL_SECONDS = 86400
MAX_OUTDATED_DAYS = 365
MAX_TEXT = 256
VERSION_LENGTH = 16


def parse_scope(scope: str) -> tuple[str, str]:
    """("all", "") or ("district"|"site", slug); ConfigError otherwise."""
    if scope == "all":
        return "all", ""
    kind, sep, slug = scope.partition(":")
    if not sep or kind not in ("district", "site") or not SLUG_RE.fullmatch(slug):
        raise ConfigError(f"scope {scope!r}: must be all, district:<slug> or site:<slug>")
    return kind, slug


def _integer(key: str, value: Any, low: int, high: int, what: str = "") -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"option {key!r}: expected an integer, got {type(value).__name__} {value!r}")
    if not low <= value <= high:
        raise ConfigError(f"option {key!r}: {value} is not between {low} and {high}{what}")
    return value


def _text(key: str, value: Any) -> str:
    if not isinstance(value, str):
        raise ConfigError(f"option {key!r}: expected a string, got {type(value).__name__} {value!r}")
    if (
        not value
        or len(value.encode()) > MAX_TEXT
        or any(ord(c) < 32 or 0x7F <= ord(c) <= 0x9F for c in value)
    ):
        raise ConfigError(f"option {key!r}: must be 1 to {MAX_TEXT} bytes without control characters")
    return value


def _entries(key: str, value: Any, keys: Sequence[str], most: int) -> list[dict[str, str]]:
    if not isinstance(value, list):
        raise ConfigError(f"option {key!r}: expected a list of tables ([[{key}]])")
    if len(value) > most:
        raise ConfigError(f"option {key!r}: {len(value)} entries, at most {most}")
    entries: list[dict[str, str]] = []
    names: set[str] = set()
    for i, entry in enumerate(value):
        where = f"{key}[{i}]"
        if not isinstance(entry, dict):
            raise ConfigError(f"option {where!r}: expected a table")
        unknown = sorted(set(entry) - set(keys))
        if unknown:
            raise ConfigError(f"unknown option '{where}.{unknown[0]}' (known here: {', '.join(keys)})")
        missing = [k for k in keys if k not in entry]
        if missing:
            raise ConfigError(f"option '{where}.{missing[0]}': missing")
        checked = {k: _text(f"{where}.{k}", entry[k]) for k in keys}
        if not TARGET_NAME_RE.fullmatch(checked["name"]):
            raise ConfigError(f"option '{where}.name': {checked['name']!r} must be a short lowercase name")
        if checked["name"] in names:
            raise ConfigError(f"option '{where}.name': {checked['name']!r} is named twice")
        names.add(checked["name"])
        if "kind" in checked and checked["kind"] not in PROBE_KIND.by_name:
            raise ConfigError(
                f"option '{where}.kind': {checked['kind']!r} is not one of {list(PROBE_KIND.names())}"
            )
        entries.append(checked)
    return entries


def validate_document(data: Mapping[str, Any]) -> Document:
    """The document checked (unknown keys, types, bounds); ConfigError names the key otherwise."""
    unknown = sorted(set(data) - set(TOP_KEYS))
    if unknown:
        raise ConfigError(f"unknown option {unknown[0]!r} (known: {', '.join(TOP_KEYS)})")
    doc: Document = {}
    if "interval_seconds" in data:
        doc["interval_seconds"] = _integer(
            "interval_seconds",
            data["interval_seconds"],
            0,
            MAX_AGENT_INTERVAL_SECONDS,
            " (0: keep the agent's)",
        )
    if "antivirus_outdated_after_days" in data:
        key = "antivirus_outdated_after_days"
        doc[key] = _integer(key, data[key], 0, MAX_OUTDATED_DAYS, " (0: keep the agent's)")
    if "probe_intervals" in data:
        table = data["probe_intervals"]
        if not isinstance(table, dict):
            raise ConfigError("option 'probe_intervals': expected a table of probe = seconds")
        if len(table) > MAX_PROBES:
            raise ConfigError(f"option 'probe_intervals': at most {MAX_PROBES} probes")
        intervals: dict[str, int] = {}
        for name, seconds in table.items():
            if not PROBE_NAME_RE.fullmatch(name):
                raise ConfigError(f"option 'probe_intervals.{name}': not a probe name")
            intervals[name] = _integer(f"probe_intervals.{name}", seconds, 1, MAX_PROBE_INTERVAL_SECONDS)
        doc["probe_intervals"] = intervals
    if "targets" in data:
        doc["targets"] = _entries("targets", data["targets"], TARGET_KEYS, MAX_TARGETS)
    if "snmp_devices" in data:
        doc["snmp_devices"] = _entries("snmp_devices", data["snmp_devices"], DEVICE_KEYS, MAX_NETWORK_DEVICES)
    return doc


def merge(documents: Sequence[Document]) -> Document:
    """Documents from least to most specific merged: the most specific value of each key wins, lists
    whole, probe_intervals probe by probe."""
    merged: Document = {}
    for doc in documents:
        for key, value in doc.items():
            if key == "probe_intervals":
                merged["probe_intervals"] = {**merged.get("probe_intervals", {}), **value}
            else:
                merged[key] = value
    return merged


def version_of(doc: Document) -> str:
    """The version of a merged document: a digest of its canonical JSON."""
    canonical = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode()).hexdigest()[:VERSION_LENGTH]


def to_message(doc: Document, version: str) -> pb.AgentConfig:
    """The wire form of a merged document."""
    message = pb.AgentConfig(
        version=version,
        interval_seconds=doc.get("interval_seconds", 0),
        antivirus_outdated_after_days=doc.get("antivirus_outdated_after_days", 0),
    )
    for name, seconds in sorted(doc.get("probe_intervals", {}).items()):
        message.probe_intervals[name] = seconds
    for target in doc.get("targets", ()):
        # A kind stored without a check (a crafted document) goes out as UNSPECIFIED: the agent refuses it.
        kind = PROBE_KIND.number(target["kind"])
        message.targets.add(name=target["name"], kind=kind, address=target["address"])
    for device in doc.get("snmp_devices", ()):
        message.snmp_devices.add(
            name=device["name"], address=device["address"], credential_ref=device["credential"]
        )
    return message
