"""A minimal HTTP/2 client that speaks gRPC framing badly on purpose: streams held open, windows ignored.

Hostile clients do not use a gRPC library: they open streams beyond what the server announced,
send headers and no message, or a message length prefix and then nothing. This client does just
that, over one TCP connection bound to the source address the test chooses. It answers SETTINGS
and PING (so the server keeps the connection) and records, per stream, whether the server ended
it with trailers (HEADERS with END_STREAM) or a RST_STREAM, and with which error code.
No HPACK decoding: the test reads the collector's counters for the reasons.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
from dataclasses import dataclass, field

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, RST_STREAM, SETTINGS, PING, GOAWAY, WINDOW_UPDATE = 0, 1, 3, 4, 6, 7, 8
END_STREAM, ACK, END_HEADERS = 0x1, 0x1, 0x4
SETTINGS_MAX_CONCURRENT_STREAMS = 0x3
REFUSED_STREAM = 0x7
MAX_FRAME = 16384


def _integer(value: int, prefix_bits: int, first: int = 0) -> bytes:
    """An HPACK integer with an N-bit prefix (RFC 7541 5.1)."""
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes([first | value])
    out = bytearray([first | limit])
    value -= limit
    while value >= 128:
        out.append((value % 128) + 128)
        value //= 128
    out.append(value)
    return bytes(out)


def _string(text: str) -> bytes:
    raw = text.encode()
    return _integer(len(raw), 7) + raw


def header_block(headers: list[tuple[str, str]]) -> bytes:
    """Literal header fields without indexing, no Huffman coding (RFC 7541 6.2.2)."""
    return b"".join(b"\x00" + _string(name) + _string(value) for name, value in headers)


def frame(kind: int, flags: int, stream_id: int, payload: bytes = b"") -> bytes:
    return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + struct.pack(">I", stream_id) + payload


def grpc_message(payload: bytes) -> bytes:
    """A gRPC length-prefixed message (uncompressed)."""
    return b"\x00" + struct.pack(">I", len(payload)) + payload


@dataclass
class StreamEnd:
    how: str  # "trailers" or "reset"
    code: int = 0  # the RST_STREAM error code


@dataclass
class RawConnection:
    """One TCP connection; ``open_call`` starts a gRPC call on a new stream."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    authority: str
    next_stream: int = 1
    ended: dict[int, StreamEnd] = field(default_factory=dict)
    server_max_streams: int | None = None
    goaway: bool = False
    closed: asyncio.Event = field(default_factory=asyncio.Event)
    send_window: int = 65535  # connection-level window the server gave us
    stream_windows: dict[int, int] = field(default_factory=dict)
    initial_stream_window: int = 65535
    _window_changed: asyncio.Event = field(default_factory=asyncio.Event)
    _task: asyncio.Task[None] | None = None

    @classmethod
    async def connect(cls, host: str, port: int, source: str | None = None) -> RawConnection:
        reader, writer = await asyncio.open_connection(host, port, local_addr=(source, 0) if source else None)
        conn = cls(reader, writer, f"{host}:{port}")
        writer.write(PREFACE + frame(SETTINGS, 0, 0))
        await writer.drain()
        conn._task = asyncio.create_task(conn._read_frames())
        return conn

    async def _read_frames(self) -> None:
        try:
            while True:
                head = await self.reader.readexactly(9)
                length = int.from_bytes(head[:3], "big")
                kind, flags = head[3], head[4]
                stream_id = struct.unpack(">I", head[5:9])[0] & 0x7FFFFFFF
                payload = await self.reader.readexactly(length) if length else b""
                self._handle(kind, flags, stream_id, payload)
        except (asyncio.IncompleteReadError, ConnectionError, OSError):
            pass
        finally:
            self.closed.set()
            self._window_changed.set()

    def _handle(self, kind: int, flags: int, stream_id: int, payload: bytes) -> None:
        if kind == SETTINGS and not flags & ACK:
            for offset in range(0, len(payload), 6):
                key, value = struct.unpack(">HI", payload[offset : offset + 6])
                if key == SETTINGS_MAX_CONCURRENT_STREAMS:
                    self.server_max_streams = value
                elif key == 0x4:  # SETTINGS_INITIAL_WINDOW_SIZE
                    delta = value - self.initial_stream_window
                    self.initial_stream_window = value
                    for sid in self.stream_windows:
                        self.stream_windows[sid] += delta
            self.writer.write(frame(SETTINGS, ACK, 0))
        elif kind == PING and not flags & ACK:
            self.writer.write(frame(PING, ACK, 0, payload))
        elif kind == HEADERS and flags & END_STREAM:
            self.ended.setdefault(stream_id, StreamEnd("trailers"))
        elif kind == RST_STREAM:
            self.ended.setdefault(stream_id, StreamEnd("reset", struct.unpack(">I", payload)[0]))
        elif kind == GOAWAY:
            self.goaway = True
        elif kind == WINDOW_UPDATE:
            increment = struct.unpack(">I", payload)[0] & 0x7FFFFFFF
            if stream_id == 0:
                self.send_window += increment
            else:
                self.stream_windows[stream_id] = self.stream_windows.get(stream_id, 0) + increment
            self._window_changed.set()

    def open_call(self, path: str, metadata: tuple[tuple[str, str], ...] = (), end: bool = False) -> int:
        """HEADERS of a gRPC call on a new stream; no message. Returns the stream id."""
        stream_id = self.next_stream
        self.next_stream += 2
        headers = [
            (":method", "POST"),
            (":scheme", "http"),
            (":path", path),
            (":authority", self.authority),
            ("content-type", "application/grpc"),
            ("te", "trailers"),
            *metadata,
        ]
        self.stream_windows[stream_id] = self.initial_stream_window
        flags = END_HEADERS | (END_STREAM if end else 0)
        self.writer.write(frame(HEADERS, flags, stream_id, header_block(headers)))
        return stream_id

    def send_data(self, stream_id: int, data: bytes, end: bool = False) -> None:
        """DATA frames regardless of flow control (what a hostile client may do)."""
        for offset in range(0, max(len(data), 1), MAX_FRAME):
            chunk = data[offset : offset + MAX_FRAME]
            last = offset + MAX_FRAME >= len(data)
            self.writer.write(frame(DATA, END_STREAM if end and last else 0, stream_id, chunk))

    async def send_within_window(self, stream_id: int, data: bytes, timeout: float) -> int:
        """DATA frames within the windows the server grants; returns the bytes sent before
        ``timeout`` (the server may never open its window for a call it does not read)."""
        sent = 0
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while sent < len(data) and stream_id not in self.ended and not self.closed.is_set():
            room = min(self.send_window, self.stream_windows.get(stream_id, 0), MAX_FRAME, len(data) - sent)
            if room <= 0:
                self._window_changed.clear()
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._window_changed.wait(), remaining)
                continue
            last = sent + room >= len(data)
            self.writer.write(frame(DATA, END_STREAM if last else 0, stream_id, data[sent : sent + room]))
            self.send_window -= room
            self.stream_windows[stream_id] -= room
            sent += room
            await self.writer.drain()
        return sent

    async def flush(self) -> None:
        await self.writer.drain()

    async def close(self) -> None:
        with contextlib.suppress(ConnectionError, OSError):
            self.writer.close()
            await self.writer.wait_closed()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
