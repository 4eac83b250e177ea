"""Alertmanager routing of the shipped config by severity and district, tested with amtool."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.alertmanager_support import AM_DIR, Secrets, amtool_program, install, run


@pytest.fixture
def amtool() -> str:
    return amtool_program()


ROUTES = [
    # Critical at a site: the province NOC page and the page of the district's team.
    (
        "alertname=FleetwatchSiteDown severity=critical site=xa-a district=h-cai-be",
        "province-noc-page,team-west-page",
    ),
    (
        "alertname=FleetwatchSiteThreatOutbreak severity=critical site=so-y-te district=tp-my-tho",
        "province-noc-page,team-center-page",
    ),
    # Warnings go to the district team's mailbox only.
    ("alertname=FleetwatchAgentDown severity=warning site=xa-i district=tx-go-cong agent_id=a1", "team-east"),
    (
        "alertname=FleetwatchAntivirusDisabled severity=warning site=xa-d district=h-cho-gao agent_id=a2",
        "team-center",
    ),
    # Info is recorded, never mailed.
    ("alertname=FleetwatchHostHighCpu severity=info site=xa-a district=h-cai-be agent_id=a3", "log-webhook"),
    # No site (collector, fleet-wide) or a district no team covers: the NOC.
    ("alertname=FleetwatchCollectorDown severity=critical instance=127.0.0.1:9464", "province-noc-page"),
    ("alertname=FleetwatchCollectorSlowRender severity=warning instance=127.0.0.1:9464", "province-noc"),
    ("alertname=FleetwatchSiteDown severity=critical site=xa-moi district=unassigned", "province-noc-page"),
    (
        "alertname=FleetwatchAgentDown severity=warning site=xa-moi district=unassigned agent_id=a4",
        "province-noc",
    ),
    # Router alerts are site alerts with a device: the district's team, paged when critical.
    (
        "alertname=FleetwatchRouterDown severity=critical site=so-tai-chinh district=tp-my-tho device=rt-stc",
        "province-noc-page,team-center-page",
    ),
    ("alertname=FleetwatchRouterDown severity=warning site=xa-a district=h-cai-be device=rt-a", "team-west"),
    (
        "alertname=FleetwatchRouterInterfaceDown severity=warning site=xa-i district=h-go-cong-dong "
        "device=rt-i ifname=Gi0/0",
        "team-east",
    ),
    # The trap receiver is the collector's: no site.
    (
        "alertname=FleetwatchSnmpTrapsRejected severity=warning instance=127.0.0.1:9464 reason=bad_community",
        "province-noc",
    ),
]


@pytest.mark.parametrize(("labels", "receivers"), ROUTES, ids=[r[1] + ":" + r[0].split()[0] for r in ROUTES])
def test_routes(amtool: str, tmp_path: Path, labels: str, receivers: str) -> None:
    config = install(tmp_path, Secrets())
    result = run(amtool, "config", "routes", "test", f"--config.file={config}", *labels.split())
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == receivers


def test_down_alerts_reach_the_office_hours_route(amtool: str, tmp_path: Path) -> None:
    """Host and site down alerts end on the sub-route that carries the office-hours mute."""
    config = install(tmp_path, Secrets())
    for labels in (
        "alertname=FleetwatchSiteDown severity=critical site=xa-a district=h-cai-be",
        "alertname=FleetwatchAgentDown severity=warning site=xa-a district=h-cai-be agent_id=a1",
        "alertname=FleetwatchAgentDown severity=warning site=xa-moi district=unassigned agent_id=a1",
    ):
        result = run(amtool, "config", "routes", "test", "--tree", f"--config.file={config}", *labels.split())
        assert result.returncode == 0, result.stdout + result.stderr
        leaves = [line for line in result.stdout.splitlines() if "receiver:" in line]
        assert leaves, result.stdout
        assert all('{alertname=~"FleetwatchAgentDown|FleetwatchSiteDown"}' in line for line in leaves), (
            result.stdout
        )
    muted_routes = (AM_DIR / "alertmanager.yml").read_text().count("*down-alerts-in-office-hours")
    assert muted_routes == 7  # 3 team pages + 3 team mailboxes + the NOC mailbox (the NOC page defines it)


def test_router_alerts_are_never_muted(amtool: str, tmp_path: Path) -> None:
    """Routers run day and night: their alerts do not end on the office-hours route."""
    config = install(tmp_path, Secrets())
    for labels in (
        "alertname=FleetwatchRouterDown severity=critical site=xa-a district=h-cai-be device=rt-a",
        "alertname=FleetwatchRouterDown severity=warning site=xa-a district=h-cai-be device=rt-a",
        "alertname=FleetwatchRouterInterfaceDown severity=warning site=xa-moi district=unassigned device=b",
    ):
        result = run(amtool, "config", "routes", "test", "--tree", f"--config.file={config}", *labels.split())
        assert result.returncode == 0, result.stdout + result.stderr
        leaves = [line for line in result.stdout.splitlines() if "receiver:" in line]
        assert leaves, result.stdout
        assert not any("FleetwatchSiteDown" in line for line in leaves), result.stdout
