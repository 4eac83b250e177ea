"""The devices and credentials of [probes.snmp], checked without touching the network or the secrets.

Pure: every function takes the configured values and raises ``ValueError("<option>: why")`` naming
the option path below ``probes.snmp`` (the loader adds the file and the prefix).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fleetwatch_proto.limits import DEVICE_NAME_RE, MAX_DEVICE_INTERFACES

# Device names are label values ("r1", "core-sw.2"): the contract's pattern. Credential names are
# spelled the same way.
NAME_RE = DEVICE_NAME_RE
DEFAULT_PORT = 161
# The options of a credential table (fleetwatch_snmp.credentials.load_credentials reads them).
CREDENTIAL_OPTIONS = frozenset(
    {"version", "community_file", "user", "auth_protocol", "auth_key_file", "priv_protocol", "priv_key_file",
     "engine_id"}
)  # fmt: skip
FILE_OPTIONS = ("community_file", "auth_key_file", "priv_key_file")
# Secrets written into the configuration itself: refused, they belong in files of their own.
INLINE_SECRETS = {"community": "community_file", "auth_key": "auth_key_file", "priv_key": "priv_key_file"}
_HOST_RE = re.compile(r"^[A-Za-z0-9_]([A-Za-z0-9._-]{0,252})$")


@dataclass(frozen=True)
class DeviceConfig:
    """One router or switch of the site: an entry of [[probes.snmp.devices]]."""

    # Label value in metrics: a short lowercase name, e.g. "r1" or "core-sw".
    name: str
    # host or host:port (port 161 by default); IPv6 as [fd00::1]:161 or a bare fd00::1.
    address: str
    # Name of a table of [probes.snmp.credentials].
    credential: str
    # Interfaces to leave out: regular expressions matched against ifName (else ifDescr).
    exclude_names: tuple[str, ...] = ()
    # Most interfaces reported (the lowest ifIndexes are kept; the rest are counted as omitted). All the
    # devices of one report carry at most MAX_REPORT_DEVICE_INTERFACES (256) together (wire.cap_interfaces).
    max_interfaces: int = 256


def split_address(address: str) -> tuple[str, int]:
    """(host, port) of ``host``, ``host:port``, ``[v6]``, ``[v6]:port`` or a bare IPv6 address."""
    text = address.strip()
    if text != address or not text:
        raise ValueError("must be host or host:port without spaces")
    if text.startswith("["):
        inside, closing, rest = text[1:].partition("]")
        if not closing or (rest and not rest.startswith(":")):
            raise ValueError("must be [IPv6] or [IPv6]:port")
        _ipv6(inside)
        return inside, _port(rest[1:]) if rest else DEFAULT_PORT
    if text.count(":") > 1:  # a bare IPv6 address carries no port
        _ipv6(text)
        return text, DEFAULT_PORT
    host, sep, port = text.partition(":")
    if not _HOST_RE.fullmatch(host):
        raise ValueError("must be a host name or an IPv4 address, with :port optional")
    return host, _port(port) if sep else DEFAULT_PORT


def _ipv6(text: str) -> None:
    try:
        ipaddress.IPv6Address(text.split("%", 1)[0])  # fe80::1%eth0: with its interface
    except ValueError as exc:
        raise ValueError(f"{text!r} is not an IPv6 address") from exc


def _port(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise ValueError(f"port {text!r} must be a number from 1 to 65535")
    return int(text)


def is_loopback(host: str) -> bool:
    """Whether ``host`` is on loopback by its spelling alone (no name lookup)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def validate_devices(devices: Sequence[DeviceConfig], credential_names: Sequence[str]) -> None:
    """Names unique label values, addresses well formed, credentials known, filters valid."""
    seen: dict[str, int] = {}
    for i, device in enumerate(devices):
        at = f"devices[{i}]"
        if not NAME_RE.fullmatch(device.name):
            raise ValueError(
                f"{at}.name: {device.name!r} must be letters, digits, '.', '_' or '-', at most 63"
            )
        if device.name in seen:
            raise ValueError(
                f"{at}.name: {device.name!r} is already the name of devices[{seen[device.name]}]"
            )
        seen[device.name] = i
        try:
            split_address(device.address)
        except ValueError as exc:
            raise ValueError(f"{at}.address: {device.address!r}: {exc}") from exc
        if device.credential not in credential_names:
            known = ", ".join(sorted(credential_names)) or "none: add a [probes.snmp.credentials.NAME] table"
            raise ValueError(f"{at}.credential: {device.credential!r} is not a credential (known: {known})")
        for j, pattern in enumerate(device.exclude_names):
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(
                    f"{at}.exclude_names[{j}]: {pattern!r} is not a regular expression: {exc}"
                ) from exc
        if not 1 <= device.max_interfaces <= MAX_DEVICE_INTERFACES:
            raise ValueError(f"{at}.max_interfaces: must be between 1 and {MAX_DEVICE_INTERFACES}")


def validate_credential_tables(credentials: Mapping[str, Any], credentials_dir: str) -> None:
    """Each credential a table of known string options; secrets only by file; relative files need a folder."""
    if not isinstance(credentials, Mapping):
        raise ValueError("credentials: expected tables [probes.snmp.credentials.NAME]")
    for name, table in credentials.items():
        at = f"credentials.{name}"
        if not NAME_RE.fullmatch(name):
            raise ValueError(f"{at}: the name must be letters, digits, '.', '_' or '-', at most 63")
        if not isinstance(table, Mapping):
            raise ValueError(f"{at}: expected a table [probes.snmp.credentials.{name}]")
        for key, value in table.items():
            if key in INLINE_SECRETS:
                raise ValueError(
                    f"{at}.{key}: secrets are not written in the configuration; put it alone in a file "
                    f"readable by the agent only and name that file with {INLINE_SECRETS[key]}"
                )
            if key not in CREDENTIAL_OPTIONS:
                raise ValueError(
                    f"{at}.{key}: unknown option (known here: {', '.join(sorted(CREDENTIAL_OPTIONS))})"
                )
            if not isinstance(value, str):
                raise ValueError(f"{at}.{key}: expected a string")
        for key in FILE_OPTIONS:
            path = table.get(key, "")
            if path and not credentials_dir and not _absolute(path):
                raise ValueError(
                    f"{at}.{key}: {path!r} is relative: give an absolute path or set credentials_dir"
                )


def _absolute(path: str) -> bool:
    # Both spellings, whatever the platform running the check: C:\..., C:/..., \\server\share, /etc/...
    return path.startswith(("/", "\\")) or bool(re.match(r"^[A-Za-z]:[\\/]", path))
