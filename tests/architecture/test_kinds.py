"""Both registries walked: every report kind documented, configured, summarised, read on the other side."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest

from fleetwatch_agent.probes import PROBES
from fleetwatch_collector.kinds import KINDS
from fleetwatch_proto.v1 import fleetwatch_pb2 as pb
from tests.agent.test_registry import SAMPLES
from tests.conftest import REPO_ROOT

METRICS_DOC = (REPO_ROOT / "docs" / "metrics.md").read_text()
EXAMPLE = tomllib.loads((REPO_ROOT / "agent" / "agent.example.toml").read_text())
# Fields of a Report that belong to the envelope, not to a kind.
ENVELOPE = {"seq", "collected_unix_ms", "interval_seconds", "host", "probes", "spool", "events"}


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.name)
def test_every_metric_of_a_kind_is_in_the_generated_docs(kind: object) -> None:
    for spec in kind.metrics:  # type: ignore[attr-defined]
        assert f"`{spec.name}`" in METRICS_DOC, f"{spec.name}: run make docs"


@pytest.mark.parametrize("probe", PROBES, ids=lambda p: p.name)
def test_every_probe_has_its_section_in_the_example_config(probe: object) -> None:
    assert probe.name in EXAMPLE["probes"], f"[probes.{probe.name}] missing in agent.example.toml"  # type: ignore[attr-defined]


@pytest.mark.parametrize("probe", PROBES, ids=lambda p: p.name)
def test_every_section_a_probe_fills_has_a_collector_kind(probe: object) -> None:
    name = probe.name  # type: ignore[attr-defined]
    assert name in SAMPLES, f"tests/agent/test_registry.py has no sample result of {name}"
    report = pb.Report(seq=1)
    probe.to_wire(SAMPLES[name], report)  # type: ignore[attr-defined]
    sections = {field.name for field, _value in report.ListFields()} - ENVELOPE
    read = {kind.section for kind in KINDS}
    assert sections, f"{name} fills no section of the report"
    assert sections <= read, f"no collector kind reads {sections - read}"


def test_check_prints_every_probes_summary(tmp_path: Path) -> None:
    config = tmp_path / "agent.toml"
    config.write_text(
        f'[agent]\ndata_dir = "{tmp_path / "data"}"\n[collector]\naddresses = ["127.0.0.1:9"]\n'
    )
    env = {**os.environ, "FLEETWATCH_LOOPBACK_ONLY": "1"}
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "fleetwatch_agent", "check", "--config", str(config)],
        capture_output=True, text=True, timeout=120, check=False, env=env,
    )  # fmt: skip
    assert time.monotonic() - started < 120
    assert "Traceback" not in result.stderr, result.stderr
    document = json.loads(result.stdout)
    lines = result.stderr.splitlines()
    for probe in (p for p in PROBES if p.config_type().enabled):  # snmp's: tests/agent/probes/snmp
        heading = f"{probe.name}:"
        assert any(line.startswith(heading) for line in lines), (
            f"no summary of {probe.name}:\n{result.stderr}"
        )
        assert probe.name in {p["name"] for p in document["probes"]}
