"""The demo's webhook receiver: takes Alertmanager's JSON over real HTTP, prints it readably, records it."""

from __future__ import annotations

import io
import json
import threading
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from fleetwatch_sim.receiver import Receiver, format_notification, make_server

NOTIFICATION = {
    "receiver": "oncall-webhook",
    "status": "firing",
    "groupLabels": {"alertname": "FleetwatchAntivirusDisabled", "site": "so-y-te"},
    "alerts": [
        {
            "status": "firing",
            "labels": {
                "alertname": "FleetwatchAntivirusDisabled",
                "severity": "critical",
                "site": "so-y-te",
                "district": "tp-my-tho",
                "host": "pc-so-y-te-001",
            },
            "annotations": {
                "summary_vi": "Phần mềm diệt virus bị tắt trên pc-so-y-te-001",
                "summary_en": "Antivirus disabled on pc-so-y-te-001",
                "runbook_url": "docs/runbook.md#fleetwatchantivirusdisabled",
            },
        }
    ],
}


def test_format_names_status_alert_host_site_in_both_languages() -> None:
    text = format_notification(NOTIFICATION)
    assert text.splitlines()[0] == (
        "=== [FIRING] alertname=FleetwatchAntivirusDisabled, site=so-y-te -> oncall-webhook"
    )
    assert "[FIRING] FleetwatchAntivirusDisabled severity=critical site=so-y-te" in text
    assert "host=pc-so-y-te-001" in text
    assert "vi: Phần mềm diệt virus bị tắt trên pc-so-y-te-001" in text
    assert "en: Antivirus disabled on pc-so-y-te-001" in text


def test_receiver_over_http_prints_and_records(tmp_path: Path) -> None:
    out = io.StringIO()
    record = tmp_path / "notifications.jsonl"
    server = make_server(("127.0.0.1", 0), Receiver(out, record))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}/"
    try:
        body = json.dumps(NOTIFICATION).encode()
        with urllib.request.urlopen(urllib.request.Request(url, body), timeout=5) as answer:
            assert answer.status == 200
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(urllib.request.Request(url, b"{not json"), timeout=5)
        assert refused.value.code == 400
    finally:
        server.shutdown()
        server.server_close()
    assert "Antivirus disabled on pc-so-y-te-001" in out.getvalue()
    (line,) = record.read_text().splitlines()
    assert json.loads(line) == NOTIFICATION
