"""POSTs remote write bodies to the receiver over one kept-alive HTTP(S) connection (blocking: a thread)."""

from __future__ import annotations

import base64
import http.client
import ssl
from pathlib import Path
from urllib.parse import urlsplit

from fleetwatch_collector import __version__
from fleetwatch_collector.config import RemoteWriteSection

# Enough of an error answer to classify it and log it; a longer one closes the connection.
MAX_ANSWER_BYTES = 64 * 1024
HEADERS = {
    "Content-Encoding": "snappy",
    "Content-Type": "application/x-protobuf",
    "User-Agent": f"fleetwatch-collector/{__version__}",
    "X-Prometheus-Remote-Write-Version": "0.1.0",
}


def read_secret(path: str, option: str) -> str:
    """The first line of a credential file, read again for every request (rotation without restart)."""
    try:
        value = Path(path).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"remote_write.{option}: cannot read {path}: {exc}") from exc
    if not value:
        raise ValueError(f"remote_write.{option}: {path} is empty")
    return value


class HttpSender:
    """One receiver; ``post`` raises OSError or http.client.HTTPException when no answer came."""

    def __init__(self, section: RemoteWriteSection) -> None:
        parts = urlsplit(section.url)
        self._https = parts.scheme == "https"
        self._host = parts.hostname or ""
        self._port = parts.port
        self._path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self._timeout = section.timeout_seconds
        self._section = section
        self._context: ssl.SSLContext | None = None
        if self._https:
            try:
                self._context = ssl.create_default_context(cafile=section.ca_file or None)
            except (OSError, ssl.SSLError) as exc:
                raise ValueError(f"remote_write.ca_file: cannot load {section.ca_file}: {exc}") from exc
        self.authorization()  # unreadable credential files refuse to start
        self._connection: http.client.HTTPConnection | None = None

    def authorization(self) -> str | None:
        """The Authorization header value, or None."""
        section = self._section
        if section.bearer_token_file:
            return "Bearer " + read_secret(section.bearer_token_file, "bearer_token_file")
        if section.basic_auth_username:
            password = read_secret(section.basic_auth_password_file, "basic_auth_password_file")
            pair = f"{section.basic_auth_username}:{password}".encode()
            return "Basic " + base64.b64encode(pair).decode("ascii")
        return None

    def _connect(self) -> http.client.HTTPConnection:
        if self._connection is None:
            if self._https:
                self._connection = http.client.HTTPSConnection(
                    self._host, self._port, timeout=self._timeout, context=self._context
                )
            else:
                self._connection = http.client.HTTPConnection(self._host, self._port, timeout=self._timeout)
        return self._connection

    def post(self, body: bytes) -> tuple[int, str]:
        """Send one request; its status and (the start of) its answer's text."""
        headers = {**self._section.headers, **HEADERS}
        try:
            authorization = self.authorization()
        except ValueError as exc:  # a credential file gone since the start: like a failed connection
            raise OSError(str(exc)) from exc
        if authorization:
            headers["Authorization"] = authorization
        connection = self._connect()
        try:
            connection.request("POST", self._path, body, headers)
            response = connection.getresponse()
            answer = response.read(MAX_ANSWER_BYTES + 1)
        except (OSError, http.client.HTTPException):
            self.close()
            raise
        if len(answer) > MAX_ANSWER_BYTES or response.will_close:
            self.close()
        return response.status, answer[:MAX_ANSWER_BYTES].decode("utf-8", errors="replace")

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None
