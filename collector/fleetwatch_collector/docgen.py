"""Generates docs/metrics.md from the metric catalog."""

from __future__ import annotations

from fleetwatch_collector.catalog import CATALOG, HOST_LABELS

TITLES = {
    "host": "Per-host metrics",
    "collector": "Collector metrics",
    "runtime": "Process and runtime metrics (prometheus-client)",
}


def metrics_markdown() -> str:
    """The metric reference; `fleetwatch-collector metrics-doc --output docs/metrics.md` writes it."""
    lines = [
        "# Metric reference",
        "",
        "Generated from `collector/fleetwatch_collector/catalog.py` by",
        "`fleetwatch-collector metrics-doc --output docs/metrics.md`; do not edit by hand.",
        "",
        f"Every per-host series carries the labels {', '.join(f'`{label}`' for label in HOST_LABELS)};",
        "the tables list only the labels a metric adds to them.",
    ]
    for scope, title in TITLES.items():
        lines += [
            "",
            f"## {title}",
            "",
            "| name | type | labels | help |",
            "| --- | --- | --- | --- |",
        ]
        for spec in CATALOG:
            if spec.scope != scope:
                continue
            labels = spec.labels[len(HOST_LABELS) :] if scope == "host" else spec.labels
            label_text = ", ".join(f"`{label}`" for label in labels) or "–"
            lines.append(f"| `{spec.name}` | {spec.type} | {label_text} | {spec.help} |")
    return "\n".join(lines) + "\n"
