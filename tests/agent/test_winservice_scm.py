"""`service install|remove|start|stop|status` through fakes of pywin32's service functions."""

from __future__ import annotations

import argparse
import io
from pathlib import Path

import pytest

from fleetwatch_agent import cli
from fleetwatch_agent.platformdefaults import defaults_for
from fleetwatch_agent.winservice import command
from fleetwatch_agent.winservice.acl import InsecureDirectory
from fleetwatch_agent.winservice.command import CommandWorld
from fleetwatch_agent.winservice.scm import (
    CLASS_STRING,
    CONFIG_OPTION,
    EVENT_SOURCE,
    SERVICE_NAME,
    RecoveryPolicy,
    ServiceError,
    ServiceManager,
    failure_actions,
)
from fleetwatch_proto.tomlconfig import ConfigError
from tests.agent.winservice_fakes import (
    FakePywinError,
    FakeServices,
    FakeWin32EvtLogUtil,
    FakeWin32Service,
    FakeWin32ServiceUtil,
)

W = FakeWin32Service
DAY = 86_400


class Fakes:
    def __init__(self) -> None:
        self.services = FakeServices()
        self.win32service = FakeWin32Service(self.services)
        self.slept: list[float] = []
        self.manager = ServiceManager(
            FakeWin32ServiceUtil(self.services),
            self.win32service,
            FakeWin32EvtLogUtil(self.services),
            FakePywinError,
            sleep=self.slept.append,
        )

    def installed(self) -> dict[str, object]:
        return dict(self.services.installed)


def test_install_sets_automatic_delayed_start_and_restart_actions() -> None:
    fakes = Fakes()
    fakes.manager.install("C:\\ProgramData\\fleetwatch\\agent.toml")
    service = fakes.services.installed[SERVICE_NAME]
    assert service.class_string == CLASS_STRING
    assert service.start_type == W.SERVICE_AUTO_START
    assert service.options == {CONFIG_OPTION: "C:\\ProgramData\\fleetwatch\\agent.toml"}
    assert service.config2[W.SERVICE_CONFIG_DELAYED_AUTO_START_INFO] is True
    assert service.config2[W.SERVICE_CONFIG_FAILURE_ACTIONS] == {
        "ResetPeriod": DAY,
        "RebootMsg": None,
        "Command": None,
        "Actions": [(W.SC_ACTION_RESTART, 5000), (W.SC_ACTION_RESTART, 10000), (W.SC_ACTION_RESTART, 60000)],
    }
    # Also when the service stops by itself with an error code, not only when its process dies.
    assert service.config2[W.SERVICE_CONFIG_FAILURE_ACTIONS_FLAG] is True
    # The restart action needs SERVICE_START on the handle; every handle opened was closed.
    assert all(access & W.SERVICE_START for access in fakes.win32service.config2_access)
    assert fakes.services.open_handles == 0


def test_failure_actions_follow_the_policy() -> None:
    policy = RecoveryPolicy(restart_delays_seconds=(1.5, 30.0), reset_after_seconds=3600)
    assert failure_actions(policy, 1) == {
        "ResetPeriod": 3600,
        "RebootMsg": None,
        "Command": None,
        "Actions": [(1, 1500), (1, 30000)],
    }


def test_install_twice_says_to_remove_first() -> None:
    fakes = Fakes()
    fakes.manager.install("C:\\a.toml")
    with pytest.raises(ServiceError, match="installed already: `fleetwatch-agent service remove` first"):
        fakes.manager.install("C:\\b.toml")
    assert fakes.services.installed[SERVICE_NAME].options[CONFIG_OPTION] == "C:\\a.toml"


def test_an_install_whose_configuration_fails_leaves_no_service_behind() -> None:
    fakes = Fakes()

    def denied(*args: object) -> None:
        raise FakePywinError(5, "ChangeServiceConfig2", "Access is denied.")

    fakes.win32service.ChangeServiceConfig2 = denied  # type: ignore[method-assign]
    with pytest.raises(ServiceError, match=r"Access is denied.*Run as administrator.*error 5"):
        fakes.manager.install("C:\\a.toml")
    assert fakes.installed() == {}
    assert fakes.services.open_handles == 0


def test_status_start_stop_remove() -> None:
    fakes = Fakes()
    with pytest.raises(ServiceError, match="not installed"):
        fakes.manager.status()
    fakes.manager.install("C:\\a.toml")
    assert fakes.manager.status() == ("stopped", 0, 0)
    fakes.manager.stop()  # not running: nothing to do
    fakes.manager.start()
    assert fakes.manager.status() == ("running", 0, 0)
    fakes.manager.start()  # already running: fine
    fakes.manager.stop()
    assert fakes.manager.status()[0] == "stopped"
    fakes.services.event_sources.add(EVENT_SOURCE)
    fakes.manager.start()
    fakes.manager.remove()  # stops it first, removes the Event Log source too
    assert fakes.installed() == {}
    assert fakes.services.calls[-2:] == ["StopService", "RemoveService"]
    assert EVENT_SOURCE not in fakes.services.event_sources
    with pytest.raises(ServiceError, match="not installed"):
        fakes.manager.remove()


def test_a_start_that_ends_stopped_points_to_the_event_log() -> None:
    fakes = Fakes()
    fakes.manager.install("C:\\a.toml")
    fakes.services.fail_start = (1066, 2)  # ERROR_SERVICE_SPECIFIC_ERROR, ExitCode.CONFIGURATION
    with pytest.raises(ServiceError, match=f"stopped \\(exit code 1066, service code 2\\).*{EVENT_SOURCE}"):
        fakes.manager.start()


# The command line, with the platform and the Windows facilities passed in.


def args(*argv: str) -> argparse.Namespace:
    return cli._parser().parse_args(["service", *argv])


def windows_world(fakes: Fakes, tmp_path: Path, secured: list[Path]) -> CommandWorld:
    folder = tmp_path / "ProgramData" / "fleetwatch"
    defaults = defaults_for("win32", {"ProgramData": "C:\\ProgramData"})
    return CommandWorld(
        manager=lambda: fakes.manager,
        reset_private_dir=secured.append,
        check_private_file=secured.append,
        api_errors=(FakePywinError,),
        defaults=type(defaults)(
            data_dir=str(folder),
            config_path=str(folder / "agent.toml"),
            log_dir=str(folder / "logs"),
            credential_path=str(folder / "credential.json"),
            spool_path=str(folder / "spool.sqlite"),
        ),
    )


def test_not_on_windows_the_command_says_so_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    for action in ("install", "remove", "start", "stop", "status"):
        assert cli.main(["service", action]) == 2
        err = capsys.readouterr().err
        assert err.strip() == (
            "fleetwatch-agent: the Windows service is for Windows; "
            "on Linux use the systemd unit deploy/systemd/fleetwatch-agent.service"
        )


def test_install_checks_the_configuration_secures_the_folder_and_stores_the_path(tmp_path: Path) -> None:
    fakes, secured, out = Fakes(), list[Path](), io.StringIO()
    world = windows_world(fakes, tmp_path, secured)
    config = tmp_path / "site.toml"
    config.write_text(f"[agent]\ndata_dir = '{tmp_path / 'data'}'\n")
    assert command.run(args("install", "--config", str(config)), platform="win32", world=world, out=out) == 0
    assert secured == [tmp_path / "data", config]  # the data folder reset, the configuration checked
    assert fakes.services.installed[SERVICE_NAME].options[CONFIG_OPTION] == str(config)
    assert "restarted after 5 s, 10 s, 60 s" in out.getvalue()


def test_install_with_a_bad_configuration_installs_nothing(tmp_path: Path) -> None:
    fakes, secured = Fakes(), list[Path]()
    world = windows_world(fakes, tmp_path, secured)
    # Without --config: the platform's default file, missing here (the CLI exits 2 with the message).
    with pytest.raises(ConfigError, match=r"config file .*agent\.toml: not found"):
        command.run(args("install"), platform="win32", world=world)
    bad = tmp_path / "bad.toml"
    bad.write_text("[agent]\ninterval_seconds = -1\n")
    with pytest.raises(ConfigError, match="interval_seconds"):
        command.run(args("install", "--config", str(bad)), platform="win32", world=world)
    assert fakes.installed() == {} and secured == []


@pytest.mark.parametrize(
    ("failure", "message"),
    [
        (InsecureDirectory("C:\\ProgramData\\fleetwatch: Users may read"), "fleetwatch: Users may read"),
        (
            FakePywinError(5, "SetNamedSecurityInfo", "Access is denied."),
            "install failed: SetNamedSecurityInfo",
        ),
    ],
    ids=["still-open", "not-elevated"],
)
def test_install_reports_a_folder_it_cannot_secure(tmp_path: Path, failure: Exception, message: str) -> None:
    fakes, err = Fakes(), io.StringIO()

    def refuse(path: Path) -> None:
        raise failure

    world = windows_world(fakes, tmp_path, [])
    world = CommandWorld(world.manager, refuse, world.check_private_file, world.api_errors, world.defaults)
    config = tmp_path / "agent.toml"
    config.write_text("")
    code = command.run(args("install", "--config", str(config)), platform="win32", world=world, err=err)
    assert code == 1
    assert message in err.getvalue()
    assert fakes.installed() == {}


def test_install_refuses_a_configuration_others_may_change(tmp_path: Path) -> None:
    fakes, err = Fakes(), io.StringIO()

    def open_file(path: Path) -> None:
        raise InsecureDirectory(f"{path}: BUILTIN\\Users (S-1-5-32-545) may write (0x00000116) on it")

    world = windows_world(fakes, tmp_path, [])
    world = CommandWorld(world.manager, world.reset_private_dir, open_file, world.api_errors, world.defaults)
    config = tmp_path / "agent.toml"
    config.write_text("")
    assert command.run(args("install", "--config", str(config)), platform="win32", world=world, err=err) == 1
    assert f"{config}: BUILTIN\\Users (S-1-5-32-545) may write" in err.getvalue()
    assert fakes.installed() == {}


def test_status_start_stop_remove_from_the_command_line(tmp_path: Path) -> None:
    fakes = Fakes()
    world = windows_world(fakes, tmp_path, [])

    def run(*argv: str) -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        code = command.run(args(*argv), platform="win32", world=world, out=out, err=err)
        return code, out.getvalue().strip(), err.getvalue().strip()

    assert run("status") == (1, "", f"fleetwatch-agent: the service {SERVICE_NAME} is not installed")
    fakes.manager.install("C:\\a.toml")
    assert run("status") == (1, f"{SERVICE_NAME}: stopped", "")
    assert run("start") == (0, f"{SERVICE_NAME}: running", "")
    assert run("status") == (0, f"{SERVICE_NAME}: running", "")
    assert run("stop") == (0, f"{SERVICE_NAME}: stopped", "")
    assert run("remove") == (0, f"{SERVICE_NAME}: removed", "")
    assert fakes.installed() == {}
