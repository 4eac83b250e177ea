"""A walk over the probe registry: every probe configured, documented, summarised and converted alike."""

from __future__ import annotations

import ast
import dataclasses
import subprocess
import sys
import tomllib
import typing
from pathlib import Path

import pytest

from fleetwatch_agent.probes import PROBES, ProbeConfig, ProbeDefinition
from fleetwatch_agent.probes.antivirus.model import AntivirusResult, State
from fleetwatch_agent.probes.connectivity.model import ConnectivityResult, ErrorReason, Kind
from fleetwatch_agent.probes.resources import wire as resources_wire
from fleetwatch_agent.probes.snmp.model import LinkChange, SnmpResult
from fleetwatch_proto.limits import PROBE_NAME_RE
from fleetwatch_proto.names import ANTIVIRUS_STATE, PROBE_ERROR, PROBE_KIND
from fleetwatch_proto.v1 import fleetwatch_pb2 as pb
from tests.agent.probes.resources.psutil_shapes import reading
from tests.conftest import REPO_ROOT

AGENT = REPO_ROOT / "agent"
PROBES_DIR = AGENT / "fleetwatch_agent" / "probes"
# One typical result per probe: a new probe adds its own here.
SAMPLES: dict[str, object] = {
    "resources": resources_wire.message(reading()),
    "antivirus": AntivirusResult((), "not_installed"),
    "connectivity": ConnectivityResult(()),
    "snmp": SnmpResult(
        (
            pb.NetworkDevice(
                name="r1",
                address="127.0.0.1:161",
                reachable=True,
                interfaces=[pb.DeviceInterface(index=1, name="Gi0/0", oper_up=True)],
            ),
        ),
        (LinkChange("r1", "Gi0/0", True, 1, 1_760_000_000_000),),
    ),
}
NAMES = [p.name for p in PROBES]
PROTOBUF_MODULES = ("google.protobuf", "fleetwatch_proto.v1")


def probe(name: str) -> ProbeDefinition[typing.Any, typing.Any]:
    return next(p for p in PROBES if p.name == name)


def test_names_are_unique_label_values_and_name_their_package() -> None:
    assert len(set(NAMES)) == len(NAMES)
    for name in NAMES:
        assert PROBE_NAME_RE.fullmatch(name)
        assert (PROBES_DIR / name / "__init__.py").is_file()
        assert probe(name).make_collector.__module__.startswith(f"fleetwatch_agent.probes.{name}")


@pytest.mark.parametrize("name", NAMES)
def test_config_is_a_frozen_dataclass_whose_defaults_validate(name: str) -> None:
    config: ProbeConfig = probe(name).config_type()
    assert isinstance(config.enabled, bool)
    assert config.timeout_seconds > 0
    config.validate()
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(config, "enabled", not config.enabled)  # noqa: B010
    assert dataclasses.is_dataclass(config)


@pytest.mark.parametrize("name", NAMES)
def test_every_option_is_in_the_example_file_and_the_probe_in_the_readme(name: str) -> None:
    example = tomllib.loads((AGENT / "agent.example.toml").read_text(encoding="utf-8"))
    options = {f.name for f in dataclasses.fields(probe(name).config_type)}
    assert set(example["probes"][name]) == options
    assert f"| `{name}` |" in (AGENT / "README.md").read_text(encoding="utf-8")


def test_every_probe_has_a_sample_result() -> None:
    assert set(SAMPLES) == set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_summary_starts_with_the_probes_name(name: str) -> None:
    lines = probe(name).summary(SAMPLES[name], 1_760_000_000.0)
    assert lines[0].startswith(f"{name}:")
    assert all(isinstance(line, str) for line in lines)


@pytest.mark.parametrize("name", NAMES)
def test_to_wire_fills_a_section_of_the_report(name: str) -> None:
    report = pb.Report(seq=1)
    probe(name).to_wire(SAMPLES[name], report)
    assert len(report.ListFields()) > 1, "an empty result must still mark its section present"
    pb.Report.FromString(report.SerializeToString())


def imports_of(path: Path) -> set[str]:
    modules: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            modules.add(node.module)
    return modules


@pytest.mark.parametrize("name", NAMES)
def test_only_the_wire_module_of_a_probe_imports_protobuf(name: str) -> None:
    package = PROBES_DIR / name
    assert (package / "wire.py").is_file()
    importing = sorted(
        path.relative_to(package).as_posix()
        for path in package.rglob("*.py")
        if any(m.startswith(PROTOBUF_MODULES) for m in imports_of(path))
    )
    assert importing == ["wire.py"]


def test_model_names_are_the_contracts_enum_names() -> None:
    """The Literals the probes are typed with spell the enums of fleetwatch_proto.names."""
    assert typing.get_args(Kind) == PROBE_KIND.names()
    assert typing.get_args(ErrorReason) == ("", *PROBE_ERROR.names())
    assert set(typing.get_args(State)) == set(ANTIVIRUS_STATE.names())


def test_the_agent_imports_without_the_collector_sides_packages() -> None:
    """An install of the [agent] extra has none of them (tests/packaging checks a real install)."""
    blocked = (
        "fleetwatch_collector",
        "fleetwatch_sim",
        "prometheus_client",
        "grpc",
        "grpc_health",
        "cryptography",
    )
    code = (
        "import sys\n"
        + "".join(f"sys.modules[{name!r}] = None\n" for name in blocked)
        + "import fleetwatch_agent.cli, fleetwatch_agent.service, fleetwatch_agent.probes\n"
        + "import fleetwatch_agent.probes.antivirus._linux, fleetwatch_agent.probes.connectivity.collect\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
