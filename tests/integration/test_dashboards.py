"""The Grafana dashboards: generated exactly by grafana/build.py, each one consistent.

Consistent: panel ids, data source, variables, table columns, provisioning.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.dashboards_json import (
    DASHBOARD_PROVISIONING,
    DASHBOARDS_DIR,
    GRAFANA_DIR,
    all_panels,
    label_values_query,
    load_dashboards,
    panel_queries,
    provisioned_datasource_uid,
    query_panels,
    used_variables,
    variables,
)

EXPECTED = {
    "fleetwatch-overview.json",
    "fleetwatch-antivirus.json",
    "fleetwatch-connectivity.json",
    "fleetwatch-host.json",
    "fleetwatch-collector.json",
    "fleetwatch-routers.json",
}
DASHBOARDS = load_dashboards()
DATASOURCE_REF = {"type": "prometheus", "uid": "${datasource}"}
GRAFANA_BUILTINS = {"__rate_interval", "__range", "__interval", "__interval_ms", "__range_s"}


# --- (i) the committed JSON is what the generator writes -----------------------------------------


def test_regenerating_gives_exactly_the_committed_files(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(GRAFANA_DIR / "build.py"), "--output", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    generated = {p.name: p.read_bytes() for p in tmp_path.glob("*.json")}
    committed = {p.name: p.read_bytes() for p in DASHBOARDS_DIR.glob("*.json")}
    assert set(generated) == EXPECTED
    assert set(committed) == set(generated), "run .venv/bin/python grafana/build.py"
    stale = sorted(name for name in generated if generated[name] != committed[name])
    assert not stale, (
        f"{stale} differ from what grafana/build.py writes: run .venv/bin/python grafana/build.py"
    )


def test_check_mode_detects_a_stale_file(tmp_path: Path) -> None:
    build = [sys.executable, str(GRAFANA_DIR / "build.py"), "--output", str(tmp_path)]
    assert subprocess.run(build, capture_output=True, timeout=120, check=False).returncode == 0
    check = subprocess.run([*build, "--check"], capture_output=True, text=True, timeout=120, check=False)
    assert check.returncode == 0, check.stderr
    stale = tmp_path / "fleetwatch-host.json"
    stale.write_text(stale.read_text().replace("Host detail", "Host details"))
    check = subprocess.run([*build, "--check"], capture_output=True, text=True, timeout=120, check=False)
    assert check.returncode == 1
    assert "fleetwatch-host.json" in check.stderr


# --- (ii) each dashboard is consistent -------------------------------------------------------------


def test_the_dashboards_are_committed() -> None:
    assert set(DASHBOARDS) == EXPECTED


def test_uids_are_unique_stable_and_match_the_file_names() -> None:
    uids = [board["uid"] for board in DASHBOARDS.values()]
    assert len(uids) == len(set(uids))
    for name, board in DASHBOARDS.items():
        assert board["uid"] == name.removesuffix(".json")
        assert len(board["uid"]) <= 40, "Grafana's uid limit"


def test_titles_are_vietnamese_with_english() -> None:
    for name, board in DASHBOARDS.items():
        vietnamese, _, english = board["title"].partition(" / ")
        assert vietnamese and english, f"{name}: {board['title']!r}"
        for panel in all_panels(board):
            assert " / " in panel["title"] or panel["title"] in {"CPU", "Push"}, f"{name}: {panel['title']!r}"


@pytest.mark.parametrize("name", sorted(DASHBOARDS))
def test_panel_ids_are_unique(name: str) -> None:
    ids = [panel["id"] for panel in all_panels(DASHBOARDS[name])]
    assert all(isinstance(i, int) for i in ids)
    assert len(ids) == len(set(ids)), f"duplicate panel ids in {name}: {sorted(ids)}"


@pytest.mark.parametrize("name", sorted(DASHBOARDS))
def test_every_panel_and_query_uses_the_datasource_variable(name: str) -> None:
    board = DASHBOARDS[name]
    by_name = {v["name"]: v for v in variables(board)}
    datasource = by_name.get("datasource")
    assert datasource is not None, f"{name}: no datasource variable"
    assert datasource["type"] == "datasource" and datasource["query"] == "prometheus"
    assert datasource["current"]["value"] == provisioned_datasource_uid(), "defaults to the provisioned one"
    panels = list(query_panels(board))
    assert panels
    for panel in panels:
        assert panel.get("datasource") == DATASOURCE_REF, f"{name}: {panel['title']}"
        assert panel.get("targets"), f"{name}: {panel['title']} has no query"
        for target in panel["targets"]:
            assert target.get("datasource") == DATASOURCE_REF, f"{name}: {panel['title']} {target['refId']}"
    for variable in variables(board):
        if variable["type"] == "query":
            assert variable["datasource"] == DATASOURCE_REF, f"{name}: ${variable['name']}"


@pytest.mark.parametrize("name", sorted(DASHBOARDS))
def test_every_variable_used_is_defined_before_use(name: str) -> None:
    board = DASHBOARDS[name]
    defined: list[str] = []
    for variable in variables(board):
        if variable["type"] == "query":
            label_values = label_values_query(variable)  # fails on another kind of variable query
            undefined = used_variables(label_values.selector) - set(defined)
            assert not undefined, f"{name}: ${variable['name']} uses {undefined} defined after it or never"
        defined.append(variable["name"])
    assert len(defined) == len(set(defined)), f"{name}: a variable is defined twice"
    for query in panel_queries(name, board):
        undefined = used_variables(query.expr) - set(defined) - GRAFANA_BUILTINS
        assert not undefined, f"{query}: {undefined} undefined in {query.expr}"


@pytest.mark.parametrize("name", sorted(DASHBOARDS))
def test_table_overrides_and_sorting_name_existing_columns(name: str) -> None:
    """Overrides and sorting match a table column by its name after the organize transformation."""
    for panel in query_panels(DASHBOARDS[name]):
        if panel["type"] != "table":
            continue
        renamed: set[str] = set()
        for transformation in panel.get("transformations", []):
            if transformation["id"] == "organize":
                renamed |= set(transformation["options"]["renameByName"].values())
        columns = renamed or {"Value"}
        for override in panel.get("fieldConfig", {}).get("overrides", []):
            assert override["matcher"]["options"] in columns, (
                f"{name}: {panel['title']}: {override['matcher']}"
            )
        for sort in panel.get("options", {}).get("sortBy", []):
            assert sort["displayName"] in columns, f"{name}: {panel['title']}: sorted by {sort}"


def test_the_filters_are_chained_district_site_host() -> None:
    host = {v["name"]: v for v in variables(DASHBOARDS["fleetwatch-host.json"])}
    assert [v["name"] for v in variables(DASHBOARDS["fleetwatch-host.json"])] == [
        "datasource",
        "district",
        "site",
        "host",
    ]
    assert label_values_query(host["district"]).selector == "fleetwatch_agent_up"
    assert 'district=~"$district"' in label_values_query(host["site"]).selector
    assert {"district", "site"} <= used_variables(label_values_query(host["host"]).selector)
    assert not host["host"]["multi"] and not host["host"].get("includeAll")


def test_the_router_filters_are_chained_district_site_device() -> None:
    """The router dashboard's filters take their values from the devices, not from the agents."""
    board = DASHBOARDS["fleetwatch-routers.json"]
    by_name = {v["name"]: v for v in variables(board)}
    assert list(by_name) == ["datasource", "district", "site", "device"]
    assert label_values_query(by_name["district"]).selector == "fleetwatch_netdev_up"
    assert label_values_query(by_name["site"]).selector == 'fleetwatch_netdev_up{district=~"$district"}'
    assert {"district", "site"} <= used_variables(label_values_query(by_name["device"]).selector)
    assert not by_name["device"]["multi"] and not by_name["device"].get("includeAll")


def test_the_router_dashboard_reads_the_rules_of_the_alerts() -> None:
    """Utilization, failed packet share and current state are the recording rules the alerts use,
    so a panel and an alert never disagree."""
    exprs = [q.expr for q in panel_queries("routers", DASHBOARDS["fleetwatch-routers.json"])]
    for recording_rule in (
        "interface:fleetwatch_netdev_if_utilization:ratio_rate5m",
        "interface:fleetwatch_netdev_if_errors:ratio_rate5m",
        "device:fleetwatch_netdev_up:fresh",
    ):
        assert any(recording_rule in expr for expr in exprs), recording_rule
    device_panels = [
        q for q in panel_queries("routers", DASHBOARDS["fleetwatch-routers.json"]) if "$device" in q.expr
    ]
    assert len(device_panels) >= 15


def test_the_overview_shows_the_provinces_indicators() -> None:
    exprs = [q.expr for q in panel_queries("overview", DASHBOARDS["fleetwatch-overview.json"])]
    for recording_rule in (
        "province:fleetwatch_antivirus_protected:ratio",
        "district:fleetwatch_antivirus_protected:ratio",
        "site:fleetwatch_antivirus_protected:ratio",
        "site:fleetwatch_agent_up:ratio",
    ):
        assert any(recording_rule in expr for expr in exprs), recording_rule
    assert any('role="collector"' in expr for expr in exprs)


def test_provisioning_points_at_the_dashboards_and_the_fixed_datasource() -> None:
    provider = DASHBOARD_PROVISIONING.read_text()
    assert "type: file" in provider
    assert "path: /var/lib/grafana/dashboards/fleetwatch" in provider
    datasource = (GRAFANA_DIR / "provisioning" / "datasources" / "fleetwatch.yml").read_text()
    assert "url: http://127.0.0.1:9090" in datasource
    assert "type: prometheus" in datasource
    assert provisioned_datasource_uid() == "fleetwatch-prometheus"
