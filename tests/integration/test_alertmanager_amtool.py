"""The shipped Alertmanager config offline with amtool: check-config, no inline secret, templates."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.integration.alertmanager_support import (
    AM_DIR,
    SECRETS_DIR,
    TOKEN_PLACEHOLDER,
    Secrets,
    amtool_program,
    install,
    run,
)


@pytest.fixture
def amtool() -> str:
    return amtool_program()


def test_shipped_config_passes_amtool_check_config(amtool: str, tmp_path: Path) -> None:
    result = run(amtool, "check-config", str(install(tmp_path, Secrets())))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout
    # The template glob is relative to the config file and must find the template.
    assert " - 1 templates" in result.stdout, result.stdout


def test_shipped_config_holds_no_secret() -> None:
    text = (AM_DIR / "alertmanager.yml").read_text()
    # Inline secrets: only the documented Telegram placeholder (0.25 has no bot_token_file).
    assert re.findall(r"^\s*bot_token:\s*(\S+)", text, re.M) == [TOKEN_PLACEHOLDER]
    for key in ("auth_password", "smtp_auth_password", "auth_secret", "credentials", "password"):
        assert not re.search(rf"^\s*{key}:", text, re.M), f"inline {key} in alertmanager.yml"
    # Every secret file lives in one directory, and secrets/README.md explains each of them.
    files = re.findall(r"_file:\s*(\S+)", text)
    assert files
    readme = (AM_DIR / "secrets" / "README.md").read_text()
    for path in files:
        assert path.startswith(SECRETS_DIR), path
        assert Path(path).name in readme, f"{path} is not documented in secrets/README.md"
    assert "telegram_bot_token" in readme


SAMPLE_DATA = {
    "receiver": "team-west",
    "status": "firing",
    "externalURL": "http://127.0.0.1:9093",
    "groupLabels": {"alertname": "FleetwatchAntivirusDisabled", "site": "xa-tan-my-chanh"},
    "commonLabels": {
        "alertname": "FleetwatchAntivirusDisabled",
        "severity": "warning",
        "site": "xa-tan-my-chanh",
        "district": "h-cai-be",
    },
    "commonAnnotations": {},
    "alerts": [
        {
            "status": "firing",
            "labels": {
                "alertname": "FleetwatchAntivirusDisabled",
                "severity": "warning",
                "agent_id": "a1",
                "host": "pc-ke-toan-01",
                "site": "xa-tan-my-chanh",
                "district": "h-cai-be",
            },
            "annotations": {
                "summary_vi": "Máy pc-ke-toan-01 (đơn vị xa-tan-my-chanh) đã tắt phần mềm diệt virus",
                "summary_en": "Antivirus disabled on pc-ke-toan-01 (site xa-tan-my-chanh)",
                "description_vi": "Bảo vệ thời gian thực <tắt> & chưa bật lại.",
                "description_en": "Real-time protection <off> & not back on.",
                "runbook_url": "docs/runbook.md#fleetwatchantivirusdisabled",
            },
            "startsAt": "2025-03-03T02:00:00Z",
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://127.0.0.1:9090/graph",
            "fingerprint": "0000000000000001",
        }
    ],
}


def render(amtool: str, tmp_path: Path, template: str, kind: str = "text") -> str:
    data = tmp_path / "data.json"
    data.write_text(json.dumps(SAMPLE_DATA, ensure_ascii=False))
    result = run(
        amtool,
        "template",
        "render",
        f"--template.glob={AM_DIR / 'templates' / '*.tmpl'}",
        f"--template.text={{{{ template {json.dumps(template)} . }}}}",
        f"--template.type={kind}",
        f"--template.data={data}",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@pytest.mark.parametrize(
    ("template", "kind"),
    [
        ("fleetwatch.email.text", "text"),
        ("fleetwatch.telegram.message", "text"),
        ("fleetwatch.email.html", "html"),
    ],
)
def test_templates_render_vietnamese_then_english(
    amtool: str, tmp_path: Path, template: str, kind: str
) -> None:
    out = render(amtool, tmp_path, template, kind)
    vietnamese = out.index("Máy pc-ke-toan-01 (đơn vị xa-tan-my-chanh) đã tắt phần mềm diệt virus")
    english = out.index("Antivirus disabled on pc-ke-toan-01 (site xa-tan-my-chanh)")
    assert vietnamese < english
    assert out.index("[CẢNH BÁO]") < out.index("[WARNING]")
    assert "đơn vị xa-tan-my-chanh (h-cai-be)" in out
    assert "docs/runbook.md#fleetwatchantivirusdisabled" in out
    if kind == "html" or "telegram" in template:
        # Telegram's HTML parse mode and e-mail HTML: annotation text is escaped.
        assert "&lt;" in out
        assert "<tắt>" not in out
    if template == "fleetwatch.email.text":
        assert "Máy: pc-ke-toan-01 · Đơn vị: xa-tan-my-chanh" in out
        assert "Host: pc-ke-toan-01 · Site: xa-tan-my-chanh" in out


def test_email_subject_is_one_vietnamese_line(amtool: str, tmp_path: Path) -> None:
    subject = render(amtool, tmp_path, "fleetwatch.email.subject")
    assert (
        subject == "[CẢNH BÁO] FleetwatchAntivirusDisabled · đơn vị xa-tan-my-chanh (h-cai-be) · 1 đang báo"
    )
