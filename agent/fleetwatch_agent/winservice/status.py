"""The SERVICE_STATUS a Windows service reports to its service control manager, as plain values."""

from __future__ import annotations

import enum
from dataclasses import dataclass

# Values of winsvc.h and winerror.h, so that the logic runs and is tested anywhere; the
# pywin32 constants of the same names hold the same numbers.
SERVICE_WIN32_OWN_PROCESS = 0x10
SERVICE_ACCEPT_STOP = 0x1
SERVICE_ACCEPT_SHUTDOWN = 0x4
NO_ERROR = 0
ERROR_SERVICE_SPECIFIC_ERROR = 1066  # the service's own code is in service_exit_code


class WindowsOnly(OSError):
    """A Windows API was called on another platform."""


class ServiceState(enum.IntEnum):
    """dwCurrentState."""

    STOPPED = 1
    START_PENDING = 2
    STOP_PENDING = 3
    RUNNING = 4


PENDING = (ServiceState.START_PENDING, ServiceState.STOP_PENDING)


class ExitCode(enum.IntEnum):
    """dwServiceSpecificExitCode: why the service stopped by itself (0 = it was asked to)."""

    OK = 0
    FAILED = 1  # the agent's loop ended with an error: the recovery actions restart it
    CONFIGURATION = 2  # configuration, credential or data folder refused at start


@dataclass(frozen=True)
class ServiceStatus:
    """One SetServiceStatus call."""

    state: ServiceState
    controls_accepted: int = 0
    win32_exit_code: int = NO_ERROR
    service_exit_code: int = 0
    checkpoint: int = 0
    wait_hint_ms: int = 0

    def as_tuple(self) -> tuple[int, int, int, int, int, int, int]:
        """The SERVICE_STATUS tuple win32service.SetServiceStatus takes."""
        return (
            SERVICE_WIN32_OWN_PROCESS,
            int(self.state),
            self.controls_accepted,
            self.win32_exit_code,
            self.service_exit_code,
            self.checkpoint,
            self.wait_hint_ms,
        )


def status_for(
    state: ServiceState, checkpoint: int, wait_hint_ms: int = 0, exit_code: ExitCode = ExitCode.OK
) -> ServiceStatus:
    """The full status of ``state``: which controls it accepts, its exit codes and progress."""
    # Only a running service accepts controls: a stop during START_PENDING would race the start,
    # and during STOP_PENDING it is already under way. A pending state carries a checkpoint the
    # service increments while it makes progress, and a wait hint: the time until its next report.
    accepted = SERVICE_ACCEPT_STOP | SERVICE_ACCEPT_SHUTDOWN if state == ServiceState.RUNNING else 0
    failed = state == ServiceState.STOPPED and exit_code != ExitCode.OK
    return ServiceStatus(
        state=state,
        controls_accepted=accepted,
        win32_exit_code=ERROR_SERVICE_SPECIFIC_ERROR if failed else NO_ERROR,
        service_exit_code=int(exit_code) if failed else 0,
        checkpoint=checkpoint if state in PENDING else 0,
        wait_hint_ms=wait_hint_ms if state in PENDING else 0,
    )
