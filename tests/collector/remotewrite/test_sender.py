"""The HTTP side of remote write against a real local HTTP(S) server: headers, credentials, keep-alive."""

from __future__ import annotations

import base64
import contextlib
import http.client
import http.server
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from fleetwatch_collector import tlsinit
from fleetwatch_collector.config import RemoteWriteSection
from fleetwatch_collector.remotewrite.sender import HttpSender
from tests.conftest import free_port


class Receiver(http.server.BaseHTTPRequestHandler):
    """Records each request; answers with the server's ``answer`` (status, body)."""

    protocol_version = "HTTP/1.1"  # keep-alive

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        server = self.server
        assert isinstance(server, RecordingServer)
        server.requests.append((self.path, dict(self.headers), body, self.client_address[1]))
        status, text = server.answer
        hang_up = server.hang_up  # read before answering: the test changes it once it has the answer
        payload = text.encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)
        self.close_connection = hang_up

    def log_message(self, format: str, *args: object) -> None:
        pass


class RecordingServer(http.server.ThreadingHTTPServer):
    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Receiver)
        self.requests: list[tuple[str, dict[str, str], bytes, int]] = []
        self.answer = (204, "")
        self.hang_up = False
        self.connections = 0

    def verify_request(self, request: object, client_address: object) -> bool:
        self.connections += 1  # called once per accepted connection
        return True


@contextlib.contextmanager
def receiver(context: ssl.SSLContext | None = None) -> Iterator[RecordingServer]:
    server = RecordingServer()
    if context is not None:
        server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def url(server: RecordingServer, scheme: str = "http", path: str = "/api/v1/write") -> str:
    return f"{scheme}://127.0.0.1:{server.server_address[1]}{path}"


def test_headers_path_and_keep_alive() -> None:
    with receiver() as server:
        section = RemoteWriteSection(
            url=url(server, path="/api/v1/write?tenant=a"), headers={"X-Scope-OrgID": "tg"}
        )
        sender = HttpSender(section)
        assert sender.post(b"first") == (204, "")
        server.answer = (400, "out of order sample")
        assert sender.post(b"second") == (400, "out of order sample")
        sender.close()
    (path, headers, body, _), (_, _, second, _) = server.requests
    assert path == "/api/v1/write?tenant=a"
    assert body == b"first" and second == b"second"
    assert headers["Content-Encoding"] == "snappy"
    assert headers["Content-Type"] == "application/x-protobuf"
    assert headers["X-Prometheus-Remote-Write-Version"] == "0.1.0"
    assert headers["User-Agent"].startswith("fleetwatch-collector/")
    assert headers["X-Scope-OrgID"] == "tg"
    assert "Authorization" not in headers
    assert server.connections == 1  # one connection for both


def test_bearer_token_read_for_every_request(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("first-token\n")
    with receiver() as server:
        sender = HttpSender(RemoteWriteSection(url=url(server), bearer_token_file=str(token)))
        sender.post(b"x")
        token.write_text("rotated-token\n")
        sender.post(b"y")
        sender.close()
    assert [r[1]["Authorization"] for r in server.requests] == ["Bearer first-token", "Bearer rotated-token"]


def test_basic_auth(tmp_path: Path) -> None:
    password = tmp_path / "password"
    password.write_text("s3cret:with colon\n")
    with receiver() as server:
        section = RemoteWriteSection(
            url=url(server), basic_auth_username="fleetwatch", basic_auth_password_file=str(password)
        )
        HttpSender(section).post(b"x")
    header = server.requests[0][1]["Authorization"]
    assert base64.b64decode(header.removeprefix("Basic ")) == b"fleetwatch:s3cret:with colon"


def test_unreadable_credentials_refuse_to_start(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="bearer_token_file"):
        HttpSender(RemoteWriteSection(url="http://127.0.0.1:9/w", bearer_token_file=str(tmp_path / "none")))
    empty = tmp_path / "empty"
    empty.write_text("\n")
    with pytest.raises(ValueError, match="is empty"):
        HttpSender(RemoteWriteSection(url="http://127.0.0.1:9/w", bearer_token_file=str(empty)))


def test_nobody_listening_is_an_os_error() -> None:
    sender = HttpSender(
        RemoteWriteSection(url=f"http://127.0.0.1:{free_port()}/api/v1/write", timeout_seconds=2)
    )
    with pytest.raises(OSError):
        sender.post(b"x")


def test_a_connection_the_receiver_closed_is_made_again() -> None:
    with receiver() as server:
        sender = HttpSender(RemoteWriteSection(url=url(server)))
        server.hang_up = True  # closes each connection after its answer, without saying so
        assert sender.post(b"one") == (204, "")
        server.hang_up = False
        with contextlib.suppress(OSError, http.client.HTTPException):
            sender.post(b"lost")  # on the closed connection: an error for the caller to retry
        assert sender.post(b"two") == (204, "")
        sender.close()
    assert [r[2] for r in server.requests][-1] == b"two"
    assert server.connections == 2


def test_https_with_the_operator_ca(tmp_path: Path) -> None:
    files = tlsinit.issue(tmp_path, "receiver", "receiver", ["127.0.0.1", "localhost"], server=True)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(files.cert, files.key)
    with receiver(context) as server:
        trusted = HttpSender(RemoteWriteSection(url=url(server, "https"), ca_file=str(files.ca_cert)))
        assert trusted.post(b"secret")[0] == 204
        trusted.close()
        untrusted = HttpSender(RemoteWriteSection(url=url(server, "https")))
        with pytest.raises(ssl.SSLError):
            untrusted.post(b"secret")
    assert [r[2] for r in server.requests] == [b"secret"]


def test_a_bad_ca_file_refuses_to_start(tmp_path: Path) -> None:
    bad = tmp_path / "ca.pem"
    bad.write_text("not a certificate")
    with pytest.raises(ValueError, match="ca_file"):
        HttpSender(RemoteWriteSection(url="https://127.0.0.1:9/w", ca_file=str(bad)))
