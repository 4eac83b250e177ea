"""`fleetwatch-agent check` in process: JSON of every result, summaries, verdicts; it writes nothing."""

from __future__ import annotations

import json
import os
from pathlib import Path

import psutil
import pytest

from fleetwatch_agent import cli
from fleetwatch_agent.probes import PROBES
from fleetwatch_agent.probes.connectivity.model import CheckResult
from fleetwatch_agent.probes.resources import wire as resources_wire
from tests.agent.probes.resources.psutil_shapes import reading
from tests.conftest import free_port

QUICK_PROBES = "[probes.connectivity]\ngateway = false\ntraceroute = false\ncount = 1\n"
# The probes a default configuration runs (snmp is off by default).
DEFAULT_ON = [p.name for p in PROBES if p.config_type().enabled]


def write_config(tmp_path: Path, data_dir: Path, address: str) -> Path:
    config = tmp_path / "agent.toml"
    config.write_text(
        f'[agent]\ndata_dir = "{data_dir}"\n[collector]\naddresses = ["{address}"]\n' + QUICK_PROBES,
        encoding="utf-8",
    )
    return config


@pytest.fixture(autouse=True)
def no_warmup(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli, "CHECK_WARMUP_SECONDS", 0.0)


def test_check_prints_every_result_as_json_and_every_summary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, tmp_path / "data", "127.0.0.1:9")
    code = cli.main(["check", "--config", str(config), "--no-collector"])
    out, err = capsys.readouterr()
    assert code == 0, err
    document = json.loads(out)
    assert [p["name"] for p in document["probes"]] == DEFAULT_ON
    assert set(document["results"]) == set(DEFAULT_ON)
    resources = document["results"]["resources"]
    assert resources["memory_total_bytes"] == psutil.virtual_memory().total  # a number, not a string
    assert resources["filesystems"][0]["size_bytes"] > 0
    assert document["results"]["connectivity"]["targets"][0]["name"] == "collector"
    headings = [line.split(":")[0] for line in err.splitlines() if not line.startswith(" ")]
    assert headings == [*DEFAULT_ON, "central configuration", "check ok"]
    assert "central configuration: none (the local file alone)" in err
    assert document["central_config"]["version"] == ""
    assert document["collectors"] == []


def test_an_unreachable_collector_fails_the_check_with_json_still_on_stdout(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    address = f"127.0.0.1:{free_port()}"
    code = cli.main(["check", "--config", str(write_config(tmp_path, tmp_path / "data", address))])
    out, err = capsys.readouterr()
    assert code == 1, err
    document = json.loads(out)
    (verdict,) = document["collectors"]
    assert (verdict["address"], verdict["status"]) == (address, "unreachable")
    assert f"collector {address}: unreachable: UNAVAILABLE" in err
    assert err.rstrip().endswith(f"check failed: collector {address} unreachable")


@pytest.mark.parametrize("no_collector", [False, True])
def test_check_creates_no_folder_and_no_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], no_collector: bool
) -> None:
    data_dir = tmp_path / "absent" / "data"
    config = write_config(tmp_path, data_dir, f"127.0.0.1:{free_port()}")
    cli.main(["check", "--config", str(config), *(["--no-collector"] if no_collector else [])])
    capsys.readouterr()
    assert not (tmp_path / "absent").exists()


def test_check_of_an_enrolled_agent_adds_no_spool_and_no_seq_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    credential = data_dir / "credential.json"
    credential.write_text('{"agent_id": "a-1", "secret": "s", "site": "", "district": "", "site_type": ""}')
    credential.chmod(0o600)
    before = {path.name: path.stat().st_mtime_ns for path in data_dir.iterdir()}
    cli.main(["check", "--config", str(write_config(tmp_path, data_dir, f"127.0.0.1:{free_port()}"))])
    capsys.readouterr()
    assert {path.name: path.stat().st_mtime_ns for path in data_dir.iterdir()} == before


def test_a_credential_others_can_read_is_a_configuration_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / "credential.json").write_text("{}")
    os.chmod(data_dir / "credential.json", 0o644)
    code = cli.main(["check", "--config", str(write_config(tmp_path, data_dir, "127.0.0.1:9"))])
    _, err = capsys.readouterr()
    assert code == 2
    assert "chmod 600" in err


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
