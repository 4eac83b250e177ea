"""Alertmanager routing, inhibition and templates, and the alert rules they rely on, with real tools.

amtool checks the shipped configuration, renders its templates and tests its routes offline. A real
Alertmanager on 127.0.0.1, its receivers pointed at local SMTP and HTTP sinks, shows inhibition,
grouping by site, office-hours muting and the secret files in use. A real Prometheus loads the alert
rules to check the labels, annotations and runbook links that routing and templates need.
"""

from __future__ import annotations

import base64
import email
import email.policy
import json
import os
import re
import shutil
import socketserver
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, cast
from zoneinfo import ZoneInfo

import pytest

from tests.conftest import REPO_ROOT, free_port, require_program

AM_DIR = REPO_ROOT / "deploy" / "alertmanager"
RULES = REPO_ROOT / "deploy" / "prometheus" / "rules" / "alerts.rules.yml"
RULE_TESTS = REPO_ROOT / "deploy" / "prometheus" / "tests" / "alerts.test.yml"
RUNBOOK = REPO_ROOT / "docs" / "runbook.md"
METRICS_DOC = REPO_ROOT / "docs" / "metrics.md"
AM_HINT = "apt-get install prometheus-alertmanager"
SECRETS_DIR = "/etc/prometheus/secrets/"
TOKEN_PLACEHOLDER = "__TELEGRAM_BOT_TOKEN__"
# The join that keeps a down host's stale values out of every alert (see alerts.rules.yml).
UP_JOIN = "and on (agent_id) (fleetwatch_agent_up == 1)"
# Loopback only: urllib would otherwise honour a proxy from the environment.
HTTP = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@pytest.fixture
def amtool() -> str:
    return require_program("amtool", AM_HINT)


@pytest.fixture
def alertmanager() -> str:
    # Upstream names the server `alertmanager`; Debian names it `prometheus-alertmanager`.
    if shutil.which("alertmanager"):
        return require_program("alertmanager", AM_HINT)
    return require_program("prometheus-alertmanager", AM_HINT)


@dataclass(frozen=True)
class Secrets:
    smtp_password: str = "smtp-pass-for-tests"
    webhook_token: str = "webhook-token-for-tests"
    telegram_bot_token: str = "123456:telegram-token-for-tests"


def install(dest: Path, secrets: Secrets) -> Path:
    """Install the shipped config in ``dest`` the way secrets/README.md says; return its path."""
    shutil.copytree(AM_DIR / "templates", dest / "templates")
    secret_dir = dest / "secrets"
    secret_dir.mkdir()
    # Alertmanager 0.25 sends the SMTP password file verbatim, newline included; the webhook
    # token file is trimmed, and the Telegram token goes through $(cat ...), which trims.
    files = {
        "smtp_password": secrets.smtp_password,
        "webhook_token": secrets.webhook_token + "\n",
        "telegram_bot_token": secrets.telegram_bot_token + "\n",
    }
    for name, content in files.items():
        (secret_dir / name).write_text(content)
        (secret_dir / name).chmod(0o600)
    text = (AM_DIR / "alertmanager.yml").read_text()
    token = (secret_dir / "telegram_bot_token").read_text().strip()
    text = text.replace(SECRETS_DIR, f"{secret_dir}/").replace(TOKEN_PLACEHOLDER, token)
    config = dest / "alertmanager.yml"
    config.write_text(text)
    return config


def rewrite(config: Path, replacements: dict[str, str]) -> None:
    text = config.read_text()
    for old, new in replacements.items():
        assert old in text, f"{old!r} is no longer in the shipped config: update this test"
        text = text.replace(old, new)
    config.write_text(text)


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), capture_output=True, text=True, check=False, timeout=60)


# --- offline: amtool -------------------------------------------------------------------------


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


# --- live: a real Alertmanager on 127.0.0.1 --------------------------------------------------


@dataclass
class Mail:
    recipients: list[str]
    subject: str
    text: str


class SmtpSink(socketserver.ThreadingTCPServer):
    """Just enough SMTP for Alertmanager's client: EHLO, AUTH PLAIN, MAIL, RCPT, DATA, QUIT."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), SmtpHandler)
        self.mails: list[Mail] = []
        self.auth: list[str] = []


class SmtpHandler(socketserver.StreamRequestHandler):
    def reply(self, *lines: str) -> None:
        self.wfile.write("".join(f"{line}\r\n" for line in lines).encode())

    def handle(self) -> None:
        sink = cast(SmtpSink, self.server)
        recipients: list[str] = []
        self.reply("220 sink.invalid ESMTP")
        while line := self.rfile.readline():
            command = line.decode("ascii", "replace").rstrip("\r\n")
            verb = command.split(" ", 1)[0].upper()
            if verb in ("EHLO", "HELO"):
                self.reply("250-sink.invalid", "250-AUTH PLAIN", "250 8BITMIME")
            elif verb == "AUTH":
                sink.auth.append(command)
                self.reply("235 2.7.0 Authentication successful")
            elif verb == "RCPT":
                recipients.append(command[command.index("<") + 1 : command.index(">")])
                self.reply("250 OK")
            elif verb == "DATA":
                self.reply("354 End data with <CR><LF>.<CR><LF>")
                raw = b"".join(iter(self.rfile.readline, b".\r\n")).replace(b"\r\n..", b"\r\n.")
                message = email.message_from_bytes(raw, policy=email.policy.default)
                body = cast(Any, message).get_body(preferencelist=("plain",))
                sink.mails.append(Mail(recipients, str(message["Subject"]), body.get_content()))
                recipients = []
                self.reply("250 OK")
            elif verb == "QUIT":
                self.reply("221 Bye")
                return
            else:  # MAIL, RSET, NOOP
                self.reply("250 OK")


@dataclass
class HttpRequest:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class HttpSink(ThreadingHTTPServer):
    """Receives the webhook and answers as the Telegram Bot API does."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), HttpHandler)
        self.requests: list[HttpRequest] = []

    def telegram(self) -> list[HttpRequest]:
        return [r for r in self.requests if r.path.endswith("/sendMessage")]

    def webhook(self) -> list[HttpRequest]:
        return [r for r in self.requests if r.path == "/webhook"]


class HttpHandler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        cast(HttpSink, self.server).requests.append(HttpRequest(self.path, dict(self.headers.items()), body))
        # Fields of a Telegram Message and a User together: enough for sendMessage and getMe.
        result = {
            "message_id": 1,
            "date": 0,
            "chat": {"id": 1, "type": "group"},
            "id": 1,
            "is_bot": True,
            "first_name": "fleetwatch",
            "username": "fleetwatch_bot",
        }
        answer = json.dumps({"ok": True, "result": result}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, format: str, *args: object) -> None:
        pass


@dataclass
class Live:
    url: str
    smtp: SmtpSink
    http: HttpSink
    secrets: Secrets
    log: Path
    sent: list[dict[str, Any]] = field(default_factory=list)

    def post(self, *alerts: dict[str, Any]) -> None:
        self.sent.extend(alerts)
        request = urllib.request.Request(
            f"{self.url}/api/v2/alerts",
            data=json.dumps(list(alerts)).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with HTTP.open(request, timeout=10) as response:
            assert response.status == 200

    def get(self, path: str) -> Any:
        with HTTP.open(f"{self.url}{path}", timeout=10) as response:
            return json.load(response)

    def wait_for(self, what: str, done: Callable[[], bool], timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while not done():
            if time.monotonic() > deadline:
                log = self.log.read_text()[-3000:]
                pytest.fail(f"timed out waiting for {what}; Alertmanager log:\n{log}")
            time.sleep(0.2)


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


def alert(name: str, severity: str, site: str, host: str = "", district: str = "h-cai-be") -> dict[str, Any]:
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

    def delivered() -> bool:
        return (
            len(mails_about("pc-b1")) >= 1
            and len(mails_about("pc-c1")) >= 1
            and len(mails_about("FleetwatchSiteWanPacketLoss")) >= 2
            and len([r for r in live.http.telegram() if b"FleetwatchSiteWanPacketLoss" in r.body]) >= 2
            and len(live.http.webhook()) >= 1
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
    (hook,) = live.http.webhook()
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


# --- the alert rules as Prometheus loads them ------------------------------------------------


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
    """The alert_rule_test cases of alerts.test.yml: which alert, firing or silent, which labels."""
    cases = []
    for chunk in RULE_TESTS.read_text().split("- eval_time:")[1:]:
        name = re.search(r"^\s*alertname: (\w+)", chunk, re.M)
        assert name, chunk
        silent = re.search(r"^\s*exp_alerts: \[\]", chunk, re.M) is not None
        labels = frozenset(re.findall(r"^ {14}(\w+): ", chunk, re.M))
        cases.append(Case(name.group(1), not silent, labels))
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
                assert UP_JOIN in query, f"{name} reads host metrics without {UP_JOIN!r}"
                checked += 1
    assert checked >= 20


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
