"""The devices file of the central SNMP poller: [[device]] entries checked against the site inventory.

```toml
[[device]]
name = "rt-xa-an-cu"            # the `device` label (DEVICE_NAME_RE), unique in the file
site = "xa-an-cu"               # a site (or alias) of the inventory: its site, district, site_type labels
address = "10.20.30.1"          # host, host:port, [IPv6]:port; default port 161
credential = "routers-v2c"      # a [snmp.credentials.NAME] of the collector's configuration
exclude_types = [24, 53, 131]   # optional: IANAifType numbers left out (default: the poller's)
exclude_names = ["^Null", "^Vlan"]  # optional: regexes on ifName/ifDescr left out
max_interfaces = 64             # optional: at most this many interfaces (lowest ifIndexes kept)
```
"""

from __future__ import annotations

import ipaddress
import re
import tomllib
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fleetwatch_proto.limits import DEVICE_NAME_RE, MAX_DEVICE_INTERFACES
from fleetwatch_proto.sites import Inventory
from fleetwatch_proto.tomlconfig import ConfigError, decode

KEYS = {"name", "site", "address", "credential", "exclude_types", "exclude_names", "max_interfaces"}
REQUIRED = ("name", "site", "address", "credential")


@dataclass(frozen=True)
class DeviceEntry:
    """One device of the file, checked."""

    name: str
    site: str  # the slug as written (an alias resolves to its site when labels are made)
    address: str
    credential: str
    exclude_types: tuple[int, ...] | None = None  # None: the poller's default
    exclude_names: tuple[str, ...] = ()
    max_interfaces: int | None = None  # None: the poller's default, at most MAX_DEVICE_INTERFACES


def address_host(address: str) -> str:
    """The host of ``host``, ``host:port``, ``[v6]:port`` or a bare IPv6 address."""
    if address.startswith("["):
        return address[1 : address.find("]")] if "]" in address else address
    if address.count(":") == 1:
        return address.partition(":")[0]
    return address


def address_problem(address: str) -> str | None:
    """Why ``address`` is not host, host:port or [IPv6]:port; None when it is."""
    if not address or any(c.isspace() for c in address):
        return "empty or with spaces"
    if address.startswith("["):
        inside, sep, rest = address[1:].partition("]")
        if not sep or (rest and not (rest.startswith(":") and rest[1:].isdigit())):
            return "not [IPv6]:port"
        port = rest[1:] if rest else "161"
        try:
            ipaddress.IPv6Address(inside)
        except ValueError:
            return f"{inside!r} is not an IPv6 address"
    elif address.count(":") == 1:
        host, _, port = address.partition(":")
        if not host or not port.isdigit():
            return "not host:port"
    else:
        port = "161"
        if ":" in address:
            try:
                ipaddress.IPv6Address(address)
            except ValueError:
                return "not an IPv6 address (write [IPv6]:port with a port)"
    return None if 1 <= int(port) <= 65535 else f"port {port} out of 1-65535"


def _text(entry: dict[str, Any], key: str, where: str) -> str:
    value = entry.get(key, "")
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{where}.{key}: expected a non-empty string, got {value!r}")
    return value


def _entry(entry: Any, where: str, sites: Inventory, credentials: Collection[str]) -> DeviceEntry:
    if not isinstance(entry, dict):
        raise ConfigError(f"{where}: expected a table")
    unknown = sorted(set(entry) - KEYS)
    if unknown:
        raise ConfigError(f"{where}: unknown key {unknown[0]!r} (known: {', '.join(sorted(KEYS))})")
    for key in REQUIRED:
        if key not in entry:
            raise ConfigError(f"{where}: missing key {key!r}")
    name = _text(entry, "name", where)
    if not DEVICE_NAME_RE.fullmatch(name):
        raise ConfigError(f"{where}.name: {name!r} is not a device name (letters, digits, . _ -; 63 at most)")
    where = f"{where} ({name})"
    site = _text(entry, "site", where)
    if sites.resolve(site) is None:
        raise ConfigError(f"{where}.site: {site!r} is not a site of the inventory ({sites.name or 'in use'})")
    address = _text(entry, "address", where)
    problem = address_problem(address)
    if problem:
        raise ConfigError(f"{where}.address: {address!r}: {problem}")
    credential = _text(entry, "credential", where)
    if credential not in credentials:
        known = ", ".join(sorted(credentials)) or "none is configured"
        raise ConfigError(f"{where}.credential: {credential!r} is not in [snmp.credentials] ({known})")
    types = entry.get("exclude_types")
    if types is not None and not (
        isinstance(types, list) and all(isinstance(t, int) and not isinstance(t, bool) for t in types)
    ):
        raise ConfigError(f"{where}.exclude_types: expected a list of IANAifType numbers")
    names = entry.get("exclude_names", [])
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ConfigError(f"{where}.exclude_names: expected a list of regular expressions")
    for pattern in names:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ConfigError(f"{where}.exclude_names: {pattern!r}: {exc}") from exc
    cap = entry.get("max_interfaces")
    if cap is not None and (
        isinstance(cap, bool) or not isinstance(cap, int) or not 1 <= cap <= MAX_DEVICE_INTERFACES
    ):
        raise ConfigError(f"{where}.max_interfaces: expected a number from 1 to {MAX_DEVICE_INTERFACES}")
    return DeviceEntry(
        name, site, address, credential, None if types is None else tuple(types), tuple(names), cap
    )


def parse_devices(
    data: dict[str, Any], source: str, sites: Inventory, credentials: Collection[str]
) -> tuple[DeviceEntry, ...]:
    """The devices of a parsed file; a ConfigError names the file, the entry and the key."""
    unknown = sorted(set(data) - {"device"})
    if unknown:
        raise ConfigError(f"{source}: unknown key {unknown[0]!r}: devices are [[device]] tables")
    entries = data.get("device", [])
    if not isinstance(entries, list):
        raise ConfigError(f"{source}: 'device' must be a list of tables ([[device]])")
    devices = tuple(
        _entry(entry, f"{source}: device[{i}]", sites, credentials) for i, entry in enumerate(entries)
    )
    seen: set[str] = set()
    for device in devices:
        if device.name in seen:
            raise ConfigError(f"{source}: device {device.name!r} appears twice")
        seen.add(device.name)
    return devices


def load_devices(path: Path, sites: Inventory, credentials: Collection[str]) -> tuple[DeviceEntry, ...]:
    """Read and check a devices file."""
    source = f"devices file {path}"
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{source}: {exc.strerror or exc}") from exc
    try:
        data = tomllib.loads(decode(raw, source))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: invalid TOML: {exc}") from exc
    return parse_devices(data, source, sites, credentials)
