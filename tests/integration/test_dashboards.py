"""The Grafana dashboards: generated exactly by grafana/build.py, consistent, and every query valid and
answered by a real Prometheus scraping a real collector fed by the simulated fleet."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest

from fleetwatch_proto.v1 import fleetwatch_pb2 as pb
from tests.conftest import require_program
from tests.e2e.support import (
    ProcessGroup,
    console_script,
    create_token,
    start_collector,
    write_token_file,
)
from tests.integration.dashboards_support import (
    DASHBOARD_PROVISIONING,
    DASHBOARDS_DIR,
    GRAFANA_DIR,
    LabelValues,
    PrometheusServer,
    ScriptedFleet,
    ScriptedHost,
    all_panels,
    label_values_query,
    load_dashboards,
    panel_queries,
    provisioned_datasource_uid,
    query_panels,
    start_prometheus,
    substitute,
    used_variables,
    variables,
)

EXPECTED = {
    "fleetwatch-overview.json",
    "fleetwatch-antivirus.json",
    "fleetwatch-connectivity.json",
    "fleetwatch-host.json",
    "fleetwatch-collector.json",
}
DASHBOARDS = load_dashboards()
DATASOURCE_REF = {"type": "prometheus", "uid": "${datasource}"}
GRAFANA_BUILTINS = {"__rate_interval", "__range", "__interval", "__interval_ms", "__range_s"}

# What the scripted agents report (the simulated fleet reports resources only).
LIVE_SITE = ("xa-tan-my-chanh", "tp-my-tho", "Xã Tân Mỹ Chánh")
SILENT_SITE = ("xa-phu-dong", "h-tan-phu-dong", "Xã Phú Đông")
HOSTS = (
    ScriptedHost(
        "pc-tmc-ketoan-01",
        *LIVE_SITE,
        windows=False,
        antivirus=pb.ANTIVIRUS_STATE_PROTECTED,
        threats=True,
        outages=True,
        failing_target=True,
    ),
    ScriptedHost("pc-tmc-vanthu-02", *LIVE_SITE, windows=True, antivirus=pb.ANTIVIRUS_STATE_OUTDATED),
    ScriptedHost("pc-tmc-motcua-03", *LIVE_SITE, windows=True, antivirus=pb.ANTIVIRUS_STATE_NOT_INSTALLED),
    ScriptedHost(
        "pc-phudong-01", *SILENT_SITE, windows=True, antivirus=pb.ANTIVIRUS_STATE_PROTECTED, silent=True
    ),
)
DETAIL_HOST = HOSTS[0].hostname  # the host whose detail dashboard is queried: it has every section
PROTECTED_SHARE = 2 / 4
SIMULATED_AGENTS = 20
DATA_TIMEOUT_SECONDS = 40.0


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


def test_the_five_dashboards_are_committed() -> None:
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


# --- (iii) every query against a real Prometheus -------------------------------------------------


@dataclass(frozen=True)
class LiveStack:
    prometheus: PrometheusServer
    fleet: ScriptedFleet
    collector_instance: str


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveStack]:
    """A collector fed by the simulated fleet and the scripted agents, scraped by a real Prometheus
    that evaluates the project's recording rules every second."""
    prometheus = require_program("prometheus", "apt-get install prometheus")
    tmp = tmp_path_factory.mktemp("dashboards")
    group = ProcessGroup(tmp / "logs")
    fleet: ScriptedFleet | None = None
    try:
        collector = start_collector(group, tmp / "collector-data")
        # Lab use: an any-site token, so every agent keeps the site it claims.
        token_file = write_token_file(tmp / "token", create_token(tmp / "collector-data"))
        group.spawn(
            [
                console_script("fleetwatch-sim"),
                "--collector",
                collector.grpc_address,
                "--agents",
                str(SIMULATED_AGENTS),
                "--interval",
                "1",
                "--duration",
                "120",  # stopped when the module's tests are done
                "--token-file",
                str(token_file),
            ],
            "simulate",
        )
        fleet = ScriptedFleet(collector.grpc_address, token_file.read_text().strip(), HOSTS)
        fleet.start()
        server = start_prometheus(group, prometheus, tmp / "prometheus", collector.http_address)
        yield LiveStack(server, fleet, collector.http_address)
    finally:
        if fleet is not None:
            fleet.stop()
        group.stop_all()


def variable_values(live: LiveStack) -> dict[str, str]:
    """A district, site and host that exist in the data, and the collector's scrape address."""
    return {
        "district": LIVE_SITE[1],
        "site": LIVE_SITE[0],
        "host": DETAIL_HOST,
        "instance": live.collector_instance,
    }


def all_selected(values: dict[str, str]) -> dict[str, str]:
    """The values Grafana substitutes when "All" is selected in every multi-value filter."""
    return {**values, "district": ".*", "site": ".*", "instance": ".*"}


def every_query(values: dict[str, str]) -> list[tuple[str, str]]:
    """(description, PromQL) of every panel query and every variable query, variables substituted."""
    queries = []
    for name, board in sorted(DASHBOARDS.items()):
        for query in panel_queries(name, board):
            queries.append((str(query), substitute(query.expr, values)))
        for variable in variables(board):
            if variable["type"] == "query":
                label_values = label_values_query(variable)
                queries.append((f"{name} / ${variable['name']}", substitute(label_values.promql(), values)))
    return queries


def wait_for_answers(server: PrometheusServer, queries: list[tuple[str, str]]) -> dict[str, str]:
    """Runs the queries until each answered with data or the time is up; fails at once on an
    invalid query. Returns description -> why, for the queries still without data."""
    missing: dict[str, str] = {}
    deadline = time.monotonic() + DATA_TIMEOUT_SECONDS
    pending = list(queries)
    while True:
        still = []
        for description, expr in pending:
            answer = server.query(expr)
            assert answer.get("status") == "success", (
                f"{description}: invalid query\n{expr}\n{answer.get('errorType')}: {answer.get('error')}"
            )
            if not answer["data"]["result"]:
                still.append((description, expr))
        pending = still
        if not pending or time.monotonic() > deadline:
            break
        time.sleep(1.0)
    for description, expr in pending:
        missing[description] = expr
    return missing


@pytest.mark.peer("prometheus")
def test_every_query_is_valid_and_returns_data(live: LiveStack) -> None:
    values = variable_values(live)
    queries = every_query(values) + [(f"{d} (All)", e) for d, e in every_query(all_selected(values))]
    assert len(queries) > 150, len(queries)
    missing = wait_for_answers(live.prometheus, queries)
    assert not missing, "queries without data:\n" + "\n".join(f"{d}:\n    {e}" for d, e in missing.items())
    assert not live.fleet.errors, live.fleet.errors


@pytest.mark.peer("prometheus")
def test_the_variables_offer_the_values_in_the_data(live: LiveStack) -> None:
    values = variable_values(live)
    board = DASHBOARDS["fleetwatch-host.json"]
    offered: dict[str, set[str]] = {}
    for variable in variables(board):
        if variable["type"] != "query":
            continue
        query: LabelValues = label_values_query(variable)
        result = live.prometheus.result(substitute(query.promql(), values))
        offered[query.variable] = {series["metric"].get(query.label, "") for series in result}
    assert values["district"] in offered["district"]
    assert SILENT_SITE[1] in offered["district"]
    # Chained: only the sites of the selected district, only the hosts of the selected site.
    assert LIVE_SITE[0] in offered["site"]
    assert SILENT_SITE[0] not in offered["site"]
    assert {h.hostname for h in HOSTS if not h.silent} <= offered["host"]
    assert not {h.hostname for h in HOSTS if h.silent} & offered["host"]
    collector = {v["name"]: v for v in variables(DASHBOARDS["fleetwatch-collector.json"])}
    instances = live.prometheus.result(label_values_query(collector["instance"]).promql())
    assert [s["metric"]["instance"] for s in instances] == [live.collector_instance]


def panel_value(live: LiveStack, dashboard: str, title_prefix: str, values: dict[str, str]) -> float:
    """The single value of the first query of the panel whose title starts with ``title_prefix``."""
    board = DASHBOARDS[dashboard]
    panel = next(p for p in query_panels(board) if p["title"].startswith(title_prefix))
    result = live.prometheus.result(substitute(panel["targets"][0]["expr"], values))
    assert len(result) == 1, result
    return float(result[0]["value"][1])


@pytest.mark.peer("prometheus")
def test_the_indicators_show_what_the_agents_reported(live: LiveStack) -> None:
    values = variable_values(live)
    overview = "fleetwatch-overview.json"
    # Recording rules evaluate every second: wait for the silent agent to count as down.
    deadline = time.monotonic() + DATA_TIMEOUT_SECONDS
    while panel_value(live, overview, "Điểm mất liên lạc", values) < 1 and time.monotonic() < deadline:
        time.sleep(0.5)
    assert panel_value(live, overview, "Điểm mất liên lạc", values) >= 1, "the silent site is down"
    down = live.prometheus.result("site:fleetwatch_agent_up:ratio == 0")
    assert SILENT_SITE[0] in {s["metric"]["site"] for s in down}
    # Two of the four hosts with antivirus data are protected; the silent one counts with its last state.
    assert panel_value(live, overview, "Máy được bảo vệ", values) == pytest.approx(PROTECTED_SHARE)
    assert panel_value(live, overview, "Máy không được bảo vệ", values) == 2
    assert panel_value(live, overview, "Kết nối tới trung tâm", values) == 1
    antivirus = "fleetwatch-antivirus.json"
    assert panel_value(live, antivirus, "Không được bảo vệ", values) == 2, "outdated and not_installed"
    assert panel_value(live, antivirus, "Chữ ký cũ hơn 3 ngày", values) == 1, "the outdated Defender"
    assert panel_value(live, antivirus, "Mã độc phát hiện", values) > 0
    assert panel_value(live, "fleetwatch-connectivity.json", "Mục tiêu đang lỗi", values) == 1, "the portal"


@pytest.mark.peer("prometheus")
def test_rejected_pushes_appear_by_reason(live: LiveStack) -> None:
    assert live.fleet.push_with_wrong_secret() == grpc.StatusCode.UNAUTHENTICATED
    board = DASHBOARDS["fleetwatch-collector.json"]
    panel = next(p for p in query_panels(board) if p["title"].startswith("Bị từ chối"))
    expr = substitute(panel["targets"][0]["expr"], variable_values(live))
    deadline = time.monotonic() + DATA_TIMEOUT_SECONDS
    reasons: set[str] = set()
    while not reasons and time.monotonic() < deadline:
        reasons = {s["metric"]["reason"] for s in live.prometheus.result(expr) if "reason" in s["metric"]}
        time.sleep(0.5)
    assert reasons, f"no rejection by reason in {expr}"
