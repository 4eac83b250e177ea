"""The agent and collector installs, each in a fresh environment, carry only the dependencies they use.

One wheel holds the three packages (contract, agent, collector); the extras choose the
dependencies, so each side runs with the other side's dependencies absent.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.e2e
INSTALL_TIMEOUT = 600
AGENT_CONFIG = """
[agent]
data_dir = "{data_dir}"

[collector]
addresses = ["127.0.0.1:9"]

[probes.antivirus]
enabled = false
"""


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--wheel-dir",
            str(out),
            str(REPO_ROOT),
        ]
    )
    (built,) = out.glob("fleetwatch-*.whl")
    return built


def run(command: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=INSTALL_TIMEOUT, check=False, **kwargs
    )  # type: ignore[call-overload]
    assert result.returncode == 0, f"{command} failed:\n{result.stdout}\n{result.stderr}"
    return result  # type: ignore[no-any-return]


def install(wheel: Path, extra: str, where: Path) -> Path:
    """A fresh virtual environment with ``fleetwatch[extra]`` from the wheel; returns its bin folder."""
    venv.create(where, with_pip=True)
    bin_dir = where / "bin"
    run(
        [
            str(bin_dir / "python"),
            "-m",
            "pip",
            "install",
            "--quiet",
            f"fleetwatch[{extra}] @ {wheel.as_uri()}",
        ]
    )
    return bin_dir


def importable(bin_dir: Path, module: str) -> bool:
    probe = f"import importlib.util, sys; sys.exit(0 if importlib.util.find_spec({module!r}) else 1)"
    return subprocess.run([str(bin_dir / "python"), "-c", probe], check=False, timeout=60).returncode == 0


def test_agent_install_runs_check_without_the_collector_side(wheel: Path, tmp_path: Path) -> None:
    bin_dir = install(wheel, "agent", tmp_path / "venv")
    for module in ("fleetwatch_sim", "prometheus_client", "grpc", "grpc_health", "cryptography"):
        assert not importable(bin_dir, module), f"{module} is installed with the agent"
    assert importable(bin_dir, "psutil")
    config = tmp_path / "agent.toml"
    config.write_text(AGENT_CONFIG.format(data_dir=tmp_path / "data"))
    env = {**os.environ, "FLEETWATCH_LOOPBACK_ONLY": "1"}
    result = subprocess.run(
        [str(bin_dir / "fleetwatch-agent"), "check", "--config", str(config)],
        capture_output=True, text=True, timeout=120, check=False, env=env,
    )  # fmt: skip
    assert "Traceback" not in result.stderr, result.stderr
    document = json.loads(result.stdout)
    assert {p["name"] for p in document["probes"]} >= {"resources", "connectivity"}
    assert document["results"]["resources"], result.stdout


def test_collector_install_runs_without_the_agent_side(wheel: Path, tmp_path: Path) -> None:
    bin_dir = install(wheel, "collector", tmp_path / "venv")
    for module in ("fleetwatch_sim", "psutil", "scapy"):
        assert not importable(bin_dir, module), f"{module} is installed with the collector"
    help_text = run([str(bin_dir / "fleetwatch-collector"), "run", "--help"]).stdout
    assert "--grpc-listen" in help_text
    token = run(
        [str(bin_dir / "fleetwatch-collector"), "token", "create", "--site", "xa-tan-my-chanh",
         "--data-dir", str(tmp_path / "data")]
    ).stdout.strip()  # fmt: skip
    assert len(token) > 20
