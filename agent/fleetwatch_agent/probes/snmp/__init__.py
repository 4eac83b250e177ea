"""The snmp probe: the site's routers and switches polled by one workstation of the site (off by default)."""

from __future__ import annotations

import importlib.util
import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from fleetwatch_agent.probes.context import ProbeContext
from fleetwatch_agent.probes.definition import ProbeDefinition, check_interval
from fleetwatch_agent.probes.snmp import summary, wire
from fleetwatch_agent.probes.snmp.devices import DeviceConfig, validate_credential_tables, validate_devices
from fleetwatch_agent.probes.snmp.model import SnmpResult
from fleetwatch_proto.limits import MAX_NETWORK_DEVICES
from fleetwatch_proto.tomlconfig import ConfigError

__all__ = ["PROBE", "DeviceConfig", "SnmpConfig", "make_collector"]

INSTALL_HINT = "pip install 'fleetwatch[agent,snmp]'"
# What the probe imports once enabled (never before: workstations do not pay for pysnmp).
PACKAGES = ("fleetwatch_snmp", "pysnmp")
# The share of timeout_seconds the polls of a cycle may take (the rest is margin for the runner).
BUDGET_SHARE = 0.9


def missing_packages() -> list[str]:
    """The packages the probe needs that are not installed; found without importing them."""
    return [name for name in PACKAGES if importlib.util.find_spec(name) is None]


@dataclass(frozen=True)
class SnmpConfig:
    """Settings of the snmp probe: [probes.snmp]. Off by default: workstations do not poll routers."""

    # Enable it on one workstation per site; it needs the snmp extra: pip install 'fleetwatch[agent,snmp]'.
    enabled: bool = False
    # Seconds between two polls of the devices.
    interval_seconds: float = 60.0
    # Seconds one cycle's polls may take (they end by 90% of it); keep it below interval_seconds.
    timeout_seconds: float = 12.0
    # Seconds one device's whole poll may take (system group, ifTable, ifXTable); at most 90% of
    # timeout_seconds. A device still polling then is reported with a timeout.
    deadline_seconds: float = 10.0
    # Seconds to wait for the answer to one SNMP request, and how many times to send it again.
    request_timeout_seconds: float = 2.0
    retries: int = 1
    # Devices polled at the same time.
    max_concurrent: int = 4
    # Folder of the secret files named by relative paths in the credentials ("" = absolute paths only).
    credentials_dir: str = ""
    # Credentials by name: [probes.snmp.credentials.NAME] tables, secrets in files readable by the agent
    # only. v1/v2c: version, community_file. v3: version = "3", user, auth_protocol, auth_key_file,
    # priv_protocol, priv_key_file.
    credentials: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    # The devices: [[probes.snmp.devices]] name, address, credential, exclude_names, max_interfaces.
    devices: tuple[DeviceConfig, ...] = ()

    def __post_init__(self) -> None:
        # Read-only, like the rest of the frozen configuration (validate() names what is not a table).
        if isinstance(self.credentials, Mapping):
            frozen = {
                k: types.MappingProxyType(dict(v)) if isinstance(v, Mapping) else v
                for k, v in self.credentials.items()
            }
            object.__setattr__(self, "credentials", types.MappingProxyType(frozen))

    def validate(self) -> None:
        check_interval(self.interval_seconds)
        for name in ("timeout_seconds", "deadline_seconds", "request_timeout_seconds"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name}: must be positive")
        budget = self.timeout_seconds * BUDGET_SHARE
        if self.deadline_seconds > budget:
            raise ValueError(
                f"deadline_seconds: {self.deadline_seconds:g} does not fit in the probe's budget, 90% of "
                f"timeout_seconds ({budget:g} s): lower deadline_seconds or raise timeout_seconds"
            )
        if self.request_timeout_seconds > self.deadline_seconds:
            raise ValueError("request_timeout_seconds: must not be above deadline_seconds")
        if not 0 <= self.retries <= 10:
            raise ValueError("retries: must be between 0 and 10")
        if not 1 <= self.max_concurrent <= MAX_NETWORK_DEVICES:
            raise ValueError(f"max_concurrent: must be between 1 and {MAX_NETWORK_DEVICES}")
        if len(self.devices) > MAX_NETWORK_DEVICES:
            raise ValueError(f"devices: at most {MAX_NETWORK_DEVICES} devices per agent")
        validate_credential_tables(self.credentials, self.credentials_dir)
        validate_devices(self.devices, list(self.credentials))
        if self.enabled:
            self._validate_enabled()

    def _validate_enabled(self) -> None:
        """What only an enabled probe needs: devices, the packages, readable secret files."""
        if not self.devices:
            raise ValueError("devices: enabled = true needs at least one [[probes.snmp.devices]] entry")
        missing = missing_packages()
        if missing:
            raise ValueError(
                f"enabled: the snmp probe needs {' and '.join(missing)}, not installed here: {INSTALL_HINT}"
            )
        from fleetwatch_agent.probes.snmp import targets  # imports fleetwatch_snmp

        targets.check_secret_files(self)
        targets.load(self)


def make_collector(config: SnmpConfig, context: ProbeContext) -> Callable[[], SnmpResult]:
    missing = missing_packages()
    if missing:
        raise ConfigError(f"probes.snmp: needs {' and '.join(missing)}, not installed here: {INSTALL_HINT}")
    from fleetwatch_agent.probes.snmp.collect import make_collector as make

    try:
        return make(config, context)
    except ValueError as exc:  # a secret file changed since the configuration was read
        raise ConfigError(f"probes.snmp.{exc}") from exc


PROBE = ProbeDefinition("snmp", SnmpConfig, make_collector, wire.to_wire, summary.lines)
