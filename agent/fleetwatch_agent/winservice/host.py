"""What the Windows service does at start, without pywin32: logs, the folder check, configuration, agent."""

from __future__ import annotations

import logging
import ntpath
import os
from collections.abc import Callable
from dataclasses import dataclass
from logging.handlers import RotatingFileHandler
from pathlib import Path

from fleetwatch_agent.config import AgentConfig, load_config
from fleetwatch_agent.credentials import CredentialError
from fleetwatch_agent.platformdefaults import DEFAULTS, LOG_DIR_NAME, PlatformDefaults
from fleetwatch_agent.winservice.acl import InsecureDirectory
from fleetwatch_agent.winservice.controller import STOP_TIMEOUT_SECONDS, Agent, Reporter, ServiceController
from fleetwatch_agent.winservice.scm import CONFIG_OPTION
from fleetwatch_proto.tomlconfig import ConfigError

LOG_FILE_NAME = "agent.log"
LOG_FILE_BYTES = 5 * 1024 * 1024
LOG_FILE_BACKUPS = 5
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# The Event Log gets warnings and errors only: what an administrator must look at.
EVENT_LOG_LEVEL = logging.WARNING
# Errors that a restart does not cure: the start is refused with ExitCode.CONFIGURATION.
REFUSALS = (ConfigError, CredentialError, InsecureDirectory)


@dataclass(frozen=True)
class HostWorld:
    """The Windows facilities the service uses, passed in by the pywin32 shell (faked by tests)."""

    # A value of the service's Parameters registry key (GetServiceCustomOption); None if unset.
    read_option: Callable[[str], str | None]
    # Create the folder private, or raise InsecureDirectory (acl_windows.ensure_private_dir).
    secure_dir: Callable[[Path], None]
    # Raise InsecureDirectory when others may open the file (acl_windows.check_private_file).
    check_file: Callable[[Path], None]
    # A handler writing to the Event Log (logging.handlers.NTEventLogHandler).
    event_log_handler: Callable[[], logging.Handler]


def file_handler(log_dir: Path) -> logging.Handler:
    """The agent's log file in ``log_dir`` (it inherits the data folder's DACL): 5 files of 5 MiB."""
    log_dir.mkdir(exist_ok=True)
    handler = RotatingFileHandler(
        log_dir / LOG_FILE_NAME, maxBytes=LOG_FILE_BYTES, backupCount=LOG_FILE_BACKUPS, encoding="utf-8"
    )
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    return handler


def event_log_handler(make: Callable[[], logging.Handler]) -> logging.Handler:
    handler = make()
    handler.setLevel(EVENT_LOG_LEVEL)
    handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))  # the Event Log has the time
    return handler


def child_python(executable: str, exec_prefix: str, exists: Callable[[str], bool] = os.path.exists) -> str:
    """The python.exe child processes need (``sys.executable -m ...``) when the host is pythonservice.exe."""
    # pythonservice.exe runs no `-m module`: the LAN sweep's child would fail. It sits in
    # sys.exec_prefix, beside python.exe, or in a virtual environment above Scripts\python.exe.
    if not ntpath.basename(executable).lower().startswith("pythonservice"):
        return executable
    for candidate in (
        ntpath.join(exec_prefix, "python.exe"),
        ntpath.join(exec_prefix, "Scripts", "python.exe"),
    ):
        if exists(candidate):
            return candidate
    return executable


def default_agent(config: AgentConfig) -> Agent:
    from fleetwatch_agent.service import AgentService

    return AgentService(config)


class ServiceHost:
    """Builds the agent the way the service runs it, under a ServiceController."""

    # The order matters: the Event Log first, so that every refusal is seen; the configuration,
    # whose file must be private too (it says where the credential is sent); the data folder's
    # check before anything is written into it; then the log file, in the data folder.

    def __init__(
        self,
        world: HostWorld,
        report: Reporter,
        *,
        defaults: PlatformDefaults = DEFAULTS,
        make_agent: Callable[[AgentConfig], Agent] = default_agent,
        logger: logging.Logger | None = None,
        stop_timeout: float = STOP_TIMEOUT_SECONDS,
    ) -> None:
        self._world = world
        self._defaults = defaults
        self._make_agent = make_agent
        self._logger = logger or logging.getLogger()
        self.controller = ServiceController(
            self._start, report, configuration_errors=REFUSALS, stop_timeout=stop_timeout
        )

    def run(self) -> int:
        """The service's whole run; the exit code is 0 after a requested stop."""
        return int(self.controller.run())

    def _start(self) -> Agent:
        logger = self._logger
        logger.setLevel(logging.INFO)
        logger.addHandler(event_log_handler(self._world.event_log_handler))
        config_path = Path(self._world.read_option(CONFIG_OPTION) or self._defaults.config_path)
        config = load_config(config_path)
        self._world.check_file(config_path)
        data_dir = Path(config.agent.data_dir)
        self._world.secure_dir(data_dir)
        logger.addHandler(file_handler(data_dir / LOG_DIR_NAME))
        logger.setLevel(config.agent.log_level.upper())
        logger.info("configuration %s, data folder %s", config_path, data_dir)
        return self._make_agent(config)
