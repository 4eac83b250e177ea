"""HTTP endpoint: /metrics (fleet + collector metrics in the Prometheus text format) and /healthz."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from fleetwatch_collector.fleet import FleetState
from fleetwatch_collector.selfmetrics import CollectorMetrics

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
INDEX_PAGE = (
    b"<html><head><title>fleetwatch collector</title></head><body><h1>fleetwatch collector</h1>"
    b'<p><a href="/metrics">/metrics</a> <a href="/healthz">/healthz</a></p></body></html>\n'
)
StartResponse = Callable[[str, list[tuple[str, str]]], Any]


class MetricsPage:
    """Renders the whole /metrics body."""

    def __init__(self, fleet: FleetState, metrics: CollectorMetrics) -> None:
        self._fleet = fleet
        self._metrics = metrics

    def render(self) -> Iterator[bytes]:
        """The body in chunks: the fleet's families, then the collector's own metrics."""
        started = time.perf_counter()
        chunks, counts = self._fleet.render_chunks()
        for state in ("up", "down", "retired"):
            self._metrics.agents.labels(state).set(getattr(counts, state))
        self._metrics.unknown_site.set(counts.unknown_site)
        spent = time.perf_counter() - started
        while True:  # time the rendering, not the writing to the socket in between
            started = time.perf_counter()
            chunk = next(chunks, None)
            spent += time.perf_counter() - started
            if chunk is None:
                break
            yield chunk
        self._metrics.render_duration.set(spent)
        yield self._metrics.render()


def make_app(
    page: MetricsPage, healthy: Callable[[], bool]
) -> Callable[[dict[str, Any], StartResponse], Iterable[bytes]]:
    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "/")
        if path == "/metrics":
            start_response("200 OK", [("Content-Type", CONTENT_TYPE)])
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


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


class HttpServer:
    """A threaded WSGI server in a background thread."""

    def __init__(self, host: str, port: int, app: Callable[..., Iterable[bytes]]) -> None:
        self._server = make_server(
            host, port, app, server_class=_ThreadingServer, handler_class=_QuietHandler
        )
        self.port = self._server.server_port
        self._thread = threading.Thread(target=self._server.serve_forever, name="http", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
