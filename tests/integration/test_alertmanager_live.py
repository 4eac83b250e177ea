"""A real Alertmanager on 127.0.0.1 with the shipped config: inhibition, grouping, muting, secret files."""

from __future__ import annotations

import base64
import os
import re
import subprocess
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.conftest import free_port
from tests.integration.alertmanager_support import (
    HTTP,
    HttpRequest,
    HttpSink,
    Live,
    Mail,
    Secrets,
    SmtpSink,
    alertmanager_program,
    install,
    rewrite,
)


@pytest.fixture
def alertmanager() -> str:
    return alertmanager_program()


@pytest.fixture
def live(alertmanager: str, tmp_path: Path) -> Iterator[Live]:
    """The shipped config in a real Alertmanager; every receiver points at a sink on 127.0.0.1."""
    smtp, http = SmtpSink(), HttpSink()
    for server in (smtp, http):
        threading.Thread(target=server.serve_forever, daemon=True).start()
    secrets = Secrets()
    config = install(tmp_path, secrets)
    http_url = f"http://127.0.0.1:{http.server_address[1]}"
    rewrite(
        config,
        {
            "smtp.example.invalid:587": f"127.0.0.1:{smtp.server_address[1]}",
            "smtp_require_tls: true": "smtp_require_tls: false",  # the sink has no STARTTLS
            "https://api.telegram.org": http_url,
            "https://hooks.example.invalid/fleetwatch/alerts": f"{http_url}/webhook",
            "group_wait: 30s": "group_wait: 1s",
        },
    )
    remote = re.findall(r"(?:smarthost|url|api_url):\s*(\S+)", config.read_text())
    assert remote
    assert all("127.0.0.1" in value for value in remote), remote
    port = free_port()
    log = tmp_path / "alertmanager.log"
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    with log.open("w") as log_file:
        process = subprocess.Popen(
            [
                alertmanager,
                f"--config.file={config}",
                f"--storage.path={tmp_path / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--cluster.listen-address=",  # no gossip port
                "--log.level=debug",
            ],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            env=env,
        )
    try:
        state = Live(f"http://127.0.0.1:{port}", smtp, http, secrets, log)

        def ready() -> bool:
            assert process.poll() is None, log.read_text()
            try:
                with HTTP.open(f"{state.url}/-/ready", timeout=1) as response:
                    return bool(response.status == 200)
            except OSError:
                return False

        state.wait_for("Alertmanager to be ready", ready, timeout=20)
        yield state
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        smtp.shutdown()
        http.shutdown()
        smtp.server_close()
        http.server_close()


def alert(
    name: str,
    severity: str,
    site: str,
    host: str = "",
    district: str = "h-cai-be",
    device: str = "",
    ifname: str = "",
) -> dict[str, Any]:
    """An alert as Prometheus sends it: a host alert with ``host``, a router alert with ``device``
    (and ``ifname`` for an interface), else a site alert."""
    labels = {
        "alertname": name,
        "severity": severity,
        "site": site,
        "district": district,
        "site_type": "commune",
    }
    where_vi, where_en = f"đơn vị {site}", f"site {site}"
    if host:
        labels |= {"agent_id": f"id-{host}", "host": host}
        where_vi, where_en = f"máy {host} ({where_vi})", f"{host} ({where_en})"
    if device:
        labels |= {"device": device} | ({"ifname": ifname} if ifname else {})
        port = f" {ifname}" if ifname else ""
        where_vi, where_en = f"router {device}{port} ({where_vi})", f"router {device}{port} ({where_en})"
    return {
        "labels": labels,
        "annotations": {
            "summary_vi": f"{name} [{severity}] tại {where_vi}",
            "summary_en": f"{name} [{severity}] at {where_en}",
            "description_vi": f"Mô tả: {where_vi}",
            "description_en": f"Details: {where_en}",
            "runbook_url": f"docs/runbook.md#{name.lower()}",
        },
        "startsAt": datetime.now(UTC).isoformat(),
        "generatorURL": "http://127.0.0.1:9090/graph",
    }


def test_live_inhibition_grouping_and_secret_files(live: Live) -> None:
    live.post(
        alert("FleetwatchSiteDown", "critical", "xa-a"),
        alert("FleetwatchAntivirusDisabled", "warning", "xa-a", host="pc-a1"),
        alert("FleetwatchAntivirusDisabled", "warning", "xa-b", host="pc-b1"),
        alert("FleetwatchAntivirusDisabled", "warning", "xa-b", host="pc-b2"),
        alert("FleetwatchAntivirusDisabled", "warning", "xa-c", host="pc-c1"),
        alert("FleetwatchSiteWanPacketLoss", "warning", "xa-d"),
        alert("FleetwatchSiteWanPacketLoss", "critical", "xa-d"),
    )

    # Inhibition as the API reports it.
    status = {
        (
            a["labels"]["alertname"],
            a["labels"]["site"],
            a["labels"].get("host", ""),
            a["labels"]["severity"],
        ): a
        for a in live.get("/api/v2/alerts")
    }
    assert len(status) == len(live.sent)
    suppressed = {key for key, a in status.items() if a["status"]["inhibitedBy"]}
    assert suppressed == {
        ("FleetwatchAntivirusDisabled", "xa-a", "pc-a1", "warning"),  # its site is down
        ("FleetwatchSiteWanPacketLoss", "xa-d", "", "warning"),  # the critical tier is firing
    }

    # Notifications: warnings mailed to the west team, grouped per site; the critical WAN
    # alert paged to the NOC (mail, Telegram, webhook) and to the west team (mail, Telegram).
    def mails_about(text: str) -> list[Mail]:
        return [m for m in live.smtp.mails if text in m.text]

    def wan_hooks() -> list[HttpRequest]:
        # The site-down page of xa-a reaches the webhook too in office hours (the other test's subject).
        hooks = live.http.webhook()
        return [h for h in hooks if h.json()["groupLabels"].get("alertname") == "FleetwatchSiteWanPacketLoss"]

    def delivered() -> bool:
        return (
            len(mails_about("pc-b1")) >= 1
            and len(mails_about("pc-c1")) >= 1
            and len(mails_about("FleetwatchSiteWanPacketLoss")) >= 2
            and len([r for r in live.http.telegram() if b"FleetwatchSiteWanPacketLoss" in r.body]) >= 2
            and len(wan_hooks()) >= 1
        )

    live.wait_for("the notifications", delivered)
    time.sleep(2)  # every group flushed together: anything more would have come by now

    (mail_b,) = mails_about("pc-b1")
    assert "pc-b2" in mail_b.text, "alerts of one site and alert name share one message"
    assert mail_b.recipients == ["phia-tay@example.invalid"]
    assert mail_b.subject.startswith("[CẢNH BÁO] FleetwatchAntivirusDisabled · đơn vị xa-b")
    assert mail_b.text.index("tại máy pc-b1 (đơn vị xa-b)") < mail_b.text.index("at pc-b1 (site xa-b)")
    assert "pc-c1" not in mail_b.text
    everything = [m.text for m in live.smtp.mails] + [r.body.decode() for r in live.http.requests]
    assert not [text for text in everything if "pc-a1" in text], "an inhibited alert was notified"

    wan_mails = mails_about("FleetwatchSiteWanPacketLoss")
    assert sorted(r for m in wan_mails for r in m.recipients) == [
        "noc@example.invalid",
        "phia-tay@example.invalid",
    ]
    assert all(m.subject.startswith("[NGHIÊM TRỌNG]") for m in wan_mails)
    assert all("[warning]" not in m.text for m in wan_mails)

    # The secret files are what Alertmanager authenticates with.
    assert live.smtp.auth
    for command in live.smtp.auth:
        mechanism, encoded = command.split(" ")[1:]
        assert mechanism == "PLAIN"
        assert (
            base64.b64decode(encoded).decode()
            == f"\0fleetwatch@example.invalid\0{live.secrets.smtp_password}"
        )
    (hook,) = wan_hooks()
    assert hook.headers["Authorization"] == f"Bearer {live.secrets.webhook_token}"
    payload = hook.json()
    assert payload["groupLabels"] == {"alertname": "FleetwatchSiteWanPacketLoss", "site": "xa-d"}
    assert [a["labels"]["severity"] for a in payload["alerts"]] == ["critical"]

    telegrams = [r for r in live.http.telegram() if b"FleetwatchSiteWanPacketLoss" in r.body]
    assert {r.path for r in telegrams} == {f"/bot{live.secrets.telegram_bot_token}/sendMessage"}
    assert sorted(str(r.json()["chat_id"]) for r in telegrams) == ["-1001000000001", "-1001000000003"]
    for request in telegrams:
        message = request.json()
        assert message["parse_mode"] == "HTML"
        assert message["text"].startswith("<b>[NGHIÊM TRỌNG] FleetwatchSiteWanPacketLoss · đơn vị xa-d")
        assert message["text"].index("tại đơn vị xa-d") < message["text"].index("at site xa-d")


def test_live_down_alerts_notify_in_office_hours_only(live: Live) -> None:
    now = datetime.now(ZoneInfo("Asia/Ho_Chi_Minh"))
    minutes = now.hour * 60 + now.minute
    if any(abs(minutes - edge) <= 2 for edge in (0, 8 * 60, 17 * 60, 24 * 60)):
        pytest.skip("too close to an office-hours boundary to tell muted from not muted")
    office_hours = now.weekday() < 5 and 8 * 60 <= minutes < 17 * 60

    live.post(
        alert("FleetwatchSiteDown", "critical", "xa-m"),
        # A critical alert that is never muted: once it is paged, the site-down page has had its chance.
        alert("FleetwatchSiteThreatOutbreak", "critical", "xa-n"),
    )

    def paged(name: str) -> list[HttpRequest]:
        return [r for r in live.http.telegram() if name.encode() in r.body]

    live.wait_for("the control page", lambda: len(paged("FleetwatchSiteThreatOutbreak")) == 2)
    time.sleep(2)
    site_down = paged("FleetwatchSiteDown")
    if office_hours:
        assert len(site_down) == 2, f"{now:%a %H:%M} is office time: the site-down page must go out"
    else:
        assert site_down == [], f"{now:%a %H:%M} (Asia/Ho_Chi_Minh) is outside office hours: muted"


def test_live_site_and_router_incidents_are_one_alert_each(live: Live) -> None:
    """xa-a is cut off: its site alert inhibits its router's; at xa-b the router rt-b does not
    answer: its own interface alerts and the hosts' failing pings to it are inhibited, not those
    of the site's other router rt-b2; xa-c only has a port down."""
    live.post(
        alert("FleetwatchSiteDown", "critical", "xa-a"),
        alert("FleetwatchRouterDown", "critical", "xa-a", device="rt-a"),
        alert("FleetwatchRouterInterfaceDown", "warning", "xa-a", device="rt-a", ifname="Gi0/0"),
        alert("FleetwatchRouterDown", "warning", "xa-b", device="rt-b"),
        alert("FleetwatchRouterInterfaceDown", "warning", "xa-b", device="rt-b", ifname="Gi0/1"),
        alert("FleetwatchRouterWanSaturated", "warning", "xa-b", device="rt-b", ifname="Gi0/0"),
        alert("FleetwatchSiteRouterUnreachable", "warning", "xa-b"),
        alert("FleetwatchRouterInterfaceDown", "warning", "xa-b", device="rt-b2", ifname="ether3"),
        alert("FleetwatchRouterInterfaceDown", "warning", "xa-c", device="rt-c", ifname="Gi0/2"),
    )
    status = {
        (a["labels"]["alertname"], a["labels"].get("device", ""), a["labels"].get("ifname", "")): a
        for a in live.get("/api/v2/alerts")
    }
    assert len(status) == len(live.sent)
    suppressed = {key for key, a in status.items() if a["status"]["inhibitedBy"]}
    assert suppressed == {
        ("FleetwatchRouterDown", "rt-a", ""),  # its site is down
        ("FleetwatchRouterInterfaceDown", "rt-a", "Gi0/0"),
        ("FleetwatchRouterInterfaceDown", "rt-b", "Gi0/1"),  # its router does not answer
        ("FleetwatchRouterWanSaturated", "rt-b", "Gi0/0"),
        ("FleetwatchSiteRouterUnreachable", "", ""),
    }

    def mails_about(text: str) -> list[Mail]:
        return [m for m in live.smtp.mails if text in m.text]

    live.wait_for(
        "the router notifications",
        lambda: bool(mails_about("router rt-b (") and mails_about("rt-b2") and mails_about("rt-c")),
    )
    time.sleep(2)  # every group flushed together: anything more would have come by now
    everything = [m.text for m in live.smtp.mails] + [r.body.decode() for r in live.http.requests]
    for inhibited in ("rt-a", "Gi0/1", "FleetwatchRouterWanSaturated", "FleetwatchSiteRouterUnreachable"):
        assert not [text for text in everything if inhibited in text], f"{inhibited} was notified"
    (router_down,) = mails_about("router rt-b (")
    assert router_down.recipients == ["phia-tay@example.invalid"]
    assert router_down.subject.startswith("[CẢNH BÁO] FleetwatchRouterDown · đơn vị xa-b")
    assert "Thiết bị: rt-b · Đơn vị: xa-b" in router_down.text
    assert "Device: rt-b · Site: xa-b" in router_down.text
    (port_down,) = mails_about("rt-b2")
    assert "Thiết bị: rt-b2 · Cổng: ether3 · Đơn vị: xa-b" in port_down.text
    assert "Device: rt-b2 · Interface: ether3 · Site: xa-b" in port_down.text
