"""TCP and HTTP checks against listeners and HTTP(S) servers the tests start on 127.0.0.1."""

from __future__ import annotations

import errno
import socket
import ssl
import struct
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from fleetwatch_agent.probes.connectivity.httpcheck import cert_not_after, http_get
from fleetwatch_agent.probes.connectivity.tcpcheck import os_error_reason, tcp_connect
from fleetwatch_collector import tlsinit
from tests.agent.probes.connectivity.servers import trickling_http
from tests.conftest import free_port

# --- TCP -----------------------------------------------------------------------------------------


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield sock


def test_tcp_open_port(listener: socket.socket) -> None:
    port = listener.getsockname()[1]
    result = tcp_connect("127.0.0.1", port, count=3, timeout=2.0)
    assert result.success and result.error == ""
    assert (result.sent, result.received) == (3, 3)
    assert 0 < result.rtt_min_seconds <= result.rtt_avg_seconds <= result.rtt_max_seconds < 2.0
    assert result.detail == f"127.0.0.1:{port}"


def test_tcp_closed_port_is_refused() -> None:
    result = tcp_connect("127.0.0.1", free_port(), count=2, timeout=2.0)
    assert not result.success
    assert (result.error, result.sent, result.received) == ("refused", 2, 0)


@pytest.mark.skipif(sys.platform != "linux", reason="relies on Linux dropping SYNs to a full accept queue")
def test_tcp_no_answer_is_timeout() -> None:
    """A listener whose accept queue is full drops new SYNs: the connect times out."""
    held: list[socket.socket] = []
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(0)
        port = sock.getsockname()[1]
        try:
            for _ in range(16):
                client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                held.append(client)
                client.settimeout(0.3)
                try:
                    client.connect(("127.0.0.1", port))
                except TimeoutError:
                    break
            else:
                pytest.skip("could not fill the accept queue")
            started = time.monotonic()
            result = tcp_connect("127.0.0.1", port, count=2, timeout=0.3)
            elapsed = time.monotonic() - started
        finally:
            for client in held:
                client.close()
    assert (result.error, result.sent, result.received) == ("timeout", 2, 0)
    assert 0.45 <= elapsed < 1.5  # one burst: (count - 1) * spacing + timeout, not count timeouts in a row


def test_tcp_name_that_does_not_resolve_is_dns_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_such_name(*args: object, **kwargs: object) -> object:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_such_name)
    result = tcp_connect("nowhere.test", 443, count=3)
    assert (result.success, result.error, result.sent) == (False, "dns_error", 3)
    assert "nowhere.test" in result.detail


@pytest.mark.parametrize(
    ("host", "port", "count"),
    [
        ("a" * 64 + ".test", 80, 1),
        ("", 80, 1),
        ("127.0.0.1", 0, 1),
        ("127.0.0.1", 70000, 1),
        ("127.0.0.1", 80, 0),
    ],
)
def test_tcp_arguments_that_cannot_work_are_other(host: str, port: int, count: int) -> None:
    result = tcp_connect(host, port, count=count, timeout=0.2)
    assert (result.success, result.error, result.sent) == (False, "other", 0)


@pytest.mark.parametrize(
    ("exc", "reason"),
    [
        (OSError(errno.EHOSTUNREACH, "No route to host"), "unreachable"),
        (OSError(errno.ENETUNREACH, "Network is unreachable"), "unreachable"),
        (ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused"), "refused"),
        (TimeoutError("timed out"), "timeout"),
        (OSError(errno.ETIMEDOUT, "Connection timed out"), "timeout"),
        (socket.gaierror(socket.EAI_NONAME, "Name or service not known"), "dns_error"),
        (ConnectionResetError(errno.ECONNRESET, "Connection reset by peer"), "other"),
    ],
)
def test_os_error_reasons(exc: OSError, reason: str) -> None:
    assert os_error_reason(exc)[0] == reason


def test_tcp_unreachable(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_route(self: socket.socket, address: object) -> int:
        return errno.EHOSTUNREACH

    monkeypatch.setattr(socket.socket, "connect_ex", no_route)
    result = tcp_connect("127.0.0.1", 9, count=2)
    assert (result.success, result.error, result.received) == (False, "unreachable", 0)
    assert "No route to host" in result.detail


@contextmanager
def resetting_listener(family: int = socket.AF_INET) -> Iterator[int]:
    """A listener that accepts every connection and at once resets it (SO_LINGER 0); yields its port."""
    host = "::1" if family == socket.AF_INET6 else "127.0.0.1"
    server = socket.socket(family, socket.SOCK_STREAM)
    server.bind((host, 0))
    server.listen(64)
    server.settimeout(0.05)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                connection, _ = server.accept()
            except TimeoutError:
                continue
            connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            connection.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1]
    finally:
        stop.set()
        thread.join(timeout=5)
        server.close()


def test_a_server_resetting_right_after_accepting_is_up_every_time() -> None:
    """ "Up" is the completed handshake: the reset that follows never changes the verdict."""
    with resetting_listener() as port:
        results = [tcp_connect("127.0.0.1", port, count=3, timeout=1.0, spacing=0.0) for _ in range(30)]
        verdicts = {result.error for result in results}
    assert verdicts == {""}


def test_tcp_over_ipv6_loopback() -> None:
    with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as sock:
        sock.bind(("::1", 0))
        sock.listen(16)
        port = sock.getsockname()[1]
        result = tcp_connect("::1", port, count=2, timeout=1.0)
    assert (result.success, result.address, result.detail) == (True, "::1", f"[::1]:{port}")


# --- HTTP(S) -------------------------------------------------------------------------------------


class Handler(BaseHTTPRequestHandler):
    """/ answers 200, /slow 200 after 0.2 s, /error 500, /moved 302 to /."""

    def do_GET(self) -> None:
        if self.path == "/slow":
            time.sleep(0.2)
        status = {"/error": 500, "/moved": 302}.get(self.path, 200)
        body = b"fine\n"
        self.send_response(status)
        if status == 302:
            self.send_header("Location", "/")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


class QuietServer(ThreadingHTTPServer):
    """Quiet about clients that hang up early (the timeout test does)."""

    def handle_error(self, request: object, client_address: object) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)  # type: ignore[arg-type]


class QuietServer6(QuietServer):
    address_family = socket.AF_INET6


@contextmanager
def serve(files: tlsinit.IssuedFiles | None = None, ipv6: bool = False, port: int = 0) -> Iterator[str]:
    """An HTTP server (HTTPS with ``files``) on 127.0.0.1 (or ::1); yields its base URL."""
    server = (QuietServer6 if ipv6 else QuietServer)(("::1" if ipv6 else "127.0.0.1", port), Handler)
    scheme = "http"
    if files is not None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(files.cert, files.key)
        server.socket = context.wrap_socket(server.socket, server_side=True)
        scheme = "https"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        host = "[::1]" if ipv6 else "127.0.0.1"
        yield f"{scheme}://{host}:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("pki")


@pytest.fixture(scope="module")
def server_files(pki: Path) -> tlsinit.IssuedFiles:
    return tlsinit.issue(pki, "server", "127.0.0.1", ["127.0.0.1"], server=True)


@pytest.fixture
def https_url(server_files: tlsinit.IssuedFiles) -> Iterator[str]:
    with serve(server_files) as url:
        yield url


@pytest.fixture
def http_url() -> Iterator[str]:
    with serve() as url:
        yield url


def test_https_ok_with_ca_file(https_url: str, server_files: tlsinit.IssuedFiles) -> None:
    result = http_get(https_url + "/", timeout=5.0, ca_file=str(server_files.ca_cert))
    assert result.success and result.error == ""
    assert (result.http_status, result.sent, result.received) == (200, 1, 1)
    assert result.tls_cert_not_after_unix is not None
    assert 800 < (result.tls_cert_not_after_unix - time.time()) / 86400 < 826
    assert 0 < result.rtt_avg_seconds == result.rtt_min_seconds == result.rtt_max_seconds < 5.0
    assert result.detail == "HTTP 200 OK"


def test_https_without_the_ca_is_tls_error(https_url: str) -> None:
    result = http_get(https_url + "/", timeout=5.0)  # system roots do not know the test CA
    assert (result.success, result.error, result.http_status) == (False, "tls_error", 0)
    assert "certificate" in result.detail


def test_https_name_mismatch_is_tls_error(pki: Path) -> None:
    files = tlsinit.issue(pki, "other", "other.example", ["other.example"], server=True)
    with serve(files) as url:
        result = http_get(url, timeout=5.0, ca_file=str(files.ca_cert))
    assert (result.success, result.error) == (False, "tls_error")
    assert "127.0.0.1" in result.detail  # "IP address mismatch, certificate is not valid for '127.0.0.1'"


def test_https_to_a_plain_http_server_is_tls_error(http_url: str) -> None:
    result = http_get(http_url.replace("http://", "https://"), timeout=5.0)
    assert (result.success, result.error) == (False, "tls_error")


def test_plain_http_has_no_certificate(http_url: str) -> None:
    result = http_get(http_url + "/?q=1", timeout=5.0)
    assert (result.success, result.http_status, result.tls_cert_not_after_unix) == (True, 200, None)


def test_time_to_first_byte_includes_the_server_delay(http_url: str) -> None:
    result = http_get(http_url + "/slow", timeout=5.0)
    assert result.success
    assert result.rtt_avg_seconds >= 0.2


def test_slow_server_times_out(http_url: str) -> None:
    result = http_get(http_url + "/slow", timeout=0.05)
    assert (result.success, result.error, result.sent, result.received) == (False, "timeout", 1, 0)


def test_server_error_status_is_http_status(http_url: str) -> None:
    result = http_get(http_url + "/error", timeout=5.0)
    assert (result.success, result.error, result.http_status) == (False, "http_status", 500)
    assert result.received == 1 and result.rtt_avg_seconds > 0  # answered: the time is kept
    assert result.detail == "HTTP 500 Internal Server Error"


def test_redirect_is_not_followed(http_url: str) -> None:
    result = http_get(http_url + "/moved", timeout=5.0)
    assert (result.success, result.http_status) == (True, 302)


def test_http_closed_port_is_refused() -> None:
    result = http_get(f"http://127.0.0.1:{free_port()}/", timeout=2.0)
    assert (result.success, result.error, result.sent) == (False, "refused", 1)


def test_http_name_that_does_not_resolve_is_dns_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_such_name(*args: object, **kwargs: object) -> object:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_such_name)
    result = http_get("https://nowhere.test/health", timeout=2.0)
    assert (result.success, result.error) == (False, "dns_error")


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("ftp://127.0.0.1/file", "scheme"),
        ("127.0.0.1:8080/", "scheme"),
        ("http:///path", "empty host"),
        ("http://127.0.0.1:99999/", "invalid URL"),
        ("https://" + "a" * 64 + ".test/", "invalid host name"),
    ],
)
def test_urls_that_cannot_work_are_other(url: str, words: str) -> None:
    result = http_get(url, timeout=0.2)
    assert (result.success, result.error, result.sent) == (False, "other", 0)
    assert words in result.detail


def test_missing_ca_file_is_other(tmp_path: Path) -> None:
    result = http_get("https://127.0.0.1:9/", timeout=0.2, ca_file=str(tmp_path / "none.pem"))
    assert (result.error, result.sent) == ("other", 0)
    assert "none.pem" in result.detail


def test_cert_not_after_is_the_time_not_the_days_left() -> None:
    assert cert_not_after({"notAfter": "Jan 11 00:00:00 2030 GMT"}) == 1_894_320_000
    assert cert_not_after({"notAfter": "Dec 31 12:00:00 2029 GMT"}) == 1_893_412_800
    assert cert_not_after({"notAfter": "Jan  1 00:00:00 2030 GMT"}) == 1_893_456_000  # OpenSSL's padding
    assert cert_not_after({}) is None
    assert cert_not_after(None) is None
    assert cert_not_after({"notAfter": "not a date"}) is None


def test_http_over_ipv6_loopback() -> None:
    with serve(ipv6=True) as url:
        result = http_get(url + "/", timeout=5.0)
    assert (result.success, result.http_status, result.address) == (True, 200, "::1")


def test_a_server_trickling_its_headers_is_a_timeout_at_the_deadline() -> None:
    """Each byte comes well within any per-read timeout: only a deadline for the whole request ends it."""
    with trickling_http(0.05) as url:
        started = time.monotonic()
        result = http_get(url, timeout=1.0)
        elapsed = time.monotonic() - started
    assert (result.success, result.error, result.sent, result.received) == (False, "timeout", 1, 0), result
    assert "no response headers" in result.detail
    assert 0.9 <= elapsed < 1.5
