"""Facts about the host that change rarely: name, OS, kernel, CPU count, memory, identity."""

from __future__ import annotations

import platform
import socket
import sys
from dataclasses import dataclass
from pathlib import Path

MACHINE_ID_PATHS = (Path("/etc/machine-id"), Path("/var/lib/dbus/machine-id"))
# Windows: HKLM\SOFTWARE\Microsoft\Cryptography, value MachineGuid (in the 64-bit registry view).
MACHINE_GUID_KEY = r"SOFTWARE\Microsoft\Cryptography"
# Prefix of the hashed machine identity, so the value sent is fleetwatch's own, not the OS id
# (machine-id(5): applications should not expose the raw id).
IDENTITY_PREFIX = b"fleetwatch machine identity\x00"


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


def windows_machine_guid() -> str:
    """MachineGuid from the registry; "" where there is none (or not on Windows)."""
    if sys.platform != "win32":
        return ""
    import winreg

    access = winreg.KEY_READ | winreg.KEY_WOW64_64KEY  # also from a 32-bit Python
    try:
        with winreg.OpenKey(winreg.HKEY_LOCAL_MACHINE, MACHINE_GUID_KEY, 0, access) as key:
            value, kind = winreg.QueryValueEx(key, "MachineGuid")
    except OSError:
        return ""
    return value.strip() if kind == winreg.REG_SZ and isinstance(value, str) else ""


def read_machine_id(machine_id_paths: tuple[Path, ...] = MACHINE_ID_PATHS) -> str:
    """The operating system's id of this machine (/etc/machine-id, MachineGuid); "" if none."""
    if sys.platform == "win32":
        return windows_machine_guid()
    for path in machine_id_paths:
        try:
            machine_id = path.read_text().strip()
        except OSError:
            continue
        if machine_id:
            return machine_id
    return ""


def machine_identity(override: str = "", machine_id_paths: tuple[Path, ...] = MACHINE_ID_PATHS) -> str:
    """Digest of ``override`` (`[agent] id`) or of the machine id, sent at enrolment; "" if neither."""
    import hashlib  # enrolment only: not in the running agent

    raw = override or read_machine_id(machine_id_paths)
    return hashlib.sha256(IDENTITY_PREFIX + raw.encode()).hexdigest() if raw else ""


def derive_agent_id(machine_id_paths: tuple[Path, ...] = MACHINE_ID_PATHS) -> str:
    """A stable agent id from the machine id (or the MAC address where there is none)."""
    import hashlib

    machine_id = read_machine_id(machine_id_paths)
    if machine_id:
        return "a-" + hashlib.sha256(machine_id.encode()).hexdigest()[:16]
    import uuid  # only here: the running agent never needs it

    node = uuid.getnode()
    # uuid.getnode() makes up a random number (multicast bit set) when no MAC can be read;
    # the hostname is then the only stable fact left.
    seed = socket.gethostname().encode() if (node >> 40) & 1 else node.to_bytes(8, "big")
    return "a-" + hashlib.sha256(seed).hexdigest()[:16]
