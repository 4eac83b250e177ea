"""The running agent imports only what its cycles need: what `check` or enrolment alone needs stays out."""

from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import fleetwatch_agent
from tests.conftest import REPO_ROOT

# Builds the agent as `fleetwatch-agent run` does (the CLI module, the service, every default probe
# bound) and makes one report of every probe, then lists the modules it imported.
RUN_PATH = """
import asyncio, json, sys
from pathlib import Path
from fleetwatch_agent import cli
from fleetwatch_agent.config import AgentConfig, AgentSection, CollectorSection
from fleetwatch_agent.service import AgentService

data_dir = Path(sys.argv[1])
collector = CollectorSection(addresses=("127.0.0.1:9",), token_file=str(data_dir / "token"))
service = AgentService(AgentConfig(agent=AgentSection(data_dir=str(data_dir)), collector=collector))
report, _ = asyncio.run(service.collect_once())
print(json.dumps({"modules": sorted(sys.modules), "probes": [p.name for p in report.probes]}))
"""
# Only `check` (JSON and summaries), enrolment, the LAN sweep, the snmp probe or nothing at all need these.
NOT_IMPORTED = (
    "google.protobuf.json_format",
    "fleetwatch_agent.probes.resources.summary",
    "fleetwatch_agent.probes.antivirus.summary",
    "fleetwatch_agent.probes.connectivity.summary",
    "importlib.metadata",
    "email",
    "zipfile",
    "csv",
    "statistics",
    "decimal",
    "fractions",
    "uuid",
    "secrets",
    "hashlib",
    "scapy",
    "pysnmp",
    "fleetwatch_snmp",
    "fleetwatch_agent.probes.snmp.collect",
    # The collector speaks grpcio; the agent speaks gRPC over h2 itself (docs/decisions.md).
    "grpc",
    "fleetwatch_proto.v1.fleetwatch_pb2_grpc",
)


def test_the_running_agent_does_not_import_what_only_check_or_enrolment_needs(tmp_path: Path) -> None:
    env = dict(os.environ, FLEETWATCH_LOOPBACK_ONLY="1")
    done = subprocess.run(
        [sys.executable, "-c", RUN_PATH, str(tmp_path / "agent")],
        capture_output=True, text=True, check=False, env=env, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    modules = set(result["modules"])
    # The run really went through every default probe and the report's envelope.
    assert result["probes"] == ["resources", "antivirus", "connectivity"]
    assert {"fleetwatch_agent.probes.connectivity.collect", "h2", "psutil", "sqlite3"} <= modules
    leaked = sorted(m for m in modules if any(m == lazy or m.startswith(f"{lazy}.") for lazy in NOT_IMPORTED))
    assert leaked == []


def test_the_version_written_in_the_package_is_the_distributions() -> None:
    """Written once more in fleetwatch_agent/__init__.py, so the agent needs no importlib.metadata."""
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert fleetwatch_agent.__version__ == project["version"]
    assert fleetwatch_agent.__version__ == importlib.metadata.version("fleetwatch")
