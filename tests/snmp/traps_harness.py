"""A TrapServer in its own event-loop thread, and net-snmp's snmptrap/snmpinform as real senders."""

from __future__ import annotations

import asyncio
import os
import subprocess
import threading
import time
from collections.abc import Callable, Coroutine, Iterable
from pathlib import Path
from typing import Any, TypeVar

from fleetwatch_snmp.credentials import Credential
from fleetwatch_snmp.traps import TrapEvent
from fleetwatch_snmp.trapserver import TrapServer
from tests.conftest import require_program

T = TypeVar("T")
WAIT_SECONDS = 15.0  # how long a test waits for something that should come (not a timing assertion)
SYS_NAME = "1.3.6.1.2.1.1.5.0"  # each test tags its notification with a sysName.0 varbind of its own
BOOM = "raise-in-on-trap"  # a tag that makes on_trap raise after recording the event


class Harness:
    """The server under test, running in an asyncio loop of its own (as in the collector)."""

    def __init__(self, credentials: Iterable[Credential]) -> None:
        self._events: list[TrapEvent] = []
        self._changed = threading.Condition()
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="trap-loop", daemon=True)
        self._thread.start()
        self.server = TrapServer("127.0.0.1", 0, credentials, self._on_trap)
        self.run(self.server.start())
        self.port = self.server.port

    def _on_trap(self, event: TrapEvent) -> None:
        with self._changed:
            self._events.append(event)
            self._changed.notify_all()
        if any(text == BOOM for _, text in event.varbinds):
            raise RuntimeError("on_trap failed")

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(WAIT_SECONDS)

    def call(self, function: Callable[[], T]) -> T:
        async def inside() -> T:
            return function()

        return self.run(inside())

    def rejected(self) -> dict[str, int]:
        return self.call(self.server.rejected)

    def events(self, tag: str) -> list[TrapEvent]:
        with self._changed:
            return [event for event in self._events if (SYS_NAME, tag) in event.varbinds]

    def wait_event(self, tag: str) -> TrapEvent:
        deadline = time.monotonic() + WAIT_SECONDS
        with self._changed:
            while True:
                found = [event for event in self._events if (SYS_NAME, tag) in event.varbinds]
                if found:
                    return found[0]
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"no notification tagged {tag!r} reached on_trap; rejected: {self.rejected()}"
                    )
                self._changed.wait(left)

    def wait_rejected(self, reason: str, count: int) -> dict[str, int]:
        """rejected() once ``reason`` reached ``count``."""
        deadline = time.monotonic() + WAIT_SECONDS
        while True:
            counts = self.rejected()
            if counts[reason] >= count:
                return counts
            if time.monotonic() > deadline:
                raise AssertionError(f"{reason} stayed below {count}: {counts}")
            time.sleep(0.02)

    def close(self) -> None:
        self.call(self.server.close)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(WAIT_SECONDS)
        self.loop.close()


class Senders:
    """net-snmp's command-line senders, with their persistent state and config in a temp dir."""

    def __init__(self, state_dir: Path) -> None:
        self.snmptrap = require_program("snmptrap", "apt-get install snmp")
        self.snmpinform = require_program("snmpinform", "apt-get install snmp")
        state_dir.mkdir(parents=True, exist_ok=True)
        self.env = {
            **os.environ,
            "SNMP_PERSISTENT_DIR": str(state_dir),
            "SNMPCONFPATH": str(state_dir),
            "HOME": str(state_dir),
        }

    def send(self, program: str, *args: str) -> subprocess.CompletedProcess[str]:
        """``program -m "" ARGS``; -m "" keeps net-snmp from loading (and warning about) MIB files."""
        return subprocess.run(
            [program, "-m", "", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )

    def trap(self, *args: str) -> None:
        done = self.send(self.snmptrap, *args)
        assert done.returncode == 0, done.stderr

    def inform(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self.send(self.snmpinform, "-t", "3", "-r", "1", *args)
