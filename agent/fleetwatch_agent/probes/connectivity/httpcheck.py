"""HTTP check: one GET (no redirects followed): status, time to first byte, TLS certificate expiry."""
# One deadline covers the whole request: name lookup, connect, TLS handshake and response headers. A server
# that trickles its headers a byte at a time is a timeout at that deadline.

from __future__ import annotations

import asyncio
import dataclasses
import functools
import os
import re
import socket
import ssl
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass

from fleetwatch_agent.probes.connectivity import aio
from fleetwatch_agent.probes.connectivity.addressing import SYSTEM, Address, Attempt, LookupFailed, try_each
from fleetwatch_agent.probes.connectivity.model import CheckResult, from_rtts
from fleetwatch_agent.probes.connectivity.tcpcheck import invalid_host, os_error_reason

USER_AGENT = "fleetwatch-agent"
MAX_HEADER_BYTES = 65536
_STATUS_LINE = re.compile(rb"HTTP/\d(?:\.\d)? (\d{3})(?: ([^\r\n]*))?")
_UNSAFE = re.compile(r"[\x00-\x20\x7f]")


def cert_not_after(cert: Mapping[str, object] | None) -> int | None:
    """The notAfter of a getpeercert() dict in Unix seconds; None without a (readable) one."""
    # A time, not the days left: the collector exports it as is, so the time left computed in PromQL (``this -
    # time()``) keeps shrinking even when the agent stops reporting.
    not_after = (cert or {}).get("notAfter")
    if not isinstance(not_after, str):
        return None
    try:
        return ssl.cert_time_to_seconds(not_after)
    except ValueError:
        return None


@dataclass(frozen=True)
class Request:
    """What one URL asks: where to connect, the request's bytes, and the TLS context for https."""

    host: str
    port: int
    head: bytes
    context: ssl.SSLContext | None


@functools.lru_cache(maxsize=16)
def _context(ca_file: str, _modified_ns: int) -> ssl.SSLContext:
    # With ca_file, only that file's CAs are trusted; without, the system's roots. Cached: loading
    # the roots costs milliseconds per check; a changed file (its mtime) gives a new context.
    return ssl.create_default_context(cafile=ca_file or None)


def tls_context(ca_file: str) -> ssl.SSLContext:
    """The verifying context of ``ca_file`` ("" = the system's roots); OSError when it cannot be read."""
    return _context(ca_file, os.stat(ca_file).st_mtime_ns if ca_file else 0)


def parse_url(url: str, ca_file: str = "") -> Request | str:
    """The request of ``url``, or why it cannot work (scheme, host, port, characters, ca_file)."""
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError as exc:
        return f"invalid URL {url!r}: {exc}"
    if parts.scheme not in ("http", "https"):
        return f"unsupported URL scheme {parts.scheme!r}: only http and https"
    host = parts.hostname or ""
    problem = invalid_host(host)
    if problem:
        return f"{url}: {problem}"
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    authority = parts.netloc.rpartition("@")[2]
    if _UNSAFE.search(target) or _UNSAFE.search(authority):
        return f"{url}: spaces or control characters in the URL"
    try:
        context = tls_context(ca_file) if parts.scheme == "https" else None
    except OSError as exc:  # missing or unreadable ca_file, or not PEM (ssl.SSLError)
        return f"ca_file {ca_file}: {exc}"
    lines = [f"GET {target} HTTP/1.1", f"Host: {authority}", f"User-Agent: {USER_AGENT}", "Accept: */*"]
    head = ("\r\n".join([*lines, "Connection: close"]) + "\r\n\r\n").encode("ascii", errors="replace")
    return Request(host, port or (443 if context else 80), head, context)


def _status(head: bytes) -> tuple[int, str]:
    match = _STATUS_LINE.match(head)
    if match is None:
        first_line = head.split(b"\r\n", 1)[0][:60]
        raise ValueError(f"BadStatusLine: {first_line!r}")
    return int(match.group(1)), (match.group(2) or b"").decode("latin-1").strip()


async def http_request(
    request: Request, address: Address, connect_timeout: float, deadline: float
) -> Attempt:
    """GET over a new connection to ``address``: connected in ``connect_timeout``, done by ``deadline``."""
    # The round-trip time is the time to first byte (curl's time_starttransfer, from the start of the
    # connection): until the status line and headers were read. The body is not read. The address answered
    # when the connection was made.
    where = address.with_port(request.port)
    sock = socket.socket(address.family, socket.SOCK_STREAM)
    start = aio.now()
    try:
        await aio.connect(sock, address.sockaddr(request.port), min(connect_timeout, aio.left(deadline)))
    except OSError as exc:  # TimeoutError included
        sock.close()
        reason, detail = os_error_reason(exc)
        return Attempt(from_rtts(1, [], reason, f"{where}: connect: {detail}"), False)
    stage = "TLS handshake" if request.context else "response headers"
    not_after: int | None = None
    writer: asyncio.StreamWriter | None = None
    try:

        async def exchange() -> bytes:
            nonlocal stage, not_after, writer
            reader, writer = await asyncio.open_connection(
                sock=sock,
                ssl=request.context,
                server_hostname=request.host if request.context else None,
                ssl_handshake_timeout=max(0.001, aio.left(deadline)) if request.context else None,
                limit=MAX_HEADER_BYTES,
            )
            if request.context:
                not_after = cert_not_after(writer.get_extra_info("peercert"))
            stage = "response headers"
            writer.write(request.head)
            return await reader.readuntil(b"\r\n\r\n")

        head = await asyncio.wait_for(exchange(), aio.left(deadline))
        ttfb = aio.now() - start
        status, status_text = _status(head)
    except TimeoutError:
        detail = f"{where}: no {stage} within {deadline - start:.1f} s"
        return Attempt(from_rtts(1, [], "timeout", detail, tls_cert_not_after_unix=not_after), True)
    except ssl.SSLCertVerificationError as exc:
        detail = f"certificate verify failed: {exc.verify_message or exc}"
        return Attempt(from_rtts(1, [], "tls_error", detail), True)
    except ssl.SSLError as exc:
        return Attempt(from_rtts(1, [], "tls_error", f"TLS: {exc.reason or exc}"), True)
    except asyncio.IncompleteReadError:
        detail = f"{where}: the server closed the connection before the {stage} (RemoteDisconnected)"
        return Attempt(from_rtts(1, [], "other", detail, tls_cert_not_after_unix=not_after), True)
    except asyncio.LimitOverrunError:
        detail = f"{where}: response headers longer than {MAX_HEADER_BYTES} bytes"
        return Attempt(from_rtts(1, [], "other", detail, tls_cert_not_after_unix=not_after), True)
    except OSError as exc:
        error, detail = os_error_reason(exc)
        return Attempt(from_rtts(1, [], error, f"{where}: {detail}", tls_cert_not_after_unix=not_after), True)
    except ValueError as exc:  # a status line that is not HTTP
        return Attempt(from_rtts(1, [], "other", str(exc), tls_cert_not_after_unix=not_after), True)
    finally:
        if writer is not None:
            writer.transport.abort()  # no TLS close_notify exchange: nothing to wait for
        sock.close()
    result = from_rtts(
        1,
        [ttfb],
        detail=f"HTTP {status} {status_text}".strip(),
        http_status=status,
        tls_cert_not_after_unix=not_after,
    )
    if status >= 400:
        result = dataclasses.replace(result, success=False, error="http_status")
    return Attempt(result, True)


def http_get(
    url: str, timeout: float = 5.0, ca_file: str = "", connect_timeout: float | None = None
) -> CheckResult:
    """One GET of ``url`` over http or https, on a new connection, without proxy or redirects."""
    # ``timeout`` bounds everything (lookup, connect, TLS, headers); each address of a name gets
    # ``connect_timeout`` (default: all of it) to accept the connection before the next is tried. Status >=
    # 400 gives success False with error "http_status" (the time is kept); 3xx and the other statuses are
    # successes. For https the certificate is verified against the system roots or only the CAs of
    # ``ca_file``, and tls_cert_not_after_unix is the peer certificate's notAfter. Verification and handshake
    # failures give "tls_error"; socket errors "refused", "timeout", "unreachable" or "dns_error"; a URL that
    # cannot work (scheme other than http or https, no host, bad port, unreadable ca_file) gives "other" with
    # sent 0.
    request = parse_url(url, ca_file)
    if isinstance(request, str):
        return from_rtts(0, [], "other", request)
    deadline = aio.now() + timeout

    async def check() -> CheckResult:
        try:
            addresses = await SYSTEM.resolve(request.host, deadline)
        except LookupFailed as exc:
            return from_rtts(1, [], exc.error, exc.detail)
        per_address = connect_timeout or timeout
        return await try_each(addresses, lambda a: http_request(request, a, per_address, deadline), deadline)

    return aio.run(check())
