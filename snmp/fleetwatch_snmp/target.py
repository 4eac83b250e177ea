"""What to poll: a device (name, address, credential, time limits) and which of its interfaces to report."""

from __future__ import annotations

import ipaddress
import math
import re
from dataclasses import dataclass, field

from fleetwatch_proto.limits import CONTROL_CHARACTERS, DEVICE_NAME_RE, MAX_DEVICE_INTERFACES
from fleetwatch_snmp.credentials import Credential

DEFAULT_PORT = 161
# IANAifType numbers left out by default: softwareLoopback, propVirtual, tunnel, l2vlan, other.
DEFAULT_EXCLUDED_TYPES = frozenset({24, 53, 131, 135, 1})
DEFAULT_MAX_INTERFACES = 256
MAX_RETRIES = 10
MAX_REPETITIONS = 200


@dataclass(frozen=True)
class InterfaceFilter:
    """Interfaces left out of a device's report, and the most it may carry.

    ``exclude_names`` are regular expressions searched in ifName and in ifDescr (anchor them with
    ``^...$`` to match a whole name). Beyond ``max_interfaces`` the lowest ifIndexes are kept.
    """

    exclude_types: frozenset[int] = DEFAULT_EXCLUDED_TYPES
    exclude_names: tuple[str, ...] = ()
    max_interfaces: int = DEFAULT_MAX_INTERFACES
    _patterns: tuple[re.Pattern[str], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "exclude_types", frozenset(self.exclude_types))
        object.__setattr__(self, "exclude_names", tuple(self.exclude_names))
        if any(not isinstance(number, int) or number < 0 for number in self.exclude_types):
            raise ValueError(
                f"exclude_types: IANAifType numbers expected, got {sorted(self.exclude_types)!r}"
            )
        patterns = []
        for pattern in self.exclude_names:
            try:
                patterns.append(re.compile(pattern))
            except (re.error, TypeError) as exc:
                raise ValueError(f"exclude_names: {pattern!r} is not a regular expression: {exc}") from None
        object.__setattr__(self, "_patterns", tuple(patterns))
        if not isinstance(self.max_interfaces, int) or not 1 <= self.max_interfaces <= MAX_DEVICE_INTERFACES:
            raise ValueError(f"max_interfaces: {self.max_interfaces!r} is not in 1..{MAX_DEVICE_INTERFACES}")

    def excludes(self, if_type: int, names: tuple[str, ...]) -> bool:
        """Whether an interface of this ifType, named so (ifName, ifDescr), is left out."""
        if if_type in self.exclude_types:
            return True
        return any(pattern.search(name) for pattern in self._patterns for name in names if name)


@dataclass(frozen=True)
class DeviceTarget:
    """One device to poll; ``address`` is ``host``, ``host:port``, ``[IPv6]`` or ``[IPv6]:port``."""

    name: str
    address: str
    credential: Credential
    timeout_seconds: float = 2.0  # per request (each retry waits as long again)
    retries: int = 1
    deadline_seconds: float = 10.0  # the whole poll of the device
    max_repetitions: int = 25  # GETBULK max-repetitions
    interfaces: InterfaceFilter = field(default_factory=InterfaceFilter)
    host: str = field(init=False, repr=False, compare=False)
    port: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        def fail(field_name: str, problem: str) -> ValueError:
            return ValueError(f"device {self.name!r}: {field_name}: {problem}")

        if not isinstance(self.name, str) or not DEVICE_NAME_RE.match(self.name):
            raise fail(
                "name", "letters, digits, '.', '_' or '-', at most 63, starting with a letter or digit"
            )
        if not isinstance(self.credential, Credential):
            raise fail("credential", f"expected a Credential, got {type(self.credential).__name__}")
        try:
            host, port = parse_address(self.address)
        except ValueError as exc:
            raise fail("address", str(exc)) from None
        object.__setattr__(self, "host", host)
        object.__setattr__(self, "port", port)
        for number_field in ("timeout_seconds", "deadline_seconds"):
            value = getattr(self, number_field)
            if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
                raise fail(number_field, f"expected a number of seconds, got {value!r}")
        if not 0 < self.timeout_seconds <= 60:
            raise fail("timeout_seconds", f"{self.timeout_seconds!r} is not in (0, 60]")
        if (
            isinstance(self.retries, bool)
            or not isinstance(self.retries, int)
            or not 0 <= self.retries <= MAX_RETRIES
        ):
            raise fail("retries", f"{self.retries!r} is not in 0..{MAX_RETRIES}")
        if not 0 < self.deadline_seconds <= 3600:
            raise fail("deadline_seconds", f"{self.deadline_seconds!r} is not in (0, 3600]")
        if not isinstance(self.max_repetitions, int) or not 1 <= self.max_repetitions <= MAX_REPETITIONS:
            raise fail("max_repetitions", f"{self.max_repetitions!r} is not in 1..{MAX_REPETITIONS}")
        if not isinstance(self.interfaces, InterfaceFilter):
            raise fail("interfaces", f"expected an InterfaceFilter, got {type(self.interfaces).__name__}")

    @property
    def is_ipv6(self) -> bool:
        return ":" in self.host


def parse_address(address: str) -> tuple[str, int]:
    """(host, port) of ``host``, ``host:port``, ``[IPv6]``, ``[IPv6]:port`` or a bare IPv6 literal."""
    if not isinstance(address, str):
        raise ValueError(f"expected a string, got {type(address).__name__}")
    text = address.strip()
    if not text or CONTROL_CHARACTERS.search(address) or " " in text:
        raise ValueError(f"{address!r}: expected host, host:port or [IPv6]:port")
    port_text = ""
    if text.startswith("["):
        end = text.find("]")
        rest = text[end + 1 :] if end > 0 else ""
        if end < 0 or (rest and not rest.startswith(":")):
            raise ValueError(f"{address!r}: write an IPv6 address as [address] or [address]:port")
        host, port_text = text[1:end], rest[1:]
        if rest == ":":
            raise ValueError(f"{address!r}: a port number is missing after ':'")
        _check_ipv6(address, host)
    elif text.count(":") == 1:
        host, port_text = text.split(":")
        if not port_text:
            raise ValueError(f"{address!r}: a port number is missing after ':'")
    elif ":" in text:
        host = text
        _check_ipv6(address, host)
    else:
        host = text
    if not host:
        raise ValueError(f"{address!r}: the host is missing")
    if not port_text:
        return host, DEFAULT_PORT
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f"{address!r}: port {port_text!r} is not a number in 1-65535")
    return host, int(port_text)


def _check_ipv6(address: str, host: str) -> None:
    try:
        ipaddress.IPv6Address(host.split("%", 1)[0])
    except ValueError:
        raise ValueError(f"{address!r}: {host!r} is not an IPv6 address") from None
