"""Where the agent keeps its files on each platform: the one place that knows Linux and Windows paths."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath, PureWindowsPath

CREDENTIAL_FILE_NAME = "credential.json"
SPOOL_FILE_NAME = "spool.sqlite"
CONFIG_FILE_NAME = "agent.toml"
LOG_DIR_NAME = "logs"  # in the data folder (Windows)
# %ProgramData% when the environment does not say (a service started without a full environment).
PROGRAM_DATA_FALLBACK = "C:\\ProgramData"
# The folder under %ProgramData%: data, spool, credential, configuration and logs all live in it,
# readable by SYSTEM and Administrators only (winservice/acl.py).
WINDOWS_FOLDER = "fleetwatch"


def is_windows(platform: str = sys.platform) -> bool:
    """Whether ``platform`` (a ``sys.platform`` value) is Windows."""
    return platform == "win32"


@dataclass(frozen=True)
class PlatformDefaults:
    """Default locations of one platform; paths are strings in that platform's own spelling."""

    data_dir: str
    config_path: str
    # Rotating log files (the data folder's `logs`); "" = standard error only (systemd's journal).
    log_dir: str
    credential_path: str
    spool_path: str


def program_data(environ: Mapping[str, str]) -> str:
    """%ProgramData% from ``environ`` (its name in any case, as Windows treats it), else the fallback."""
    for name, value in environ.items():
        if name.upper() == "PROGRAMDATA" and PureWindowsPath(value).is_absolute():
            return value
    return PROGRAM_DATA_FALLBACK


def defaults_for(platform: str = sys.platform, environ: Mapping[str, str] | None = None) -> PlatformDefaults:
    """The defaults of ``platform`` with the environment ``environ`` (this process's by default)."""
    if is_windows(platform):
        folder = PureWindowsPath(program_data(os.environ if environ is None else environ), WINDOWS_FOLDER)
        return PlatformDefaults(
            data_dir=str(folder),
            config_path=str(folder / CONFIG_FILE_NAME),
            log_dir=str(folder / LOG_DIR_NAME),
            credential_path=str(folder / CREDENTIAL_FILE_NAME),
            spool_path=str(folder / SPOOL_FILE_NAME),
        )
    data_dir = PurePosixPath("/var/lib/fleetwatch-agent")
    return PlatformDefaults(
        data_dir=str(data_dir),
        config_path="/etc/fleetwatch/" + CONFIG_FILE_NAME,
        log_dir="",
        credential_path=str(data_dir / CREDENTIAL_FILE_NAME),
        spool_path=str(data_dir / SPOOL_FILE_NAME),
    )


# The defaults of the platform this process runs on, read once at import.
DEFAULTS = defaults_for()
