"""Generates docs/metrics.md from the metric catalog: per-host metrics by report kind, then the rest."""

from __future__ import annotations

from fleetwatch_collector.catalog import COLLECTOR_METRICS, HOST_LABELS, RUNTIME_METRICS
from fleetwatch_collector.kinds import KINDS
from fleetwatch_collector.metricspec import MetricSpec

HEADER = ("| name | type | labels | help |", "| --- | --- | --- | --- |")


def _table(specs: tuple[MetricSpec, ...]) -> list[str]:
    lines = list(HEADER)
    for spec in specs:
        labels = spec.labels[len(HOST_LABELS) :] if spec.scope == "host" else spec.labels
        label_text = ", ".join(f"`{label}`" for label in labels) or "–"
        lines.append(f"| `{spec.name}` | {spec.type} | {label_text} | {spec.help} |")
    return lines


def metrics_markdown() -> str:
    """The metric reference; `fleetwatch-collector metrics-doc --output docs/metrics.md` writes it."""
    lines = [
        "# Metric reference",
        "",
        "Generated from the metric catalog (`collector/fleetwatch_collector/kinds/*.py` and `catalog.py`) by",
        "`fleetwatch-collector metrics-doc --output docs/metrics.md`; do not edit by hand.",
        "",
        "## Per-host metrics",
        "",
        f"Every per-host series carries the labels {', '.join(f'`{label}`' for label in HOST_LABELS)};",
        "the tables list only the labels a metric adds to them. They are grouped by report kind",
        "(`collector/fleetwatch_collector/kinds/<kind>.py`).",
    ]
    for kind in KINDS:
        source = f" From `Report.{kind.section}`." if kind.section else ""
        lines += ["", f"### {kind.name}", "", kind.summary + source, "", *_table(kind.metrics)]
    lines += ["", "## Collector metrics", "", *_table(COLLECTOR_METRICS)]
    lines += ["", "## Process and runtime metrics (prometheus-client)", "", *_table(RUNTIME_METRICS)]
    return "\n".join(lines) + "\n"
