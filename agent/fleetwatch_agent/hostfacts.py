"""Facts about the host that change rarely: name, OS, kernel, CPU count, memory, identity."""

from __future__ import annotations

import hashlib
import platform
import socket
import uuid
from dataclasses import dataclass
from pathlib import Path

MACHINE_ID_PATHS = (Path("/etc/machine-id"), Path("/var/lib/dbus/machine-id"))


@dataclass(frozen=True)
class HostFacts:
    hostname: str
    os_family: str
    os_name: str
    os_version: str
    kernel: str
    arch: str
    cpu_count: int
    memory_total_bytes: int
    boot_time_unix: int


def os_release_name(fields: dict[str, str]) -> tuple[str, str]:
    """Display name and version from /etc/os-release fields."""
    name = fields.get("PRETTY_NAME") or fields.get("NAME") or "Linux"
    return name, fields.get("VERSION_ID", "")


def read_host_facts() -> HostFacts:
    """Read the facts of this host."""
    import psutil

    system = platform.system()
    if system == "Linux":
        try:
            os_name, os_version = os_release_name(platform.freedesktop_os_release())
        except OSError:
            os_name, os_version = "Linux", ""
    elif system == "Windows":
        release, version, _csd, _ptype = platform.win32_ver()
        os_name, os_version = f"Windows {release} {platform.win32_edition() or ''}".strip(), version
    else:
        os_name, os_version = system, platform.version()
    return HostFacts(
        hostname=socket.gethostname().split(".")[0] or "unknown",
        os_family=system.lower() or "unknown",
        os_name=os_name,
        os_version=os_version,
        kernel=platform.release(),
        arch=platform.machine(),
        cpu_count=psutil.cpu_count() or 1,
        memory_total_bytes=psutil.virtual_memory().total,
        boot_time_unix=int(psutil.boot_time()),
    )


def derive_agent_id(machine_id_paths: tuple[Path, ...] = MACHINE_ID_PATHS) -> str:
    """A stable agent id from the machine id (or the MAC address where there is none)."""
    for path in machine_id_paths:
        try:
            machine_id = path.read_text().strip()
        except OSError:
            continue
        if machine_id:
            return "a-" + hashlib.sha256(machine_id.encode()).hexdigest()[:16]
    node = uuid.getnode()
    # uuid.getnode() makes up a random number (multicast bit set) when no MAC can be read;
    # the hostname is then the only stable fact left.
    seed = socket.gethostname().encode() if (node >> 40) & 1 else node.to_bytes(8, "big")
    return "a-" + hashlib.sha256(seed).hexdigest()[:16]
