"""gRPC over HTTP/2, the pure part: status codes, message framing, request headers, status parsing."""

# The protocol is https://github.com/grpc/grpc/blob/master/doc/PROTOCOL-HTTP2.md. Only what a unary
# client needs: a request is HEADERS then one length-prefixed message; the answer is HEADERS, one
# message and trailing HEADERS, or "trailers only" (one HEADERS frame carrying the status).

from __future__ import annotations

import enum
import math
import struct
import zlib
from collections.abc import Iterable, Sequence
from urllib.parse import unquote

Metadata = tuple[tuple[str, str], ...]

PREFIX = struct.Struct(">BI")  # compressed flag, message length
GZIP_WBITS = 31  # zlib's gzip container, the largest window: what the reading side accepts
# The largest grpc-timeout value is 8 digits; units (in nanoseconds) from the finest to the coarsest.
_TIMEOUT_UNITS = (("n", 1), ("u", 10**3), ("m", 10**6), ("S", 10**9), ("M", 60 * 10**9), ("H", 3600 * 10**9))
_TIMEOUT_MAX = 99_999_999
# Headers of the protocol itself, not metadata of the application.
_RESERVED = frozenset({"content-type", "grpc-status", "grpc-message", "grpc-encoding", "grpc-accept-encoding",
                       "te", "user-agent", "grpc-timeout", "content-length", "date", "server"})  # fmt: skip


class StatusCode(enum.IntEnum):
    """The gRPC status codes, with the names and numbers of grpc.StatusCode."""

    OK = 0
    CANCELLED = 1
    UNKNOWN = 2
    INVALID_ARGUMENT = 3
    DEADLINE_EXCEEDED = 4
    NOT_FOUND = 5
    ALREADY_EXISTS = 6
    PERMISSION_DENIED = 7
    RESOURCE_EXHAUSTED = 8
    FAILED_PRECONDITION = 9
    ABORTED = 10
    OUT_OF_RANGE = 11
    UNIMPLEMENTED = 12
    INTERNAL = 13
    UNAVAILABLE = 14
    DATA_LOSS = 15
    UNAUTHENTICATED = 16


# An answer without grpc-status: the HTTP status says what went wrong (the protocol's own table).
_HTTP_CODES = {
    400: StatusCode.INTERNAL,
    401: StatusCode.UNAUTHENTICATED,
    403: StatusCode.PERMISSION_DENIED,
    404: StatusCode.UNIMPLEMENTED,
    429: StatusCode.UNAVAILABLE,
    502: StatusCode.UNAVAILABLE,
    503: StatusCode.UNAVAILABLE,
    504: StatusCode.UNAVAILABLE,
}


class WireError(Exception):
    """Bytes or headers that break the protocol, with the status a client reports for them."""

    def __init__(self, code: StatusCode, details: str) -> None:
        super().__init__(details)
        self.code = code
        self.details = details


def encode_message(payload: bytes, compress: bool = False) -> bytes:
    """One length-prefixed message: flag (1 = compressed with the call's grpc-encoding), length, bytes."""
    if compress:
        window, memory = gzip_sizes(len(payload))
        packer = zlib.compressobj(wbits=16 + window, memLevel=memory)
        payload = packer.compress(payload) + packer.flush()
    return PREFIX.pack(int(compress), len(payload)) + payload


def gzip_sizes(length: int) -> tuple[int, int]:
    """zlib's window bits and memory level for a message of ``length`` bytes: a window larger than the
    message (zlib's matches reach 262 bytes less than the window), a memory level that follows it."""
    # zlib's defaults (a 32 KiB window, 256 KiB of state) made compressing a 2 KB report cost twice
    # what it does with a 4 KiB window: the allocation and the page faults of the state, every cycle.
    # The gzip stream is the same kind: any inflater with the usual 32 KiB window reads it.
    window = min(15, max(9, length.bit_length() + 1))
    return window, min(8, max(1, window - 7))


def decode_messages(
    data: bytes | bytearray, encoding: str = "identity", max_message_bytes: int = 4 * 1024 * 1024
) -> list[bytes]:
    """The messages of a whole response body; WireError on a truncated body or an oversized message."""
    messages: list[bytes] = []
    offset = 0
    while offset < len(data):
        if len(data) - offset < PREFIX.size:
            raise WireError(StatusCode.INTERNAL, "truncated message prefix")
        flag, length = PREFIX.unpack_from(data, offset)
        offset += PREFIX.size
        if length > max_message_bytes:
            raise WireError(
                StatusCode.RESOURCE_EXHAUSTED,
                f"received message larger than max ({length} vs. {max_message_bytes})",
            )
        if len(data) - offset < length:
            raise WireError(StatusCode.INTERNAL, "truncated message")
        payload = bytes(data[offset : offset + length])
        offset += length
        if flag == 1:
            payload = _decompress(payload, encoding, max_message_bytes)
        elif flag != 0:
            raise WireError(StatusCode.INTERNAL, f"invalid compressed flag {flag}")
        messages.append(payload)
    return messages


def _decompress(payload: bytes, encoding: str, max_message_bytes: int) -> bytes:
    if encoding != "gzip":
        raise WireError(StatusCode.INTERNAL, f"compressed message with grpc-encoding {encoding!r}")
    unpacker = zlib.decompressobj(wbits=GZIP_WBITS)
    try:
        plain = unpacker.decompress(payload, max_message_bytes + 1)
    except zlib.error as exc:
        raise WireError(StatusCode.INTERNAL, f"bad gzip message: {exc}") from exc
    if len(plain) > max_message_bytes:
        raise WireError(StatusCode.RESOURCE_EXHAUSTED, "decompressed message larger than max")
    return plain


def encode_timeout(seconds: float) -> str:
    """The grpc-timeout header value: at most 8 digits in the finest unit that holds ``seconds``."""
    nanoseconds = math.ceil(max(0.0, seconds) * 1e9)
    for unit, size in _TIMEOUT_UNITS:
        value = -(-nanoseconds // size)  # rounded up: the server never ends a call early
        if value <= _TIMEOUT_MAX:
            return f"{value}{unit}"
    return f"{_TIMEOUT_MAX}H"


def request_headers(
    authority: str,
    path: str,
    *,
    tls: bool,
    timeout: float | None,
    metadata: Iterable[tuple[str, str]] = (),
    compressed: bool = False,
    user_agent: str = "fleetwatch-agent",
) -> list[tuple[str, str]]:
    """The HEADERS of a unary call, pseudo-headers first; metadata keys must be lowercase ASCII."""
    headers = [
        (":method", "POST"),
        (":scheme", "https" if tls else "http"),
        (":path", path),
        (":authority", authority),
        ("content-type", "application/grpc"),
        ("te", "trailers"),
        ("user-agent", user_agent),
        ("grpc-accept-encoding", "identity,gzip"),
    ]
    if compressed:
        headers.append(("grpc-encoding", "gzip"))
    if timeout is not None:
        headers.append(("grpc-timeout", encode_timeout(timeout)))
    for key, value in metadata:
        if key != key.lower() or key.startswith(":") or key in _RESERVED:
            raise ValueError(f"metadata key {key!r}: must be lowercase and not a protocol header")
        headers.append((key, value))
    return headers


def header(headers: Sequence[tuple[str, str]], name: str) -> str | None:
    """The last value of ``name`` in ``headers``, or None."""
    found = None
    for key, value in headers:
        if key == name:
            found = value
    return found


def user_metadata(headers: Sequence[tuple[str, str]]) -> Metadata:
    """The application's metadata among received headers: without pseudo-headers and protocol headers."""
    return tuple((k, v) for k, v in headers if not k.startswith(":") and k not in _RESERVED)


def response_status(
    headers: Sequence[tuple[str, str]], trailers: Sequence[tuple[str, str]]
) -> tuple[StatusCode, str]:
    """The call's status from the response headers and trailers (trailers-only: all in ``headers``)."""
    http_status = header(headers, ":status")
    status = header(trailers, "grpc-status") if trailers else None
    message = header(trailers, "grpc-message") if trailers else None
    if status is None:  # trailers only
        status, message = header(headers, "grpc-status"), header(headers, "grpc-message")
    if status is None:
        if http_status is not None and http_status != "200":
            code = _HTTP_CODES.get(int(http_status) if http_status.isdigit() else 0, StatusCode.UNKNOWN)
            return code, f"HTTP status {http_status} without grpc-status"
        return StatusCode.INTERNAL, "response without grpc-status"
    try:
        code = StatusCode(int(status))
    except ValueError:
        return StatusCode.UNKNOWN, f"unknown grpc-status {status!r}"
    return code, decode_message(message or "")


def decode_message(value: str) -> str:
    """grpc-message is percent-encoded UTF-8; a bad escape is kept as it came."""
    return unquote(value, encoding="utf-8", errors="replace")


def content_type_ok(headers: Sequence[tuple[str, str]]) -> bool:
    """application/grpc, or one of its subtypes (application/grpc+proto)."""
    value = header(headers, "content-type") or ""
    return value == "application/grpc" or value.startswith(("application/grpc+", "application/grpc;"))
