"""The house rules: who may import whom, enum names only from descriptors, small modules."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

PACKAGES = {
    "fleetwatch_agent": REPO_ROOT / "agent" / "fleetwatch_agent",
    "fleetwatch_collector": REPO_ROOT / "collector" / "fleetwatch_collector",
    "fleetwatch_proto": REPO_ROOT / "proto" / "fleetwatch_proto",
    "fleetwatch_sim": REPO_ROOT / "sim" / "fleetwatch_sim",
    "fleetwatch_snmp": REPO_ROOT / "snmp" / "fleetwatch_snmp",
}
# What each package must never import: the other side, and the other side's dependencies.
FORBIDDEN = {
    "fleetwatch_agent": ("fleetwatch_collector", "fleetwatch_sim", "prometheus_client", "grpc_health",
                         "cryptography", "pysnmp"),
    "fleetwatch_collector": ("fleetwatch_agent", "fleetwatch_sim", "psutil", "scapy", "pysnmp"),
    "fleetwatch_proto": ("fleetwatch_agent", "fleetwatch_collector", "fleetwatch_sim", "psutil", "scapy",
                         "prometheus_client", "grpc_health", "cryptography"),
    "fleetwatch_sim": ("fleetwatch_collector", "prometheus_client", "grpc_health", "cryptography"),
    # SNMP is used through fleetwatch_snmp only (pysnmp stays out of the agent and the collector).
    "fleetwatch_snmp": ("fleetwatch_agent", "fleetwatch_collector", "fleetwatch_sim", "psutil", "scapy",
                        "prometheus_client", "grpc_health"),
}  # fmt: skip
ENUM_VALUE = re.compile(r"^(SITE_TYPE|ANTIVIRUS_STATE|PROBE_KIND|PROBE_ERROR|SNMP_ERROR)_[A-Z_]+$")
MAX_MODULE_LINES = 400
# Declarative tables, longer by nature: the metric catalog lists every metric once.
LONG_BY_NATURE = {"collector/fleetwatch_collector/catalog.py"}


def python_files(root: Path) -> Iterator[Path]:
    for path in sorted(root.rglob("*.py")):
        if "_pb2" not in path.name and "__pycache__" not in path.parts:
            yield path


def imported_modules(path: Path) -> Iterator[tuple[int, str]]:
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.lineno, node.module


@pytest.mark.parametrize("package", sorted(PACKAGES))
def test_packages_import_only_what_they_may(package: str) -> None:
    offences = [
        f"{path.relative_to(REPO_ROOT)}:{line}: imports {module}"
        for path in python_files(PACKAGES[package])
        for line, module in imported_modules(path)
        if module.split(".")[0] in FORBIDDEN[package]
    ]
    assert not offences, "\n".join(offences)


def test_the_import_check_sees_a_forbidden_import(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("import os\nfrom fleetwatch_agent.config import AgentConfig\n")
    assert [m for _line, m in imported_modules(module)] == ["os", "fleetwatch_agent.config"]


def enum_maps(path: Path) -> Iterator[int]:
    """Lines of dict literals that pair contract enum values with anything: hand-written enum maps."""
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Dict):
            items = [*node.keys, *node.values]
            if any(isinstance(item, ast.Attribute) and ENUM_VALUE.match(item.attr) for item in items):
                yield node.lineno


def test_no_hand_written_enum_map() -> None:
    offences = [
        f"{path.relative_to(REPO_ROOT)}:{line}"
        for root in PACKAGES.values()
        for path in python_files(root)
        for line in enum_maps(path)
    ]
    assert not offences, "enum names must come from fleetwatch_proto.names:\n" + "\n".join(offences)


def test_the_enum_map_check_sees_a_map(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text('NAMES = {\n    pb.PROBE_KIND_ICMP: "icmp",\n}\nOTHER = {pb.Report: 1}\n')
    assert list(enum_maps(module)) == [1]


def test_modules_stay_small() -> None:
    roots = [*PACKAGES.values(), REPO_ROOT / "tests", REPO_ROOT / "benchmarks", REPO_ROOT / "grafana"]
    long = []
    for root in roots:
        for path in python_files(root):
            relative = path.relative_to(REPO_ROOT).as_posix()
            lines = len(path.read_text().splitlines())
            if lines > MAX_MODULE_LINES and relative not in LONG_BY_NATURE:
                long.append(f"{relative}: {lines} lines")
    assert not long, f"modules over {MAX_MODULE_LINES} lines:\n" + "\n".join(long)


def test_every_module_says_what_it_is_for() -> None:
    missing = [
        str(path.relative_to(REPO_ROOT))
        for root in PACKAGES.values()
        for path in python_files(root)
        if path.stat().st_size and ast.get_docstring(ast.parse(path.read_text())) is None
    ]
    assert not missing, "modules without a docstring:\n" + "\n".join(missing)
