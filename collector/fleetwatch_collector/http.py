"""HTTP endpoint: /metrics (fleet + collector metrics in the Prometheus text format) and /healthz.

A bounded threaded WSGI server: at most ``http.max_connections`` connections are served at once
(more are closed at once), a client has ``http.timeout_seconds`` to send its whole request and as
long for each chunk of the answer, so idle and slow clients cannot keep threads. It can serve
HTTPS (``http.cert_file``) and require a bearer token or basic authentication for /metrics;
/healthz stays open for liveness probes. Every refusal counts in
``fleetwatch_collector_http_refused_total{reason}``. /metrics is gzip when the client accepts it
(Prometheus does), made of members compressed ahead of the scrape (gzipblocks.py, scrape.py).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hmac
import logging
import socket
import ssl
import sys
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from socketserver import ThreadingMixIn
from typing import IO, Any, cast
from wsgiref.simple_server import ServerHandler, WSGIRequestHandler, WSGIServer

from fleetwatch_collector.config import HttpSection
from fleetwatch_collector.scrape import MetricsPage, accepts_gzip
from fleetwatch_collector.selfmetrics import CollectorMetrics

log = logging.getLogger(__name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
INDEX_PAGE = (
    b"<html><head><title>fleetwatch collector</title></head><body><h1>fleetwatch collector</h1>"
    b'<p><a href="/metrics">/metrics</a> <a href="/healthz">/healthz</a></p></body></html>\n'
)
StartResponse = Callable[[str, list[tuple[str, str]]], Any]


class Credentials:
    """What /metrics requires: a bearer token, a basic-auth user and password, or nothing."""

    def __init__(self, http: HttpSection) -> None:
        self.bearer = _secret(http.bearer_token_file, "http.bearer_token_file")
        self.basic: bytes | None = None
        if http.basic_auth_username:
            password = _secret(http.basic_auth_password_file, "http.basic_auth_password_file")
            self.basic = http.basic_auth_username.encode() + b":" + (password or b"")

    @property
    def required(self) -> bool:
        return self.bearer is not None or self.basic is not None

    def allows(self, header: str) -> bool:
        scheme, _, value = header.partition(" ")
        given = value.strip().encode()
        if self.bearer is not None and scheme.lower() == "bearer":
            return hmac.compare_digest(given, self.bearer)
        if self.basic is not None and scheme.lower() == "basic":
            try:
                decoded = base64.b64decode(given, validate=True)
            except (binascii.Error, ValueError):
                return False
            return hmac.compare_digest(decoded, self.basic)
        return False


def _secret(path: str, option: str) -> bytes | None:
    if not path:
        return None
    try:
        value = Path(path).read_bytes().strip()
    except OSError as exc:
        raise ValueError(f"{option}: cannot read {path}: {exc.strerror}") from exc
    if not value:
        raise ValueError(f"{option}: {path} is empty")
    return value


def make_app(
    page: MetricsPage,
    healthy: Callable[[], bool],
    http: HttpSection | None = None,
    on_refused: Callable[[str], None] = lambda reason: None,
) -> Callable[[dict[str, Any], StartResponse], Iterable[bytes]]:
    credentials = Credentials(http or HttpSection())

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "/")
        if path == "/metrics":
            if credentials.required and not credentials.allows(environ.get("HTTP_AUTHORIZATION", "")):
                on_refused("unauthorized")
                offered = (("Bearer", credentials.bearer), ("Basic", credentials.basic))
                challenge = ", ".join(f'{s} realm="fleetwatch"' for s, on in offered if on)
                start_response(
                    "401 Unauthorized", [("Content-Type", "text/plain"), ("WWW-Authenticate", challenge)]
                )
                return [b"unauthorized\n"]
            headers = [("Content-Type", CONTENT_TYPE), ("Vary", "Accept-Encoding")]
            if accepts_gzip(environ.get("HTTP_ACCEPT_ENCODING", "")):
                start_response("200 OK", [*headers, ("Content-Encoding", "gzip")])
                return page.render_gzip()
            start_response("200 OK", headers)
            return page.render()
        if path == "/healthz":
            ok = healthy()
            body = b"ok\n" if ok else b"shutting down\n"
            start_response("200 OK" if ok else "503 Service Unavailable", [("Content-Type", "text/plain")])
            return [body]
        if path == "/":
            body = INDEX_PAGE
            start_response("200 OK", [("Content-Type", "text/html")])
            return [body]
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found\n"]

    return app


class _BoundedServer(ThreadingMixIn, WSGIServer):
    """A thread per connection, at most ``max_connections``. When all are taken, a new connection
    cuts the oldest one still sending its request (a real client sends it at once, so the oldest
    is the likeliest to be idle); when none is, the new one is closed at once."""

    daemon_threads = True
    block_on_close = False
    request_queue_size = 64

    def configure(self, http: HttpSection, on_refused: Callable[[str], None]) -> None:
        self.http = http
        self.on_refused = on_refused
        self.slots = threading.BoundedSemaphore(http.max_connections)
        self.receiving: dict[_Handler, float] = {}  # connections still sending their request, since
        self.receiving_lock = threading.Lock()
        self.tls = bool(http.cert_file)
        if self.tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.minimum_version = ssl.TLSVersion.TLSv1_2
            try:
                context.load_cert_chain(http.cert_file, http.key_file)
            except (OSError, ssl.SSLError) as exc:
                raise ValueError(f"http.cert_file and key_file: cannot load them: {exc}") from exc
            # The handshake happens in the connection's thread, under its deadline, never in accept().
            self.socket = context.wrap_socket(self.socket, server_side=True, do_handshake_on_connect=False)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self.slots.acquire(blocking=False) and not self._evict_oldest():
            self.on_refused("busy")
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self.slots.release()
            raise

    def _evict_oldest(self) -> bool:
        """Cut the connection that has been sending its request longest and take its place; False
        when there is none."""
        with self.receiving_lock:
            if not self.receiving:
                return False
            victim = min(self.receiving, key=lambda handler: self.receiving[handler])
            del self.receiving[victim]
        self.on_refused("evicted")
        victim.cut()
        return self.slots.acquire(timeout=5.0)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.slots.release()

    def handle_error(self, request: Any, client_address: Any) -> None:
        error = sys.exc_info()[1]
        if isinstance(error, OSError | ssl.SSLError):
            return  # a client that went away or timed out, already counted where it was seen
        log.exception("HTTP request from %s failed", client_address)


class _QuietServerHandler(ServerHandler):
    """wsgiref's handler, counting a client too slow to read its answer instead of printing a traceback."""

    on_refused: Callable[[str], None] = staticmethod(lambda reason: None)

    def handle_error(self) -> None:
        error = sys.exc_info()[1]
        if isinstance(error, TimeoutError | OSError):
            self.on_refused("timeout")
            self.close()
            return
        super().handle_error()


class _Handler(WSGIRequestHandler):
    """One connection: one request, read within the deadline, answered chunk by chunk within it."""

    server: _BoundedServer
    was_cut = False

    def setup(self) -> None:
        super().setup()
        self.connection.settimeout(self.server.http.timeout_seconds)  # each socket operation

    def handle(self) -> None:
        http = self.server.http
        # The whole request (TLS handshake, request line, headers) within timeout_seconds: a timer
        # shuts the socket down if it is not in by then, however slowly it trickles in.
        watchdog = threading.Timer(http.timeout_seconds, self.cut)
        watchdog.daemon = True
        watchdog.start()
        with self.server.receiving_lock:
            self.server.receiving[self] = time.monotonic()
        try:
            if self.server.tls:
                try:
                    self.connection.do_handshake()
                except (ssl.SSLError, OSError):
                    self.server.on_refused("tls_error")
                    return
            self.raw_requestline = self.rfile.readline(65537)
            if self.was_cut:  # the deadline passed, or a newer connection took its place
                raise TimeoutError
            if len(self.raw_requestline) > 65536:
                self.send_error(414)
                return
            if not self.parse_request() or self.was_cut:
                if self.was_cut:
                    raise TimeoutError
                return
        except (TimeoutError, OSError):
            self._count_timeout()
            return
        finally:
            watchdog.cancel()
            with self.server.receiving_lock:
                self.server.receiving.pop(self, None)
        handler = _QuietServerHandler(
            self.rfile, cast("IO[bytes]", self.wfile), self.get_stderr(), self.get_environ(), multithread=True
        )
        handler.on_refused = self.server.on_refused
        handler.request_handler = self  # type: ignore[attr-defined]  # wsgiref's back pointer, for close()
        app = self.server.get_app()
        if app is not None:
            handler.run(app)

    def cut(self) -> None:
        """End the connection now (its deadline passed, or a newer connection needs its thread)."""
        self.was_cut = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def _count_timeout(self) -> None:
        with self.server.receiving_lock:
            evicted = self not in self.server.receiving and self.was_cut
        if not evicted:  # an eviction was counted when it was decided
            self.server.on_refused("timeout")

    def log_message(self, format: str, *args: Any) -> None:
        pass


class HttpServer:
    """The bounded threaded WSGI server, in a background thread."""

    def __init__(
        self,
        host: str,
        port: int,
        app: Callable[..., Iterable[bytes]],
        http: HttpSection | None = None,
        metrics: CollectorMetrics | None = None,
    ) -> None:
        http = http or HttpSection()

        def refused(reason: str) -> None:
            if metrics is not None:
                metrics.http_refused.labels(reason).inc()

        self._server = _BoundedServer((host, port), _Handler)
        try:
            self._server.configure(http, refused)
        except BaseException:
            self._server.server_close()
            raise
        self._server.set_app(app)
        self.port = self._server.server_port
        self.tls = self._server.tls
        self._thread = threading.Thread(target=self._server.serve_forever, name="http", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
