"""`fleetwatch-agent check` in process: the JSON of every result and each probe's readable summary."""

from __future__ import annotations

import json
from pathlib import Path

import psutil
import pytest

from fleetwatch_agent import cli
from fleetwatch_agent.probes import PROBES
from fleetwatch_agent.probes.connectivity.model import CheckResult
from fleetwatch_agent.probes.resources import wire as resources_wire
from tests.agent.probes.resources.psutil_shapes import reading


def test_check_prints_every_result_as_json_and_every_summary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(cli, "CHECK_WARMUP_SECONDS", 0.0)
    config = tmp_path / "agent.toml"
    config.write_text(
        f'[agent]\ndata_dir = "{tmp_path / "data"}"\n[collector]\naddresses = ["127.0.0.1:9"]\n'
        "[probes.connectivity]\ngateway = false\ntraceroute = false\ncount = 1\n",
        encoding="utf-8",
    )
    code = cli.main(["check", "--config", str(config)])
    out, err = capsys.readouterr()
    assert code == 0, err
    document = json.loads(out)
    assert [p["name"] for p in document["probes"]] == [p.name for p in PROBES]
    assert set(document["results"]) == {p.name for p in PROBES}
    resources = document["results"]["resources"]
    assert resources["memory_total_bytes"] == psutil.virtual_memory().total  # a number, not a string
    assert resources["filesystems"][0]["size_bytes"] > 0
    assert document["results"]["connectivity"]["targets"][0]["name"] == "collector"
    headings = [line.split(":")[0] for line in err.splitlines() if not line.startswith(" ")]
    assert headings == [p.name for p in PROBES]


def test_result_json_of_a_message_keeps_zero_fields_and_numbers() -> None:
    message = resources_wire.message(reading(load=None))
    message.process_count = 0
    data = cli.result_json(message)
    assert data["process_count"] == 0
    assert data["memory_total_bytes"] == 8 * 1024**3
    assert "load" not in data  # absent, as the OS had none


def test_result_json_of_a_dataclass_and_of_anything_else() -> None:
    assert cli.result_json(CheckResult(True, 1, 1))["received"] == 1
    assert cli.result_json(("odd", 1)) == "('odd', 1)"
