"""The configuration as fleetwatch_snmp's credentials, targets and poller (imported when enabled only)."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from fleetwatch_agent.probes.snmp.collect import PlannedDevice
from fleetwatch_agent.probes.snmp.devices import FILE_OPTIONS, is_loopback, split_address
from fleetwatch_snmp.credentials import Credential, load_credentials
from fleetwatch_snmp.poller import Poller
from fleetwatch_snmp.target import DeviceTarget, InterfaceFilter

if TYPE_CHECKING:
    from fleetwatch_agent.probes.snmp import SnmpConfig

# Set to 1 in labs, tests and the demo: only devices on 127.0.0.0/8 (or ::1, localhost) are polled.
LOOPBACK_ONLY_ENV = "FLEETWATCH_LOOPBACK_ONLY"


def loopback_only() -> bool:
    return os.environ.get(LOOPBACK_ONLY_ENV, "") == "1"


def base_dir(config: SnmpConfig) -> Path:
    return Path(config.credentials_dir) if config.credentials_dir else Path.cwd()


def check_secret_files(config: SnmpConfig) -> None:
    """Every secret file exists and, on POSIX, is not readable by every user of the machine."""
    for name, table in config.credentials.items():
        for key in FILE_OPTIONS:
            value = table.get(key, "")
            if not value:
                continue
            path = base_dir(config) / value
            try:
                mode = path.stat().st_mode & 0o777
            except OSError as exc:
                raise ValueError(f"credentials.{name}.{key}: {path}: {exc.strerror or exc}") from exc
            if os.name == "posix" and mode & 0o007:
                raise ValueError(
                    f"credentials.{name}.{key}: {path}: mode {mode:o} lets every user read the secret; "
                    "chmod 600 it (or 640 with the agent's group)"
                )


def load(config: SnmpConfig) -> dict[str, Credential]:
    """The credentials of [probes.snmp.credentials], secrets read from their files."""
    try:
        return load_credentials({k: dict(v) for k, v in config.credentials.items()}, base_dir(config))
    except ValueError as exc:
        raise ValueError(f"credentials: {exc}") from exc


def secrets_of(credentials: Iterable[Credential]) -> tuple[str, ...]:
    """Every secret value, to keep out of texts that leave the probe."""
    return tuple(secret for credential in credentials for secret in credential.secrets())


def plan(config: SnmpConfig, credentials: dict[str, Credential]) -> list[PlannedDevice]:
    """One planned device per configured one, in order; FLEETWATCH_LOOPBACK_ONLY=1 polls loopbacks only."""
    planned = []
    for device in config.devices:
        host, _port = split_address(device.address)
        if loopback_only() and not is_loopback(host):
            reason = f"not polled: {LOOPBACK_ONLY_ENV}=1 allows loopback addresses only"
            planned.append(PlannedDevice(device.name, device.address, None, reason))
            continue
        target = DeviceTarget(
            name=device.name,
            address=device.address,
            credential=credentials[device.credential],
            timeout_seconds=config.request_timeout_seconds,
            retries=config.retries,
            deadline_seconds=config.deadline_seconds,
            interfaces=InterfaceFilter(
                exclude_names=device.exclude_names, max_interfaces=device.max_interfaces
            ),
        )
        planned.append(PlannedDevice(device.name, device.address, target))
    return planned


def new_poller(max_concurrent: int) -> Poller:
    return Poller(max_concurrent=max_concurrent)
