"""HTTP check: one GET (no redirects followed): status, time to first byte, TLS certificate lifetime."""

from __future__ import annotations

import dataclasses
import http.client
import ssl
import time
import urllib.parse
from collections.abc import Mapping

from fleetwatch_agent.probes.connectivity.model import CheckResult, from_rtts
from fleetwatch_agent.probes.connectivity.tcpcheck import invalid_host, os_error_reason

USER_AGENT = "fleetwatch-agent"
SECONDS_PER_DAY = 86400.0


def cert_days_left(cert: Mapping[str, object] | None, now: float) -> float | None:
    """Days from ``now`` (Unix seconds) until the notAfter of a getpeercert() dict; None without one."""
    not_after = (cert or {}).get("notAfter")
    if not isinstance(not_after, str):
        return None
    try:
        return (ssl.cert_time_to_seconds(not_after) - now) / SECONDS_PER_DAY
    except ValueError:
        return None


def _connection(
    scheme: str, host: str, port: int | None, timeout: float, ca_file: str
) -> http.client.HTTPConnection:
    if scheme == "http":
        return http.client.HTTPConnection(host, port, timeout=timeout)
    # With ca_file, only that file's CAs are trusted; without, the system's roots.
    context = ssl.create_default_context(cafile=ca_file or None)
    return http.client.HTTPSConnection(host, port, timeout=timeout, context=context)


def http_get(url: str, timeout: float = 5.0, ca_file: str = "") -> CheckResult:
    """One GET of ``url`` over http or https, on a new connection, without proxy or redirects.

    The round-trip time is the time to first byte as curl's time_starttransfer: from before the
    name lookup and connection (and TLS handshake) until the response's status line and headers
    were read (http.client reads them together). The body is not read. Status >= 400 gives
    success False with error "http_status" (the time is kept); 3xx and the other statuses are
    successes. For https the certificate is verified against the system roots or only the CAs
    of ``ca_file``, and tls_cert_days_left is the peer certificate's remaining lifetime.
    Verification and handshake failures give "tls_error"; socket errors "refused", "timeout",
    "unreachable" or "dns_error"; a URL that cannot work (scheme other than http or https,
    no host, bad port, unreadable ca_file) gives "other" with sent 0.
    """
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError as exc:
        return from_rtts(0, [], "other", f"invalid URL {url!r}: {exc}")
    if parts.scheme not in ("http", "https"):
        return from_rtts(0, [], "other", f"unsupported URL scheme {parts.scheme!r}: only http and https")
    host = parts.hostname or ""
    problem = invalid_host(host)
    if problem:
        return from_rtts(0, [], "other", f"{url}: {problem}")
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        connection = _connection(parts.scheme, host, port, timeout, ca_file)
    except OSError as exc:  # missing or unreadable ca_file, or not PEM (ssl.SSLError)
        return from_rtts(0, [], "other", f"ca_file {ca_file}: {exc}")
    days_left: float | None = None
    start = time.perf_counter()
    try:
        connection.connect()
        if isinstance(connection.sock, ssl.SSLSocket):
            days_left = cert_days_left(connection.sock.getpeercert(), time.time())
        connection.request("GET", target, headers={"User-Agent": USER_AGENT, "Connection": "close"})
        response = connection.getresponse()
        ttfb = time.perf_counter() - start
        status, reason = response.status, response.reason
        response.close()
    except ssl.SSLCertVerificationError as exc:
        return from_rtts(1, [], "tls_error", f"certificate verify failed: {exc.verify_message or exc}")
    except ssl.SSLError as exc:
        return from_rtts(1, [], "tls_error", f"TLS: {exc.reason or exc}", tls_cert_days_left=days_left)
    except http.client.HTTPException as exc:  # before OSError: RemoteDisconnected is both
        detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        return from_rtts(1, [], "other", detail, tls_cert_days_left=days_left)
    except OSError as exc:
        error, detail = os_error_reason(exc)
        return from_rtts(1, [], error, f"{host}: {detail}", tls_cert_days_left=days_left)
    except ValueError as exc:  # e.g. characters http.client refuses in the request line
        return from_rtts(1, [], "other", str(exc), tls_cert_days_left=days_left)
    finally:
        connection.close()
    result = from_rtts(
        1, [ttfb], detail=f"HTTP {status} {reason}".strip(), http_status=status, tls_cert_days_left=days_left
    )
    if status >= 400:
        return dataclasses.replace(result, success=False, error="http_status")
    return result
