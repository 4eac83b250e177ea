"""Helpers of the Alertmanager tests: the shipped config installed with secrets, mail and HTTP sinks."""

from __future__ import annotations

import email
import email.policy
import json
import shutil
import socketserver
import subprocess
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, cast

import pytest

from tests.conftest import REPO_ROOT, require_program

AM_DIR = REPO_ROOT / "deploy" / "alertmanager"
AM_HINT = "apt-get install prometheus-alertmanager"
SECRETS_DIR = "/etc/prometheus/secrets/"
TOKEN_PLACEHOLDER = "__TELEGRAM_BOT_TOKEN__"
# Loopback only: urllib would otherwise honour a proxy from the environment.
HTTP = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def amtool_program() -> str:
    return require_program("amtool", AM_HINT)


def alertmanager_program() -> str:
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
