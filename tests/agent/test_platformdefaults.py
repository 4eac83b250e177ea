"""Default locations per platform, both computed here from a platform name and an environment."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from fleetwatch_agent import credentials
from fleetwatch_agent.config import AgentConfig, AgentSection
from fleetwatch_agent.platformdefaults import DEFAULTS, PlatformDefaults, defaults_for, is_windows


def test_linux_defaults() -> None:
    assert defaults_for("linux", {"ProgramData": "C:\\ProgramData"}) == PlatformDefaults(
        data_dir="/var/lib/fleetwatch-agent",
        config_path="/etc/fleetwatch/agent.toml",
        log_dir="",  # standard error, into systemd's journal
        credential_path="/var/lib/fleetwatch-agent/credential.json",
        spool_path="/var/lib/fleetwatch-agent/spool.sqlite",
    )


def test_windows_defaults_live_under_program_data() -> None:
    assert defaults_for("win32", {"ProgramData": "D:\\ProgramData"}) == PlatformDefaults(
        data_dir="D:\\ProgramData\\fleetwatch",
        config_path="D:\\ProgramData\\fleetwatch\\agent.toml",
        log_dir="D:\\ProgramData\\fleetwatch\\logs",
        credential_path="D:\\ProgramData\\fleetwatch\\credential.json",
        spool_path="D:\\ProgramData\\fleetwatch\\spool.sqlite",
    )


def test_the_variable_name_is_not_case_sensitive_as_on_windows() -> None:
    assert defaults_for("win32", {"PROGRAMDATA": "E:\\PD"}).data_dir == "E:\\PD\\fleetwatch"


@pytest.mark.parametrize(
    "environ",
    [{}, {"ProgramData": ""}, {"ProgramData": "ProgramData"}, {"ProgramData": "\\ProgramData"}],
    ids=["unset", "empty", "relative", "no-drive"],
)
def test_without_a_usable_program_data_the_usual_folder_is_used(environ: dict[str, str]) -> None:
    defaults = defaults_for("win32", environ)
    assert defaults.data_dir == "C:\\ProgramData\\fleetwatch"
    assert defaults.config_path == "C:\\ProgramData\\fleetwatch\\agent.toml"


def test_this_process_gets_its_platform_defaults_and_the_configuration_uses_them() -> None:
    assert defaults_for(sys.platform) == DEFAULTS
    assert is_windows() == (sys.platform == "win32")
    assert AgentSection().data_dir == AgentConfig().agent.data_dir == DEFAULTS.data_dir
    if not is_windows():
        assert AgentSection().data_dir == "/var/lib/fleetwatch-agent"  # as before


def test_the_credential_file_is_where_the_defaults_say() -> None:
    defaults = defaults_for("linux")
    assert Path(defaults.data_dir) / credentials.FILE_NAME == Path(defaults.credential_path)
