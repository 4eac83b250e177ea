"""The metric catalog: naming rules, the generated reference in docs/, and /metrics against it."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

from fleetwatch_collector.catalog import (
    BY_NAME,
    CATALOG,
    COLLECTOR_METRICS,
    HOST_INDEX,
    HOST_LABELS,
    PER_HOST,
    RUNTIME_METRICS,
)
from fleetwatch_collector.cli import main as collector_main
from fleetwatch_collector.docgen import metrics_markdown
from fleetwatch_collector.fleet import FleetState
from fleetwatch_collector.http import MetricsPage
from fleetwatch_collector.kinds import KINDS
from fleetwatch_collector.selfmetrics import CollectorMetrics
from tests.collector.support import (
    add_antivirus,
    add_connectivity,
    add_network_devices,
    check_metrics,
    families,
    full_report,
    parsed_samples,
    trap_devices,
)
from tests.conftest import REPO_ROOT

METRIC_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
DOC = REPO_ROOT / "docs" / "metrics.md"
REGENERATE = "fleetwatch-collector metrics-doc --output docs/metrics.md"


def test_names_are_unique() -> None:
    duplicates = [name for name, n in Counter(s.name for s in CATALOG).items() if n > 1]
    assert duplicates == []
    assert len(BY_NAME) == len(CATALOG)


def test_names_and_labels_are_valid() -> None:
    for spec in CATALOG:
        assert METRIC_NAME.match(spec.name), spec.name
        assert len(set(spec.labels)) == len(spec.labels), spec.name
        for label in spec.labels:
            assert LABEL_NAME.match(label) and not label.startswith("__"), (spec.name, label)
        assert spec.help and spec.help == spec.help.strip(), spec.name


def test_scopes_partition_the_catalog() -> None:
    assert {s.scope for kind in KINDS for s in kind.metrics} == {"host"}
    assert {s.scope for s in COLLECTOR_METRICS} == {"collector"}
    assert {s.scope for s in RUNTIME_METRICS} == {"runtime"}
    assert tuple(s for kind in KINDS for s in kind.metrics) == PER_HOST
    assert CATALOG == PER_HOST + COLLECTOR_METRICS + RUNTIME_METRICS
    assert {s.name: i for i, s in enumerate(PER_HOST)} == HOST_INDEX


def test_every_kind_metric_is_in_the_catalog_exactly_once() -> None:
    for kind in KINDS:
        assert kind.metrics, kind.name
        for spec in kind.metrics:
            assert CATALOG.count(spec) == 1, (kind.name, spec.name)
            assert BY_NAME[spec.name] is spec, (kind.name, spec.name)
    owners = Counter(spec.name for kind in KINDS for spec in kind.metrics)
    assert [name for name, n in owners.items() if n > 1] == []


def test_every_metric_spec_name_is_unique() -> None:
    names = Counter(spec.name for spec in CATALOG)
    assert [name for name, n in names.items() if n > 1] == []
    assert len(BY_NAME) == len(CATALOG) == len(names)


def test_host_metrics_carry_host_labels_first() -> None:
    assert HOST_LABELS == ("agent_id", "host", "site", "district", "site_type")
    for spec in PER_HOST:
        assert spec.labels[: len(HOST_LABELS)] == HOST_LABELS, spec.name
        assert not set(spec.labels[len(HOST_LABELS) :]) & set(HOST_LABELS), spec.name


def test_other_metrics_carry_no_host_label() -> None:
    for spec in COLLECTOR_METRICS + RUNTIME_METRICS:
        assert not set(spec.labels) & set(HOST_LABELS), spec.name


def test_counters_end_in_total_and_only_counters() -> None:
    for spec in CATALOG:
        assert spec.name.endswith("_total") == (spec.type == "counter"), spec.name


def test_info_metrics_end_in_info() -> None:
    for spec in CATALOG:
        if spec.type == "info":
            assert spec.name.endswith("_info"), spec.name


def test_prefix() -> None:
    for spec in PER_HOST + COLLECTOR_METRICS:
        assert spec.name.startswith("fleetwatch_"), spec.name
    for spec in RUNTIME_METRICS:
        assert spec.name.startswith(("process_", "python_")), spec.name


def test_header() -> None:
    assert BY_NAME["fleetwatch_agent_info"].header() == (
        "# HELP fleetwatch_agent_info Host facts of the agent; value is always 1.\n"
        "# TYPE fleetwatch_agent_info gauge\n"
    )
    assert (
        BY_NAME["fleetwatch_host_network_receive_bytes_total"]
        .header()
        .endswith("# TYPE fleetwatch_host_network_receive_bytes_total counter\n")
    )


def test_docs_metrics_md_is_up_to_date() -> None:
    expected = metrics_markdown()
    actual = DOC.read_text(encoding="utf-8") if DOC.exists() else None
    assert actual == expected, f"{DOC} is missing or stale; run `{REGENERATE}` at the repository root"


def test_metrics_doc_lists_every_metric_once() -> None:
    text = metrics_markdown()
    for spec in CATALOG:
        assert text.count(f"| `{spec.name}` |") == 1, spec.name
    assert "| `fleetwatch_host_filesystem_size_bytes` | gauge | `mountpoint`, `fstype` |" in text
    assert "| `fleetwatch_host_cpus` | gauge | – |" in text


def test_metrics_doc_command_writes_the_file(tmp_path: Path) -> None:
    out = tmp_path / "metrics.md"
    assert collector_main(["metrics-doc", "--output", str(out)]) == 0
    assert out.read_text(encoding="utf-8") == metrics_markdown()


@pytest.fixture
def page_text() -> str:
    """The whole /metrics body with one agent and every collector metric touched."""
    fleet = FleetState()
    report = add_network_devices(add_connectivity(add_antivirus(full_report(1))))
    fleet.apply("a1", [report])
    trap_devices(fleet, "a1")
    metrics = CollectorMetrics()
    metrics.pushes.labels("OK").inc()
    metrics.rejected.labels("malformed").inc()
    metrics.applied.inc()
    metrics.duplicates.inc()
    metrics.enrolments.labels("ok").inc()
    metrics.push_duration.observe(0.002)
    return b"".join(MetricsPage(fleet, metrics).render()).decode("utf-8")


def expected_type(name: str) -> str:
    spec = BY_NAME[name]
    return "gauge" if spec.type == "info" else spec.type


def test_metrics_page_matches_the_catalog(page_text: str) -> None:
    found = families(page_text)
    names = [f.name for f in found]
    assert len(names) == len(set(names))
    assert sorted(names) == sorted(BY_NAME), "the catalog and /metrics disagree"
    for family in found:
        assert family.type == expected_type(family.name), family.name


def test_metrics_page_help_matches_the_catalog(page_text: str) -> None:
    """BUG: selfmetrics.py declares fleetwatch_collector_enrolments_total with the help text
    "Enroll calls by result." while the catalog (and docs/metrics.md) says
    "Enroll calls by result (ok, token_*, invalid_request)."."""
    mismatched = {
        family.name: (family.help, BY_NAME[family.name].help)
        for family in families(page_text)
        if family.name.startswith("fleetwatch_") and family.help != BY_NAME[family.name].help
    }
    assert mismatched == {}


def test_metrics_page_labels_match_the_catalog(page_text: str) -> None:
    suffixes = ("_bucket", "_count", "_sum")
    for name, labels, _ in parsed_samples(page_text):
        family = name if name in BY_NAME else next(name[: -len(s)] for s in suffixes if name.endswith(s))
        extra = {"le"} if name.endswith("_bucket") else set()
        assert set(labels) == set(BY_NAME[family].labels) | extra, name


def test_metrics_page_passes_promtool(promtool: str, page_text: str) -> None:
    result = check_metrics(promtool, page_text)
    assert result.returncode == 0, result.stdout + result.stderr
