"""Shared test helpers: real-peer gating, free loopback ports, the repository root."""

from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent

# Agents started by the tests (and their subprocesses, which inherit this) check only targets
# on loopback: no test may send traffic to the machine's real gateway or DNS servers.
# Tests of the checks themselves call them directly, on loopback or in their own namespaces.
os.environ["FLEETWATCH_LOOPBACK_ONLY"] = "1"
# Set by .ci/run: a missing real peer fails the test instead of skipping it.
REQUIRE_PEERS_ENV = "FLEETWATCH_REQUIRE_PEERS"


def peers_required() -> bool:
    return os.environ.get(REQUIRE_PEERS_ENV, "") not in ("", "0", "false", "no")


def require_program(name: str, install_hint: str) -> str:
    """Path of a real peer program; skips (or fails under FLEETWATCH_REQUIRE_PEERS=1) when missing."""
    path = shutil.which(name)
    if path is None:
        message = f"{name} not found on PATH ({install_hint})"
        if peers_required():
            pytest.fail(f"{message}; {REQUIRE_PEERS_ENV} is set, so a missing peer is a failure")
        pytest.skip(message)
    return path


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def promtool() -> str:
    return require_program("promtool", "apt-get install prometheus")
