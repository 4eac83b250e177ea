"""`fleetwatch-agent service install|remove|start|stop|status`: the Windows service from the command line."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from fleetwatch_agent.config import load_config
from fleetwatch_agent.platformdefaults import DEFAULTS, LOG_DIR_NAME, PlatformDefaults, is_windows
from fleetwatch_agent.winservice.acl import InsecureDirectory
from fleetwatch_agent.winservice.scm import (
    EVENT_SOURCE,
    SERVICE_NAME,
    RecoveryPolicy,
    ServiceError,
    ServiceManager,
    describe,
)

NOT_WINDOWS = (
    "the Windows service is for Windows; "
    "on Linux use the systemd unit deploy/systemd/fleetwatch-agent.service"
)
ACTIONS = {
    "install": "install the service (automatic, delayed start; restarted on failure) and secure its folder",
    "remove": "stop and remove the service; the folder with the credential and the spool stays",
    "start": "start the service and wait until it runs",
    "stop": "stop the service and wait until it stopped",
    "status": "print the service's state; exit 0 when it runs, 1 otherwise",
}


@dataclass(frozen=True)
class CommandWorld:
    """What the command needs from Windows (acl_windows, scm_windows there; fakes in tests)."""

    manager: Callable[[], ServiceManager]
    # `install` makes a folder private, creating it or resetting the permissions of an existing one.
    reset_private_dir: Callable[[Path], None]
    # Raise InsecureDirectory when others may open the file (the configuration).
    check_private_file: Callable[[Path], None]
    # What the Windows calls raise (pywintypes.error): shown as a message, not a traceback.
    api_errors: tuple[type[Exception], ...] = ()
    defaults: PlatformDefaults = DEFAULTS


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The `service` command and its actions, under the CLI's commands."""
    service = commands.add_parser("service", help="install and control the Windows service")
    actions = service.add_subparsers(dest="action", required=True, metavar="ACTION")
    for name, text in ACTIONS.items():
        action = actions.add_parser(name, help=text, description=text)
        if name == "install":
            action.add_argument(
                "--config",
                type=Path,
                help=f"TOML configuration file the service runs with (default: {DEFAULTS.config_path} "
                "on this machine, %%ProgramData%%\\fleetwatch\\agent.toml on Windows)",
            )


def windows_world() -> CommandWorld:
    from fleetwatch_agent.winservice import acl_windows, scm_windows

    return CommandWorld(
        scm_windows.service_manager,
        acl_windows.reset_private_dir,
        acl_windows.check_private_file,
        acl_windows.api_errors(),
    )


def install(world: CommandWorld, config: Path | None, out: TextIO) -> int:
    """Check the configuration, make the data folder private, install the service."""
    path = Path(os.path.abspath(config or world.defaults.config_path))
    loaded = load_config(path)  # a ConfigError names the file and option: exit 2, nothing installed
    data_dir = Path(loaded.agent.data_dir)
    world.reset_private_dir(data_dir)  # the configuration in it inherits the new DACL
    # The configuration says where the credential goes: the service refuses one others may change.
    world.check_private_file(path)
    policy = RecoveryPolicy()
    world.manager().install(str(path), policy)
    delays = ", ".join(f"{d:g} s" for d in policy.restart_delays_seconds)
    print(
        f"installed the service {SERVICE_NAME}: automatic (delayed) start, restarted after {delays} "
        f"on failure, configuration {path}, data {data_dir} (SYSTEM and Administrators only), "
        f"log {data_dir / LOG_DIR_NAME}, Event Log source {EVENT_SOURCE}. "
        "Start it: fleetwatch-agent service start",
        file=out,
    )
    return 0


def run(
    args: argparse.Namespace,
    *,
    platform: str = sys.platform,
    world: CommandWorld | None = None,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """Carry out ``args.action``; exit 0 done, 1 it failed (or, for status, the service is not running)."""
    out, err = out or sys.stdout, err or sys.stderr
    if not is_windows(platform):
        print(f"fleetwatch-agent: {NOT_WINDOWS}", file=err)
        return 2
    world = world or windows_world()
    api_errors: tuple[type[Exception], ...] = (*world.api_errors, OSError)
    try:
        return _act(world, args, out)
    except (ServiceError, InsecureDirectory) as exc:
        print(f"fleetwatch-agent: {exc}", file=err)
    except api_errors as exc:
        print(f"fleetwatch-agent: {args.action} failed: {describe(exc)}", file=err)
    return 1


def _act(world: CommandWorld, args: argparse.Namespace, out: TextIO) -> int:
    if args.action == "install":
        return install(world, args.config, out)
    manager = world.manager()
    if args.action == "status":
        state, win32_code, service_code = manager.status()
        codes = f" (last exit code {win32_code}, service code {service_code})" if win32_code else ""
        print(f"{SERVICE_NAME}: {state}{codes}", file=out)
        return 0 if state == "running" else 1
    actions = {"remove": (manager.remove, "removed"), "start": (manager.start, "running"),
               "stop": (manager.stop, "stopped")}  # fmt: skip
    act, done = actions[args.action]
    act()
    print(f"{SERVICE_NAME}: {done}", file=out)
    return 0
