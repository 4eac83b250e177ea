"""The alert rules as a real Prometheus loads them carry what Alertmanager routing and templates need."""

from __future__ import annotations

import json
import re
import subprocess
import time
from dataclasses import dataclass
from typing import Any

import pytest

from tests.conftest import REPO_ROOT, free_port, require_program
from tests.integration.alertmanager_support import AM_DIR, HTTP

RULES = REPO_ROOT / "deploy" / "prometheus" / "rules" / "alerts.rules.yml"
# The promtool unit tests: alerts.test.yml, and routers.test.yml for the router alerts.
RULE_TESTS = sorted((REPO_ROOT / "deploy" / "prometheus" / "tests").glob("*.test.yml"))
RUNBOOK = REPO_ROOT / "docs" / "runbook.md"
METRICS_DOC = REPO_ROOT / "docs" / "metrics.md"
# The join that keeps a down host's stale values out of every alert (see alerts.rules.yml): with
# the member's labels where the values are one member's, on agent_id alone where they are the
# agent's own counters, already collapsed over members.
UP_JOIN = re.compile(r"and on \(agent_id(, instance, job)?\) \(fleetwatch_agent_up == 1\)")


@pytest.fixture(scope="module")
def loaded_rules(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    """Every rule of alerts.rules.yml as a real Prometheus (2.x) loads it, from /api/v1/rules."""
    prometheus = require_program("prometheus", "apt-get install prometheus")
    tmp = tmp_path_factory.mktemp("prometheus")
    config = tmp / "prometheus.yml"
    config.write_text(f"global:\n  evaluation_interval: 1m\nrule_files:\n  - {RULES}\n")
    port = free_port()
    process = subprocess.Popen(
        [
            prometheus,
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, "prometheus exited"
            try:
                with HTTP.open(f"http://127.0.0.1:{port}/api/v1/rules", timeout=2) as response:
                    groups = json.load(response)["data"]["groups"]
                    if groups:
                        return [rule for group in groups for rule in group["rules"]]
            except OSError:
                pass
            assert time.monotonic() < deadline, "prometheus did not load the rules in time"
            time.sleep(0.3)
    finally:
        process.terminate()
        process.wait(timeout=10)


def alerting(rules: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    by_name: dict[str, list[dict[str, Any]]] = {}
    for rule in rules:
        if rule["type"] == "alerting":
            by_name.setdefault(rule["name"], []).append(rule)
    return by_name


def github_anchor(heading: str) -> str:
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


@dataclass(frozen=True)
class Case:
    alertname: str
    fires: bool
    labels: frozenset[str]


def unit_test_cases() -> list[Case]:
    """The alert_rule_test cases of the unit tests: which alert, firing or silent, which labels."""
    cases = []
    for path in RULE_TESTS:
        for chunk in path.read_text().split("- eval_time:")[1:]:
            name = re.search(r"^\s*alertname: (\w+)", chunk, re.M)
            assert name, chunk
            silent = re.search(r"^\s*exp_alerts: \[\]", chunk, re.M) is not None
            labels = frozenset(re.findall(r"^ {14}(\w+): ", chunk, re.M))
            cases.append(Case(name.group(1), not silent, labels))
    assert cases
    return cases


def test_every_alert_is_unit_tested_firing_and_silent(loaded_rules: list[dict[str, Any]]) -> None:
    cases = unit_test_cases()
    for name in alerting(loaded_rules):
        assert any(c.alertname == name and c.fires for c in cases), f"{name}: no firing case"
        assert any(c.alertname == name and not c.fires for c in cases), f"{name}: no silent case"


def test_alerts_carry_what_routing_and_templates_need(loaded_rules: list[dict[str, Any]]) -> None:
    anchors = {github_anchor(m) for m in re.findall(r"^#{1,6} (.+)$", RUNBOOK.read_text(), re.M)}
    host_alerts = {c.alertname for c in unit_test_cases() if c.fires and "host" in c.labels}
    site_alerts = {c.alertname for c in unit_test_cases() if c.fires and "site" in c.labels} - host_alerts
    assert "FleetwatchAgentDown" in host_alerts
    assert "FleetwatchSiteDown" in site_alerts
    for name, rules in alerting(loaded_rules).items():
        for rule in rules:
            assert rule["labels"]["severity"] in {"critical", "warning", "info"}, name
            notes = rule["annotations"]
            assert set(notes) == {
                "summary_vi",
                "summary_en",
                "description_vi",
                "description_en",
                "runbook_url",
            }
            assert re.search(r"[À-ỹ]", notes["summary_vi"] + notes["description_vi"]), (
                f"{name}: no diacritics"
            )
            assert notes["runbook_url"] == f"docs/runbook.md#{name.lower()}"
            assert name.lower() in anchors, f"{name}: no heading for it in docs/runbook.md"
            summaries = notes["summary_vi"] + notes["summary_en"]
            if name in host_alerts:
                assert "$labels.host" in summaries, name
            if name in host_alerts | site_alerts:
                assert "$labels.site" in summaries, name
                assert (
                    "by (site, district, site_type" in rule["query"]
                    or name in host_alerts
                    or re.search(r"\bsite_\w+:", rule["query"])
                ), f"{name}: a site alert keeps site, district, site_type"


def per_host_metrics() -> set[str]:
    section = METRICS_DOC.read_text().split("## Per-host metrics")[1].split("\n## ")[0]
    return set(re.findall(r"^\| `(fleetwatch_\w+)`", section, re.M))


def test_alerts_on_host_metrics_ignore_hosts_that_are_down(loaded_rules: list[dict[str, Any]]) -> None:
    """A down host's last values stay exposed: every alert that reads them must drop down hosts."""
    recorded = {r["name"]: r["query"] for r in loaded_rules if r["type"] == "recording"}

    def expand(query: str) -> str:
        for name, body in recorded.items():
            if re.search(rf"(?<![\w:]){re.escape(name)}(?![\w:])", query):
                query += " " + expand(body)
        return query

    metrics = per_host_metrics() - {"fleetwatch_agent_up"}
    assert "fleetwatch_antivirus_state" in metrics
    checked = 0
    for name, rules in alerting(loaded_rules).items():
        for rule in rules:
            query = expand(rule["query"])
            if any(re.search(rf"\b{m}\b", query) for m in metrics):
                assert UP_JOIN.search(query), f"{name} reads host metrics without {UP_JOIN.pattern!r}"
                checked += 1
    assert checked >= 20


def test_device_alerts_read_only_current_device_values(loaded_rules: list[dict[str, Any]]) -> None:
    """An agent's devices keep their last values while it is silent: every alert on device series
    reads the recording rule that drops them, and names the device, never the polling agent."""
    fresh = next(r for r in loaded_rules if r["name"] == "device:fleetwatch_netdev_up:fresh")
    assert UP_JOIN.search(fresh["query"])
    cases = unit_test_cases()
    device_alerts = {c.alertname for c in cases if c.fires and "device" in c.labels}
    assert {
        "FleetwatchRouterDown",
        "FleetwatchRouterInterfaceDown",
        "FleetwatchRouterRebooted",
    } <= device_alerts
    for case in cases:
        if case.alertname in device_alerts and case.fires:
            assert not {"agent_id", "host"} & case.labels, case
            assert {"device", "site", "district", "site_type"} <= case.labels, case
    checked = 0
    for name, rules in alerting(loaded_rules).items():
        for rule in rules:
            if "fleetwatch_netdev_" in rule["query"]:
                assert "device:fleetwatch_netdev_up:fresh" in rule["query"], name
                checked += 1
            if name in device_alerts:
                assert (
                    "$labels.device" in rule["annotations"]["summary_vi"] + rule["annotations"]["summary_en"]
                )
    assert checked >= len(device_alerts)


def test_config_names_only_alerts_that_exist(loaded_rules: list[dict[str, Any]]) -> None:
    """An inhibition or route naming a misspelt alert would never match: each name must exist."""
    names = set(alerting(loaded_rules))
    text = (AM_DIR / "alertmanager.yml").read_text()
    matchers = re.findall(r'alertname(=~|=)"([^"]+)"', text)
    assert len(matchers) >= 8
    for op, value in matchers:
        if op == "=":
            assert value in names, value
            continue
        for branch in expand_alternatives(value):
            assert branch in names, f"{branch!r} (from {value!r}) is no alert"


def expand_alternatives(regex: str) -> list[str]:
    """``A(b|c)D|E`` -> ``AbD``, ``AcD``, ``E``: the literal names an alertname regex lists."""
    parts, depth, start = [], 0, 0
    for i, char in enumerate(regex):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "|" and depth == 0:
            parts.append(regex[start:i])
            start = i + 1
    parts.append(regex[start:])
    if len(parts) > 1:
        return [name for part in parts for name in expand_alternatives(part)]
    if "(" not in regex:
        return [regex]
    open_at = regex.index("(")
    depth = 0
    for close_at in range(open_at, len(regex)):
        depth += {"(": 1, ")": -1}.get(regex[close_at], 0)
        if depth == 0:
            break
    prefix, inner, suffix = regex[:open_at], regex[open_at + 1 : close_at], regex[close_at + 1 :]
    return [
        name
        for branch in expand_alternatives(inner)
        for name in expand_alternatives(prefix + branch + suffix)
    ]
