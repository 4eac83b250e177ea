"""One HTTP/2 connection carrying concurrent gRPC unary calls: flow control, GOAWAY, keepalive pings."""

# The connection is driven by one reader task: it feeds the bytes to h2, hands each stream's headers,
# data, trailers and reset to the call waiting on it, and writes what h2 has to say back (SETTINGS and
# PING acknowledgements, WINDOW_UPDATE). Calls write their own HEADERS and DATA, DATA only within the
# peer's flow-control windows. After a GOAWAY the connection takes no new call and ends with its last
# one; calls the server never saw (above its last stream id, or refused) are reported as ``Refused``
# so the channel makes them again on a new connection.

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from dataclasses import dataclass, field

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.settings
from h2.errors import ErrorCodes
from h2.settings import SettingCodes
from hyperframe.frame import Frame, GoAwayFrame

from fleetwatch_agent.grpcwire import StatusCode

log = logging.getLogger(__name__)

READ_BYTES = 65536
CLOSE_SECONDS = 1.0
# How a stream reset by the server maps to a status (gRPC's HTTP/2 protocol description).
_RESET_CODES: dict[int, StatusCode] = {
    ErrorCodes.NO_ERROR: StatusCode.INTERNAL,
    ErrorCodes.CANCEL: StatusCode.CANCELLED,
    ErrorCodes.ENHANCE_YOUR_CALM: StatusCode.RESOURCE_EXHAUSTED,
    ErrorCodes.INADEQUATE_SECURITY: StatusCode.PERMISSION_DENIED,
}


class Refused(Exception):
    """The server did not process the call (GOAWAY, REFUSED_STREAM, closing): it may be made again."""


class CallFailed(Exception):
    """The call failed on the connection; ``code`` and ``details`` as a gRPC status."""

    def __init__(self, code: StatusCode, details: str) -> None:
        super().__init__(details)
        self.code = code
        self.details = details


@dataclass
class Response:
    """What the server sent on one stream: headers, body bytes, trailers (empty when trailers-only)."""

    headers: list[tuple[str, str]] = field(default_factory=list)
    data: bytearray = field(default_factory=bytearray)
    trailers: list[tuple[str, str]] = field(default_factory=list)


class _Stream:
    def __init__(self) -> None:
        self.response = Response()
        self.done = asyncio.Event()
        self.wake = asyncio.Event()  # a window opened, or the stream ended
        self.failure: CallFailed | None = None
        self.refused = False
        self.answered = False  # the server ended its side (END_STREAM): the response is complete


class _GracefulH2(h2.connection.H2Connection):
    """h2's connection, except that a graceful GOAWAY (NO_ERROR) leaves the open streams running."""

    # h2 closes its state machine on any GOAWAY and then refuses every frame, the answers of calls in
    # flight included (python-hyper/h2 issue 1181); HTTP/2 lets them complete. No new stream is opened
    # on the connection afterwards (Connection.accepting).

    def _receive_goaway_frame(self, frame: GoAwayFrame) -> tuple[list[Frame], list[h2.events.Event]]:
        state, pending = self.state_machine.state, self._data_to_send
        frames, events = super()._receive_goaway_frame(frame)
        if frame.error_code == 0 and state is h2.connection.ConnectionState.CLIENT_OPEN:
            self.state_machine.state = state
            self._data_to_send = pending
        return frames, events


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", errors="replace") if isinstance(value, bytes) else value


class Connection:
    """An open HTTP/2 connection; ``call`` makes one request on a new stream and returns its response."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        label: str,
        keepalive_seconds: float,
        keepalive_timeout_seconds: float,
        max_receive_bytes: int,
    ) -> None:
        self._reader, self._writer, self._label = reader, writer, label
        self._tls = writer.get_extra_info("ssl_object") is not None
        # The request headers are the agent's own (grpcwire.request_headers, tested there), so h2's
        # checks of outbound headers (a third of a Push's CPU in the client) are skipped; what the
        # collector sends is still checked.
        config = h2.config.H2Configuration(
            client_side=True,
            header_encoding=None,
            validate_outbound_headers=False,
            normalize_outbound_headers=False,
        )
        self._h2 = _GracefulH2(config)
        self._streams: dict[int, _Stream] = {}
        self._max_receive_bytes = max_receive_bytes
        self._changed = asyncio.Event()  # replaced each time a stream slot may have freed
        self._last_stream_id: int | None = None  # from GOAWAY
        self._ping_ack = asyncio.Event()
        self._settled = asyncio.Event()  # the server's first SETTINGS came (or the connection ended)
        self.alive = True
        self.accepting = True
        self._reason = ""
        self._h2.local_settings = h2.settings.Settings(
            client=True, initial_values={SettingCodes.ENABLE_PUSH: 0}
        )
        self._h2.initiate_connection()
        self._flush()
        self._tasks = [asyncio.create_task(self._read_loop())]
        if keepalive_seconds > 0:
            self._tasks.append(
                asyncio.create_task(self._keepalive(keepalive_seconds, keepalive_timeout_seconds))
            )

    async def ready(self) -> None:
        """Wait for the server's SETTINGS (its stream limit, its windows); CallFailed if it closes first."""
        await self._settled.wait()
        if not self.alive:
            raise CallFailed(StatusCode.UNAVAILABLE, self._reason)

    def _flush(self) -> None:
        data = self._h2.data_to_send()
        if data and not self._writer.is_closing():
            self._writer.write(data)

    async def call(self, headers: list[tuple[str, str]], body: bytes) -> Response:
        """Send HEADERS and ``body`` as DATA, wait for the answer; Refused or CallFailed on failure."""
        while (
            self.accepting
            and self._h2.open_outbound_streams >= self._h2.remote_settings.max_concurrent_streams
        ):
            await self._changed.wait()
        if not self.accepting:
            raise Refused(f"{self._label}: connection closing")
        stream_id = self._h2.get_next_available_stream_id()
        stream = self._streams[stream_id] = _Stream()
        try:
            self._h2.send_headers(stream_id, headers)  # written with the first DATA frame: one send
            await self._send_body(stream_id, stream, body)
            await stream.done.wait()
        finally:
            # Cancelled (deadline), or answered before the request was all sent: the stream is still
            # open on this side, and would hold one of the server's stream slots.
            still_open = self._h2.streams.get(stream_id)
            if self.alive and still_open is not None and not still_open.closed:
                with contextlib.suppress(h2.exceptions.H2Error):
                    self._h2.reset_stream(
                        stream_id, ErrorCodes.NO_ERROR if stream.answered else ErrorCodes.CANCEL
                    )
                self._flush()
            self._forget(stream_id)
        if stream.refused:
            raise Refused(f"{self._label}: the server did not process the call")
        if stream.failure is not None:
            raise stream.failure
        return stream.response

    async def _send_body(self, stream_id: int, stream: _Stream, body: bytes) -> None:
        """DATA within the stream's and the connection's windows; stops when the server already answered."""
        offset = 0
        try:
            while offset < len(body) and not stream.done.is_set():
                size = min(self._h2.local_flow_control_window(stream_id), self._h2.max_outbound_frame_size)
                if size <= 0:
                    self._flush()
                    stream.wake.clear()
                    await stream.wake.wait()
                    continue
                chunk = body[offset : offset + size]
                offset += len(chunk)
                self._h2.send_data(stream_id, chunk, end_stream=offset == len(body))
                self._flush()
                await self._writer.drain()
        except OSError as exc:
            self._lost(f"{self._label}: {type(exc).__name__}: {exc}")
        except h2.exceptions.H2Error as exc:
            self._flush()
            if not stream.done.is_set():
                stream.failure = CallFailed(StatusCode.INTERNAL, f"{self._label}: {exc!r}")
                self._end(stream)

    def _forget(self, stream_id: int) -> None:
        self._streams.pop(stream_id, None)
        self._changed.set()
        self._changed = asyncio.Event()
        if not self.accepting and not self._streams:
            self.close_soon()

    async def _read_loop(self) -> None:
        reason = f"{self._label}: connection closed by the server"
        try:
            while data := await self._reader.read(READ_BYTES):
                self._handle(self._h2.receive_data(data))
                self._flush()
                if not self.alive:
                    return
        except (OSError, h2.exceptions.H2Error) as exc:
            reason = f"{self._label}: {type(exc).__name__}: {exc}"
        finally:
            self._lost(reason)

    def _handle(self, events: list[h2.events.Event]) -> None:
        for event in events:
            stream = self._streams.get(getattr(event, "stream_id", 0) or 0)
            if isinstance(event, h2.events.ResponseReceived) and stream:
                stream.response.headers = [(_text(k), _text(v)) for k, v in event.headers]
            elif isinstance(event, h2.events.TrailersReceived) and stream:
                stream.response.trailers = [(_text(k), _text(v)) for k, v in event.headers]
            elif isinstance(event, h2.events.DataReceived):
                self._h2.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
                if stream:
                    self._received(event.stream_id, stream, event.data)
            elif isinstance(event, h2.events.StreamEnded) and stream:
                stream.answered = True
                self._end(stream)
            elif isinstance(event, h2.events.StreamReset) and stream:
                self._reset(stream, event.error_code)
            elif isinstance(event, h2.events.WindowUpdated | h2.events.RemoteSettingsChanged):
                if isinstance(event, h2.events.RemoteSettingsChanged):
                    self._settled.set()
                for waiting in [stream] if stream else self._streams.values():
                    waiting.wake.set()
                self._changed.set()
                self._changed = asyncio.Event()
            elif isinstance(event, h2.events.PingAckReceived):
                self._ping_ack.set()
            elif isinstance(event, h2.events.ConnectionTerminated):
                self._goaway(event)

    def _received(self, stream_id: int, stream: _Stream, data: bytes) -> None:
        stream.response.data += data
        if len(stream.response.data) > self._max_receive_bytes + 5:
            stream.failure = CallFailed(
                StatusCode.RESOURCE_EXHAUSTED, f"received message larger than max ({self._max_receive_bytes})"
            )
            with contextlib.suppress(h2.exceptions.H2Error):
                self._h2.reset_stream(stream_id, ErrorCodes.CANCEL)
            self._end(stream)

    def _end(self, stream: _Stream) -> None:
        stream.done.set()
        stream.wake.set()

    def _reset(self, stream: _Stream, error_code: int) -> None:
        # A server that answered before reading the whole request resets the stream after its answer
        # (NO_ERROR): the answer stands.
        if stream.answered:
            pass
        elif error_code == ErrorCodes.REFUSED_STREAM:
            stream.refused = True
        elif stream.failure is None:
            code = _RESET_CODES.get(error_code, StatusCode.INTERNAL)
            stream.failure = CallFailed(code, f"stream reset by the server (HTTP/2 error {error_code})")
        self._end(stream)

    def _goaway(self, event: h2.events.ConnectionTerminated) -> None:
        self.accepting = False
        self._last_stream_id = event.last_stream_id
        detail = _text(event.additional_data or b"")
        log.info("%s: GOAWAY %s %s", self._label, event.error_code, detail)
        for stream_id, stream in list(self._streams.items()):
            if event.last_stream_id is not None and stream_id > event.last_stream_id:
                stream.refused = True
                self._end(stream)
        if event.error_code != ErrorCodes.NO_ERROR:
            self._lost(f"{self._label}: GOAWAY {event.error_code} {detail}".strip())
        elif not self._streams:
            self.close_soon()
        self._changed.set()

    def _lost(self, reason: str) -> None:
        """The connection is unusable: every call still waiting fails (or is refused, if never seen)."""
        self.alive = self.accepting = False
        for stream_id, stream in self._streams.items():
            if stream.done.is_set():
                continue
            if self._last_stream_id is not None and stream_id > self._last_stream_id:
                stream.refused = True
            else:
                stream.failure = CallFailed(StatusCode.UNAVAILABLE, reason)
            self._end(stream)
        self._changed.set()
        self._ping_ack.set()
        self._settled.set()
        self._reason = self._reason or reason
        self._writer.close()
        if self._tls:  # no wait for a close_notify (see close)
            self._writer.transport.abort()

    async def _keepalive(self, interval: float, timeout: float) -> None:
        """A PING every ``interval`` while calls are in flight; the connection is dropped without an ack."""
        while self.alive:
            await asyncio.sleep(interval)
            if not self._streams or not self.alive:
                continue
            self._ping_ack.clear()
            self._h2.ping(os.urandom(8))
            self._flush()
            try:
                await asyncio.wait_for(self._ping_ack.wait(), timeout)
            except TimeoutError:
                self._lost(f"{self._label}: keepalive ping not answered in {timeout:g} s")

    def close_soon(self) -> None:
        """Say GOAWAY and close; the reader task ends with the socket."""
        if self.alive:
            with contextlib.suppress(h2.exceptions.H2Error):
                self._h2.close_connection()
            self._flush()
        self._lost(f"{self._label}: connection closed by the agent")

    async def close(self) -> None:
        self.close_soon()
        # A TLS close would wait for the server's close_notify, which gRPC servers do not send: the
        # GOAWAY and close_notify are written (the socket takes them at once), the rest is dropped.
        if self._tls:
            self._writer.transport.abort()
        try:
            await asyncio.wait_for(self._writer.wait_closed(), CLOSE_SECONDS)
        except (OSError, TimeoutError):
            self._writer.transport.abort()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
