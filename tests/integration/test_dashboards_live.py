"""Every dashboard query answered by a real Prometheus scraping a collector fed by simulated agents.

The collector is fed by the simulated fleet and scripted agents (two of them poll their site's
routers), and receives a real SNMP trap; the indicators must show what they reported.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import grpc
import pytest

from fleetwatch_proto.v1 import fleetwatch_pb2 as pb
from tests.conftest import free_port, require_program
from tests.e2e.support import (
    ProcessGroup,
    console_script,
    create_token,
    start_collector,
    value_of,
    wait_until,
    write_token_file,
)
from tests.integration.dashboards_agents import ScriptedFleet, ScriptedHost
from tests.integration.dashboards_json import (
    LabelValues,
    label_values_query,
    load_dashboards,
    panel_queries,
    query_panels,
    substitute,
    variables,
)
from tests.integration.dashboards_prometheus import PrometheusServer, start_prometheus
from tests.integration.dashboards_routers import (
    IN_BITS_PER_SECOND,
    WAN_SPEED,
    routers_of,
    send_cold_start,
    trap_config,
    values_by,
)

DASHBOARDS = load_dashboards()

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
        router_address="127.0.0.1",  # the trap the test sends comes from its router
    ),
    ScriptedHost("pc-tmc-vanthu-02", *LIVE_SITE, windows=True, antivirus=pb.ANTIVIRUS_STATE_OUTDATED),
    ScriptedHost("pc-tmc-motcua-03", *LIVE_SITE, windows=True, antivirus=pb.ANTIVIRUS_STATE_NOT_INSTALLED),
    ScriptedHost(
        "pc-phudong-01",
        *SILENT_SITE,
        windows=True,
        antivirus=pb.ANTIVIRUS_STATE_PROTECTED,
        silent=True,
        router_address="127.0.0.3",
    ),
)
DETAIL_HOST = HOSTS[0].hostname  # the host whose detail dashboard is queried: it has every section
# The devices pc-tmc-ketoan-01 polls: a router that answers and a switch that does not.
DETAIL_ROUTER, DOWN_SWITCH = (router.name for router in routers_of(LIVE_SITE[0]))
SIMULATED_AGENTS = 20
# Simulated hosts are all protected; two of the four scripted ones are.
PROTECTED_SHARE = (SIMULATED_AGENTS + 2) / (SIMULATED_AGENTS + 4)
DATA_TIMEOUT_SECONDS = 40.0


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
    snmptrap = require_program("snmptrap", "apt-get install snmp")
    tmp = tmp_path_factory.mktemp("dashboards")
    group = ProcessGroup(tmp / "logs")
    fleet: ScriptedFleet | None = None
    try:
        trap_port = free_port()
        collector = start_collector(group, tmp / "collector-data", config=trap_config(tmp, trap_port))
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
        # Once the collector knows the router (and its address) from a report, it takes its trap.
        wait_until(
            lambda: value_of(collector.samples(), "fleetwatch_netdev_up", device=DETAIL_ROUTER) == 1,
            "the router in a report",
            watch=(collector.process,),
        )
        send_cold_start(snmptrap, trap_port)
        wait_until(
            lambda: (
                value_of(
                    collector.samples(),
                    "fleetwatch_netdev_traps_total",
                    device=DETAIL_ROUTER,
                    trap="cold_start",
                )
                == 1
            ),
            "the trap in /metrics",
            watch=(collector.process,),
        )
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
        "device": DETAIL_ROUTER,
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
    # The silent scripted host counts with its last state.
    assert panel_value(live, overview, "Máy được bảo vệ", values) == pytest.approx(PROTECTED_SHARE)
    assert panel_value(live, overview, "Máy không được bảo vệ", values) == 2
    assert panel_value(live, overview, "Kết nối tới trung tâm", values) == 1
    antivirus = "fleetwatch-antivirus.json"
    assert panel_value(live, antivirus, "Không được bảo vệ", values) == 2, "outdated and not_installed"
    assert panel_value(live, antivirus, "Chữ ký cũ hơn 3 ngày", values) == 1, "the outdated Defender"
    assert panel_value(live, antivirus, "Mã độc phát hiện", values) > 0
    assert panel_value(live, "fleetwatch-connectivity.json", "Mục tiêu đang lỗi", values) == 1, "the portal"


@pytest.mark.peer("prometheus")
def test_the_host_products_table_joins_state_and_signature_version(live: LiveStack) -> None:
    board = DASHBOARDS["fleetwatch-host.json"]
    panel = next(p for p in query_panels(board) if p["title"].startswith("Sản phẩm"))
    products, versions = (
        live.prometheus.result(substitute(target["expr"], variable_values(live)))
        for target in panel["targets"]
    )
    assert [s["metric"] for s in products] == [
        {
            "product": "ClamAV",
            "vendor": "Cisco Talos",
            "product_version": "1.0.7",
            "engine_version": "1.0.7",
            "state": "protected",
        }
    ]
    assert [(s["metric"], float(s["value"][1])) for s in versions] == [({"product": "ClamAV"}, 27480.0)]


@pytest.mark.peer("prometheus")
def test_ages_keep_growing_while_a_host_is_silent(live: LiveStack) -> None:
    """The collector exports times; the dashboards take ages at query time, so the silent host's
    signatures keep ageing although it sent a single report."""
    silent = next(h for h in HOSTS if h.silent)
    values = {
        **variable_values(live),
        "district": silent.district,
        "site": silent.site,
        "host": silent.hostname,
    }
    first = panel_value(live, "fleetwatch-host.json", "Tuổi chữ ký", values)
    time.sleep(2.0)
    later = panel_value(live, "fleetwatch-host.json", "Tuổi chữ ký", values)
    assert first >= 3600 and later >= first + 1.5, (first, later)


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


def routers_panel(title_prefix: str) -> dict[str, Any]:
    board = DASHBOARDS["fleetwatch-routers.json"]
    return next(p for p in query_panels(board) if p["title"].startswith(title_prefix))


@pytest.mark.peer("prometheus")
@pytest.mark.peer("snmptrap")
def test_the_router_variables_offer_the_devices_in_the_data(live: LiveStack) -> None:
    values = variable_values(live)
    offered: dict[str, set[str]] = {}
    for variable in variables(DASHBOARDS["fleetwatch-routers.json"]):
        if variable["type"] == "query":
            query = label_values_query(variable)
            result = live.prometheus.result(substitute(query.promql(), values))
            offered[query.variable] = {series["metric"].get(query.label, "") for series in result}
    assert {LIVE_SITE[1], SILENT_SITE[1]} <= offered["district"]
    assert LIVE_SITE[0] in offered["site"] and SILENT_SITE[0] not in offered["site"]
    assert offered["device"] == {DETAIL_ROUTER, DOWN_SWITCH}


@pytest.mark.peer("prometheus")
@pytest.mark.peer("snmptrap")
def test_the_router_panels_show_what_the_agents_polled(live: LiveStack) -> None:
    values = variable_values(live)
    routers = "fleetwatch-routers.json"
    # The silent agent's devices keep their last values: their state is unknown, not up or down.
    deadline = time.monotonic() + DATA_TIMEOUT_SECONDS
    while panel_value(live, routers, "Chưa rõ", all_selected(values)) < 2 and time.monotonic() < deadline:
        time.sleep(0.5)
    assert panel_value(live, routers, "Chưa rõ", all_selected(values)) == 2
    assert panel_value(live, routers, "Chưa rõ", values) == 0
    assert panel_value(live, routers, "Router được giám sát", values) == 2
    assert panel_value(live, routers, "Router không phản hồi", values) == 1, "the switch"
    assert panel_value(live, routers, "Router không phản hồi", all_selected(values)) == 1
    assert panel_value(live, routers, "Lỗi thăm dò", values) == 1
    assert panel_value(live, routers, "Trạng thái", values) == 1, "the router answers"
    # The trap the test sent, through the collector's receiver.
    assert panel_value(live, routers, "Trap gần nhất", values) >= 0
    traps = live.prometheus.result(
        f'fleetwatch_netdev_traps_total{{device="{DETAIL_ROUTER}", trap="cold_start"}}'
    )
    assert [float(s["value"][1]) for s in traps] == [1.0]

    # Interfaces: one row each, with description and type; the unused port has no link.
    table = routers_panel("Cổng / Interfaces")
    admin, oper = (
        {s["metric"]["ifname"]: s for s in live.prometheus.result(substitute(target["expr"], values))}
        for target in table["targets"][:2]
    )
    assert {name: s["metric"].get("ifalias", "") for name, s in admin.items()} == {
        "ether1": "WAN VNPT FTTH",
        "ether2": "LAN",
        "ether3": "",
    }
    assert {s["metric"]["iftype"] for s in admin.values()} == {"6"}
    assert {name: float(s["value"][1]) for name, s in oper.items()} == {"ether1": 1, "ether2": 1, "ether3": 0}

    # Traffic in bits per second, over a window the data already covers (the dashboard's is at
    # least a minute: a rate over a window longer than the data reads low).
    inbound = substitute(routers_panel("Lưu lượng / Traffic")["targets"][0]["expr"], values, interval="10s")
    expected = IN_BITS_PER_SECOND
    full = live.prometheus.result_when(
        inbound, lambda r: values_by(r, "ifname").get("ether1", 0) > 0.7 * expected
    )
    rates = values_by(full, "ifname")
    assert 0.7 * expected < rates["ether1"] < 1.3 * expected, rates
    assert rates["ether2"] == pytest.approx(expected / 4, rel=0.3) and rates["ether3"] == 0
    # Utilization over the interface's speed (a recording rule over 5 minutes, so only the share
    # between the directions is checked: 10 Mbit/s in, 2.5 Mbit/s out).
    ether1 = f'{{device="{DETAIL_ROUTER}", ifname="ether1"}}'
    shares, ratios = (
        values_by(live.prometheus.result_when(f"{rule}{ether1}", lambda r: len(r) == 2), "direction")
        for rule in (
            "interface:fleetwatch_netdev_if_utilization:ratio_rate5m",
            "interface:fleetwatch_netdev_if_errors:ratio_rate5m",
        )
    )
    assert 0 < shares["in"] <= 1.3 * expected / WAN_SPEED, shares
    assert shares["in"] / shares["out"] == pytest.approx(4, rel=0.2), shares
    # 1 error and 0.5 discard per 100 packets received on ether1.
    assert ratios["in"] == pytest.approx(1.5 / 101.5, rel=0.2) and ratios["out"] == 0
