"""From a site going dark to on-call's inbox: the shipped rules in a real Prometheus, the shipped
routing in a real Alertmanager, notifications caught by a webhook receiver in the test.

The simulated fleet plays a scenario: a commune's WAN goes dark, one host of a department has
its antivirus disabled, then both recover. Every alert's ``for`` is scaled by 1/60 (the demo's
stack tool), so ten minutes in the field are ten seconds here.
"""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fleetwatch_sim.receiver import Receiver, make_server
from fleetwatch_sim.stack import write_stack
from tests.conftest import free_port, require_program
from tests.e2e.support import (
    ProcessGroup,
    console_script,
    create_token,
    start_collector,
    wait_until,
    write_token_file,
)

pytestmark = pytest.mark.e2e
DARK_SITE = "xa-tan-my-chanh"
AV_SITE = "so-y-te"
INVENTORY = """
[[groups]]
slug = "tp-my-tho"
name = "Thành phố Mỹ Tho"

[[sites]]
slug = "xa-tan-my-chanh"
name = "Xã Tân Mỹ Chánh"
group = "tp-my-tho"
type = "commune"

[[sites]]
slug = "so-y-te"
name = "Sở Y tế"
group = "tp-my-tho"
type = "department"

[[sites]]
slug = "xa-my-phong"
name = "Xã Mỹ Phong"
group = "tp-my-tho"
type = "commune"
"""
SCENARIO = """
[[incidents]]
kind = "site_dark"
site = "xa-tan-my-chanh"
start = "8s"
duration = "40s"

[[incidents]]
kind = "antivirus"
state = "disabled"
site = "so-y-te"
hosts = 1
start = "8s"
duration = "50s"
"""
AGENTS = 6  # two per site
TIMEOUT = 150.0


@pytest.fixture
def inbox(tmp_path: Path) -> Iterator[Path]:
    """A webhook receiver on loopback; yields the file its notifications are recorded in."""
    record = tmp_path / "notifications.jsonl"
    record.touch()
    server = make_server(("127.0.0.1", 0), Receiver(io.StringIO(), record))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    record.with_suffix(".url").write_text(f"http://127.0.0.1:{server.server_address[1]}/")
    try:
        yield record
    finally:
        server.shutdown()
        server.server_close()


def notifications(record: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in record.read_text().splitlines() if line]


def alerts_of(record: Path, status: str, alertname: str, site: str) -> list[tuple[str, dict[str, Any]]]:
    """(receiver, alert) of every notified alert with that status, name and site."""
    return [
        (n["receiver"], alert)
        for n in notifications(record)
        for alert in n["alerts"]
        if alert["status"] == status
        and alert["labels"].get("alertname") == alertname
        and alert["labels"].get("site") == site
    ]


def test_site_outage_and_disabled_antivirus_reach_on_call_once(
    tmp_path: Path, processes: ProcessGroup, inbox: Path
) -> None:
    prometheus = require_program("prometheus", "apt-get install prometheus")
    try:
        alertmanager = require_program("prometheus-alertmanager", "apt-get install prometheus-alertmanager")
    except pytest.skip.Exception:
        alertmanager = require_program("alertmanager", "apt-get install prometheus-alertmanager")
    collector = start_collector(processes, tmp_path / "collector-data")
    token = write_token_file(tmp_path / "token", create_token(tmp_path / "collector-data"))
    (tmp_path / "sites.toml").write_text(INVENTORY)
    (tmp_path / "scenario.toml").write_text(SCENARIO)
    am_port, prom_port = free_port(), free_port()
    write_stack(
        tmp_path / "stack", collector.http_address, f"127.0.0.1:{am_port}",
        inbox.with_suffix(".url").read_text(), 1 / 60, "1s",
    )  # fmt: skip
    watch = [
        collector.process,
        processes.spawn(
            [alertmanager, f"--config.file={tmp_path / 'stack/alertmanager.yml'}",
             f"--storage.path={tmp_path / 'am'}", f"--web.listen-address=127.0.0.1:{am_port}",
             "--cluster.listen-address="],
            "alertmanager",
        ),
        processes.spawn(
            [prometheus, f"--config.file={tmp_path / 'stack/prometheus.yml'}",
             f"--storage.tsdb.path={tmp_path / 'tsdb'}", f"--web.listen-address=127.0.0.1:{prom_port}"],
            "prometheus",
        ),
        processes.spawn(
            [console_script("fleetwatch-sim"), "--collector", collector.grpc_address, "--agents", str(AGENTS),
             "--interval", "1", "--duration", str(TIMEOUT), "--sites", str(tmp_path / "sites.toml"),
             "--scenario", str(tmp_path / "scenario.toml"), "--token-file", str(token)],
            "simulate",
        ),
    ]  # fmt: skip

    def resolved() -> bool:
        return bool(
            alerts_of(inbox, "resolved", "FleetwatchSiteDown", DARK_SITE)
            and alerts_of(inbox, "resolved", "FleetwatchAntivirusDisabled", AV_SITE)
        )

    wait_until(resolved, "both incidents notified and resolved", timeout=TIMEOUT, interval=0.5, watch=watch)

    # The dark site: one firing notification per receiver it routes to, and not one about its hosts.
    site_down = alerts_of(inbox, "firing", "FleetwatchSiteDown", DARK_SITE)
    receivers = [receiver for receiver, _alert in site_down]
    assert receivers and len(receivers) == len(set(receivers)), receivers
    host_alerts = [
        alert["labels"]
        for n in notifications(inbox)
        for alert in n["alerts"]
        if alert["labels"].get("site") == DARK_SITE and "host" in alert["labels"]
    ]
    assert host_alerts == [], f"host alerts of the dark site reached on-call: {host_alerts}"
    # The disabled antivirus: one alert, naming host and site, in Vietnamese and English.
    disabled = alerts_of(inbox, "firing", "FleetwatchAntivirusDisabled", AV_SITE)
    hosts = {alert["labels"]["host"] for _receiver, alert in disabled}
    assert len(hosts) == 1, hosts
    (host,) = hosts
    receivers = [receiver for receiver, _alert in disabled]
    assert len(receivers) == len(set(receivers)), receivers
    notes = disabled[0][1]["annotations"]
    for language in ("vi", "en"):
        assert host in notes[f"summary_{language}"] and AV_SITE in notes[f"summary_{language}"], notes
    assert "diệt virus" in notes["summary_vi"] or "virus" in notes["summary_vi"].lower(), notes
