"""The HTTP endpoint under hostile clients: idle and slow sockets time out and cannot take all threads,
/metrics can require TLS and a bearer token or basic authentication, every refusal is counted, and a
legitimate scrape is answered meanwhile (real collector process, loopback)."""

from __future__ import annotations

import base64
import contextlib
import socket
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import psutil

from tests.e2e.support import ProcessGroup, parse_samples, run_command, start_collector, value_of
from tests.security.support import write_config

TOKEN = "scrape-token-0123456789"


def scrape(url: str, authorization: str | None, context: ssl.SSLContext | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url, headers={"Authorization": authorization} if authorization else {})
    try:
        with urllib.request.urlopen(request, timeout=15, context=context) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(errors="replace")


def counter(url: str, reason: str, context: ssl.SSLContext | None = None) -> float:
    status, body = scrape(url, f"Bearer {TOKEN}", context)
    assert status == 200, body[:300]
    return value_of(parse_samples(body), "fleetwatch_collector_http_refused_total", reason=reason) or 0.0


@contextlib.contextmanager
def idle_sockets(address: str, count: int) -> Iterator[list[socket.socket]]:
    host, _, port = address.rpartition(":")
    sockets = []
    try:
        for _ in range(count):
            sockets.append(socket.create_connection((host, int(port)), timeout=5))
        yield sockets
    finally:
        for sock in sockets:
            sock.close()


def closed_by_server(sock: socket.socket) -> bool:
    sock.settimeout(0.05)
    try:
        return sock.recv(1) == b""
    except TimeoutError:
        return False
    except OSError:
        return True


def test_idle_and_slow_clients_cannot_hold_the_endpoint(processes: ProcessGroup, tmp_path: Path) -> None:
    (tmp_path / "token").write_text(TOKEN + "\n")
    config = write_config(
        tmp_path / "collector.toml",
        {
            "http": {
                "max_connections": 4,
                "timeout_seconds": 2.0,
                "bearer_token_file": str(tmp_path / "token"),
            }
        },
    )
    collector = start_collector(processes, tmp_path / "data", config=config)
    url = collector.metrics_url
    process = psutil.Process(collector.process.popen.pid)
    threads_before = process.num_threads()
    assert scrape(url, None)[0] == 401
    assert scrape(url, "Bearer wrong")[0] == 401
    assert counter(url, "unauthorized") == 2
    with idle_sockets(collector.http_address, 60) as sockets:
        slow = sockets[0]
        slow.sendall(b"GET /metrics HTTP/1.1\r\n")
        started = time.monotonic()
        for _ in range(5):  # a slow scraper, one header line now and then
            status, body = scrape(url, f"Bearer {TOKEN}")
            assert status == 200 and "fleetwatch_collector_build_info" in body, (status, body[:200])
            assert process.num_threads() <= threads_before + 4 + 4, "threads beyond http.max_connections"
            with contextlib.suppress(OSError):
                slow.sendall(b"X-Slow: 1\r\n")
            time.sleep(0.3)
        deadline = time.monotonic() + 20
        while not all(
            closed_by_server(s) for s in sockets
        ):  # every socket ends, at the latest at its deadline
            assert time.monotonic() < deadline, "idle sockets kept open"
            time.sleep(0.2)
        assert time.monotonic() - started < 20
    refused = {reason: counter(url, reason) for reason in ("busy", "evicted", "timeout")}
    assert refused["busy"] + refused["evicted"] + refused["timeout"] >= 60, refused
    assert refused["timeout"] >= 1, refused
    assert process.num_threads() <= threads_before + 4


def test_metrics_over_tls_with_basic_authentication(processes: ProcessGroup, tmp_path: Path) -> None:
    certs = tmp_path / "certs"
    made = run_command("fleetwatch-collector", "tls", "init", "--dir", str(certs), "--name", "127.0.0.1")
    assert made.returncode == 0, made.stderr
    (tmp_path / "password").write_text("s3cret-password\n")
    config = write_config(
        tmp_path / "collector.toml",
        {
            "http": {
                "cert_file": str(certs / "server.pem"),
                "key_file": str(certs / "server-key.pem"),
                "basic_auth_username": "prometheus",
                "basic_auth_password_file": str(tmp_path / "password"),
                "timeout_seconds": 2.0,
            }
        },
    )
    # start_collector waits for /healthz over plain HTTP; here the endpoint speaks TLS only.
    collector = start_tls_collector(processes, tmp_path, config)
    context = ssl.create_default_context(cafile=str(certs / "ca.pem"))
    url = f"https://{collector}/metrics"
    good = "Basic " + base64.b64encode(b"prometheus:s3cret-password").decode()
    bad = "Basic " + base64.b64encode(b"prometheus:guess").decode()
    assert scrape(url, bad, context)[0] == 401
    status, body = scrape(url, good, context)
    assert status == 200 and "fleetwatch_collector_build_info" in body
    assert (
        value_of(parse_samples(body), "fleetwatch_collector_http_refused_total", reason="unauthorized") == 1
    )
    # Plain HTTP to the TLS endpoint is refused and counted.
    host, _, port = collector.rpartition(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        sock.settimeout(5)
        with contextlib.suppress(OSError):
            sock.recv(100)
    time.sleep(0.5)
    status, body = scrape(url, good, context)
    assert value_of(parse_samples(body), "fleetwatch_collector_http_refused_total", reason="tls_error") == 1


def start_tls_collector(processes: ProcessGroup, tmp_path: Path, config: Path) -> str:
    """A collector whose /metrics is HTTPS; returns its HTTP address once it answers."""
    from tests.e2e.support import console_script, two_free_ports, wait_until

    grpc_port, http_port = two_free_ports()
    process = processes.spawn(
        [
            console_script("fleetwatch-collector"),
            "run",
            "--config",
            str(config),
            "--grpc-listen",
            f"127.0.0.1:{grpc_port}",
            "--http-listen",
            f"127.0.0.1:{http_port}",
            "--data-dir",
            str(tmp_path / "data"),
        ],
        "collector-tls",
    )
    wait_until(lambda: "collector serving" in process.stderr(), "the collector to serve", watch=(process,))
    return f"127.0.0.1:{http_port}"
