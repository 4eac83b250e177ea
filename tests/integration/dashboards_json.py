"""Reading the committed Grafana dashboards: panels, queries, variables and their substitution."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from tests.conftest import REPO_ROOT

GRAFANA_DIR = REPO_ROOT / "grafana"
DASHBOARDS_DIR = GRAFANA_DIR / "dashboards"
DATASOURCE_PROVISIONING = GRAFANA_DIR / "provisioning" / "datasources" / "fleetwatch.yml"
DASHBOARD_PROVISIONING = GRAFANA_DIR / "provisioning" / "dashboards" / "fleetwatch.yml"

Dashboard = dict[str, Any]
Panel = dict[str, Any]

# $name, ${name}, ${name:format} and the deprecated [[name]].
VARIABLE_RE = re.compile(r"\$(\w+)|\$\{(\w+)(?::[^}]*)?\}|\[\[(\w+)(?::[^\]]*)?\]\]")
LABEL_VALUES_RE = re.compile(r"^label_values\((?P<selector>.+),\s*(?P<label>\w+)\s*\)$", re.DOTALL)


def load_dashboards() -> dict[str, Dashboard]:
    """File name -> parsed JSON of every committed dashboard."""
    return {path.name: json.loads(path.read_text()) for path in sorted(DASHBOARDS_DIR.glob("*.json"))}


def all_panels(board: Dashboard) -> Iterator[Panel]:
    """Every panel, rows and the panels inside collapsed rows included."""
    for panel in board.get("panels", []):
        yield panel
        yield from panel.get("panels", [])


def query_panels(board: Dashboard) -> Iterator[Panel]:
    return (p for p in all_panels(board) if p.get("type") != "row")


def variables(board: Dashboard) -> list[dict[str, Any]]:
    variable_list: list[dict[str, Any]] = board.get("templating", {}).get("list", [])
    return variable_list


def used_variables(text: str) -> set[str]:
    """Names of the variables ``text`` refers to (Grafana's built-ins, $__..., included)."""
    return {next(g for g in match.groups() if g) for match in VARIABLE_RE.finditer(text)}


@dataclass(frozen=True)
class PanelQuery:
    dashboard: str
    panel: str
    ref: str
    expr: str

    def __str__(self) -> str:
        return f"{self.dashboard} / {self.panel} / {self.ref}"


def panel_queries(name: str, board: Dashboard) -> list[PanelQuery]:
    return [
        PanelQuery(name, f"#{panel['id']} {panel.get('title', '')}", target.get("refId", "?"), target["expr"])
        for panel in query_panels(board)
        for target in panel.get("targets", [])
    ]


@dataclass(frozen=True)
class LabelValues:
    """A ``label_values(selector, label)`` variable query."""

    variable: str
    selector: str
    label: str

    def promql(self) -> str:
        """The same question as an instant PromQL query: one series per value of the label."""
        return f"group by ({self.label}) ({self.selector})"


def label_values_query(variable: dict[str, Any]) -> LabelValues:
    query = variable.get("query")
    text = query.get("query", "") if isinstance(query, dict) else str(query)
    match = LABEL_VALUES_RE.match(text.strip())
    if match is None:
        raise ValueError(f"variable {variable['name']}: {text!r} is not label_values(selector, label)")
    return LabelValues(variable["name"], match["selector"].strip(), match["label"])


def substitute(text: str, values: Mapping[str, str], interval: str = "1m", step: str = "5s") -> str:
    """``text`` with variables replaced as Grafana would: the windows ($__rate_interval, $__range)
    by ``interval``, the panel's step ($__interval, shorter than them in Grafana) by ``step``."""
    builtins = {"__rate_interval": interval, "__range": interval, "__interval": step}

    def replace(match: re.Match[str]) -> str:
        name = next(g for g in match.groups() if g)
        if name in builtins:
            return builtins[name]
        if name not in values:
            raise KeyError(f"no value for ${name} in {text!r}")
        return values[name]

    return VARIABLE_RE.sub(replace, text)


def provisioned_datasource_uid() -> str:
    match = re.search(r"^\s*uid:\s*(\S+)\s*$", DATASOURCE_PROVISIONING.read_text(), re.MULTILINE)
    assert match, f"{DATASOURCE_PROVISIONING}: no uid"
    return match.group(1).strip("\"'")
