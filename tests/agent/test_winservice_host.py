"""The service's start without pywin32: Event Log and file logging, the folder check, the configuration."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Iterator
from logging.handlers import RotatingFileHandler
from pathlib import Path

import pytest

from fleetwatch_agent.config import AgentConfig
from fleetwatch_agent.platformdefaults import PlatformDefaults
from fleetwatch_agent.winservice.acl import InsecureDirectory
from fleetwatch_agent.winservice.controller import Agent
from fleetwatch_agent.winservice.host import (
    LOG_FILE_BACKUPS,
    LOG_FILE_BYTES,
    HostWorld,
    ServiceHost,
    child_python,
)
from fleetwatch_agent.winservice.scm import CONFIG_OPTION
from fleetwatch_agent.winservice.status import ERROR_SERVICE_SPECIFIC_ERROR, ExitCode, ServiceState
from tests.agent.winservice_fakes import FakeServiceManager

S = ServiceState


class EventLog(logging.Handler):
    """Stands in for NTEventLogHandler: keeps what would reach the Event Log."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


class Waiting:
    """An agent that runs until stopped, and says when it runs."""

    def __init__(self, config: AgentConfig) -> None:
        self.config = config
        self.running = threading.Event()

    async def run(self, stop: asyncio.Event) -> None:
        self.running.set()
        await stop.wait()


@pytest.fixture
def logger() -> Iterator[logging.Logger]:
    """The agent's logger in place of the root one the service uses; put back as it was afterwards."""
    agent_logger = logging.getLogger("fleetwatch_agent")
    level, handlers = agent_logger.level, list(agent_logger.handlers)
    yield agent_logger
    for handler in list(agent_logger.handlers):
        if handler not in handlers:
            agent_logger.removeHandler(handler)
            handler.close()
    agent_logger.setLevel(level)


def folders(tmp_path: Path) -> PlatformDefaults:
    folder = tmp_path / "ProgramData" / "fleetwatch"
    return PlatformDefaults(
        data_dir=str(folder),
        config_path=str(folder / "agent.toml"),
        log_dir=str(folder / "logs"),
        credential_path=str(folder / "credential.json"),
        spool_path=str(folder / "spool.sqlite"),
    )


class World:
    """The Windows side: registry values, folder and file checks (each may refuse), the Event Log."""

    def __init__(self, options: dict[str, str], refuse_dir: str = "", refuse_file: str = "") -> None:
        self.options = options
        self.refuse_dir = refuse_dir
        self.refuse_file = refuse_file
        self.checked: list[Path] = []
        self.event_log = EventLog()

    def secure_dir(self, path: Path) -> None:
        self.checked.append(path)
        if self.refuse_dir:
            raise InsecureDirectory(f"{path}: {self.refuse_dir}")
        path.mkdir(parents=True, exist_ok=True)

    def check_file(self, path: Path) -> None:
        self.checked.append(path)
        if self.refuse_file:
            raise InsecureDirectory(f"{path}: {self.refuse_file}")

    def host_world(self) -> HostWorld:
        return HostWorld(self.options.get, self.secure_dir, self.check_file, lambda: self.event_log)


def test_a_start_logs_to_the_file_and_warnings_to_the_event_log(
    tmp_path: Path, logger: logging.Logger
) -> None:
    defaults = folders(tmp_path)
    data_dir = tmp_path / "elsewhere"
    config_path = tmp_path / "site.toml"
    config_path.write_text(f"[agent]\ndata_dir = '{data_dir}'\nlog_level = 'debug'\n")
    world = World({CONFIG_OPTION: str(config_path)})
    agents: list[Waiting] = []

    def make_agent(config: AgentConfig) -> Agent:
        agents.append(Waiting(config))
        return agents[-1]

    scm = FakeServiceManager()
    host = ServiceHost(world.host_world(), scm, defaults=defaults, make_agent=make_agent, logger=logger)
    main = threading.Thread(target=host.run)
    main.start()
    try:
        assert _wait(lambda: S.RUNNING in scm.states() and agents[0].running.is_set())
        assert agents[0].config.agent.data_dir == str(data_dir)  # the file the registry names
        assert world.checked == [config_path, data_dir]
        assert logger.level == logging.DEBUG
        logger.debug("a debug line")
        logger.warning("a warning line")
    finally:
        host.controller.request_stop()
        main.join(30.0)
    assert scm.states() == [S.START_PENDING, S.RUNNING, S.STOP_PENDING, S.STOPPED]
    log_file = data_dir / "logs" / "agent.log"  # in the data folder, under its DACL
    text = log_file.read_text(encoding="utf-8")
    assert f"configuration {config_path}, data folder {data_dir}" in text
    assert "DEBUG" in text and "a debug line" in text
    # The Event Log gets warnings and above only, and nothing more than the message.
    assert [r.getMessage() for r in world.event_log.records if r.levelno >= world.event_log.level] == [
        "a warning line"
    ]
    assert world.event_log.level == logging.WARNING
    handler = next(h for h in logger.handlers if isinstance(h, RotatingFileHandler))
    assert (handler.maxBytes, handler.backupCount) == (LOG_FILE_BYTES, LOG_FILE_BACKUPS) == (5 * 1024**2, 5)


@pytest.mark.parametrize("what", ["folder", "configuration"])
def test_an_open_folder_or_configuration_is_refused_before_anything_is_written(
    tmp_path: Path, logger: logging.Logger, what: str
) -> None:
    defaults = folders(tmp_path)
    Path(defaults.data_dir).mkdir(parents=True)
    # The default file (no registry value names another), with the default data folder.
    Path(defaults.config_path).write_text(f"[agent]\ndata_dir = '{defaults.data_dir}'\n")
    why = "BUILTIN\\Users (S-1-5-32-545) may read"
    world = World({}, refuse_dir=why) if what == "folder" else World({}, refuse_file=why)
    scm = FakeServiceManager()
    host = ServiceHost(world.host_world(), scm, defaults=defaults, make_agent=Waiting, logger=logger)
    assert host.run() == ExitCode.CONFIGURATION
    assert scm.states() == [S.START_PENDING, S.STOPPED]
    assert (scm.last().win32_exit_code, scm.last().service_exit_code) == (ERROR_SERVICE_SPECIFIC_ERROR, 2)
    refused = defaults.data_dir if what == "folder" else defaults.config_path
    errors = [r.getMessage() for r in world.event_log.records if r.levelno >= logging.ERROR]
    assert errors == [f"the agent could not start: {refused}: {why}"]
    assert not Path(defaults.log_dir).exists()  # no log file written into the open folder


def test_without_a_registry_value_the_default_configuration_file_is_read(
    tmp_path: Path, logger: logging.Logger
) -> None:
    defaults = folders(tmp_path)
    world = World({})
    scm = FakeServiceManager()
    host = ServiceHost(world.host_world(), scm, defaults=defaults, make_agent=Waiting, logger=logger)
    assert host.run() == ExitCode.CONFIGURATION  # %ProgramData%\fleetwatch\agent.toml is missing
    errors = [r.getMessage() for r in world.event_log.records]
    assert errors == [f"the agent could not start: config file {defaults.config_path}: not found"]


def _wait(predicate: object, seconds: float = 30.0) -> bool:
    pause = threading.Event()
    for _ in range(int(seconds / 0.01)):
        if callable(predicate) and predicate():
            return True
        pause.wait(0.01)
    return False


def test_child_processes_get_python_exe_rather_than_the_service_host() -> None:
    venv = "C:\\Program Files\\fleetwatch"
    in_venv = {f"{venv}\\Scripts\\python.exe"}
    assert (
        child_python(f"{venv}\\pythonservice.exe", venv, in_venv.__contains__)
        == f"{venv}\\Scripts\\python.exe"
    )
    base = "C:\\Python311"
    assert child_python(f"{base}\\PythonService.exe", base, {f"{base}\\python.exe"}.__contains__) == (
        f"{base}\\python.exe"
    )
    assert (
        child_python(f"{venv}\\Scripts\\python.exe", venv, in_venv.__contains__)
        == f"{venv}\\Scripts\\python.exe"
    )
    assert (
        child_python(f"{base}\\pythonservice.exe", base, set[str]().__contains__)
        == f"{base}\\pythonservice.exe"
    )
