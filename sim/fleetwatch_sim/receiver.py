"""A webhook receiver for Alertmanager that prints each notification the way on-call staff read it.

The demo routes Alertmanager here; the end-to-end tests read the JSON lines it appends to
``--record`` (one per notification, as received).
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TextIO

MAX_BODY_BYTES = 4 * 1024 * 1024


def format_notification(payload: dict[str, Any]) -> str:
    """The readable text of one Alertmanager webhook notification."""
    lines = []
    status = str(payload.get("status", "?")).upper()
    group = ", ".join(f"{k}={v}" for k, v in sorted(payload.get("groupLabels", {}).items()))
    lines.append(f"=== [{status}] {group} -> {payload.get('receiver', '?')}")
    for alert in payload.get("alerts", []):
        labels = alert.get("labels", {})
        notes = alert.get("annotations", {})
        where = " ".join(
            f"{key}={labels[key]}" for key in ("severity", "site", "district", "host") if labels.get(key)
        )
        lines.append(f"  [{str(alert.get('status', '?')).upper()}] {labels.get('alertname', '?')} {where}")
        for key in ("summary_vi", "summary_en"):
            if notes.get(key):
                lines.append(f"    {key[-2:]}: {notes[key]}")
        if notes.get("runbook_url"):
            lines.append(f"    runbook: {notes['runbook_url']}")
    return "\n".join(lines)


class Receiver:
    """Keeps what it received: printed to ``out``, appended as JSON lines to ``record``."""

    def __init__(self, out: TextIO, record: Path | None) -> None:
        self.out = out
        self.record = record
        self.lock = threading.Lock()

    def take(self, payload: dict[str, Any]) -> None:
        with self.lock:
            print(format_notification(payload), file=self.out, flush=True)
            if self.record is not None:
                with self.record.open("a", encoding="utf-8") as handle:
                    handle.write(json.dumps(payload, ensure_ascii=False) + "\n")


def make_server(address: tuple[str, int], receiver: Receiver) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if not 0 < length <= MAX_BODY_BYTES:
                self.send_error(413 if length else 411)
                return
            try:
                payload = json.loads(self.rfile.read(length))
            except ValueError:
                self.send_error(400, "not JSON")
                return
            receiver.take(payload)
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass  # the notifications themselves are the log

    server = ThreadingHTTPServer(address, Handler)
    server.daemon_threads = True
    return server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="fleetwatch-receiver", description="Print Alertmanager webhook notifications as they arrive."
    )
    parser.add_argument("--listen", default="127.0.0.1:9095", help="HOST:PORT (default: %(default)s)")
    parser.add_argument("--record", type=Path, help="also append each notification as a JSON line here")
    args = parser.parse_args(argv)
    host, _, port = args.listen.rpartition(":")
    if not host or not port.isdigit():
        parser.error(f"--listen: {args.listen!r} is not HOST:PORT")
    server = make_server((host, int(port)), Receiver(sys.stdout, args.record))
    print(f"waiting for Alertmanager notifications on http://{args.listen}/", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
