"""Small servers on loopback for the check tests: DNS over UDP and TCP, silent listeners, slow HTTP."""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager


def question_name(query: bytes) -> str:
    labels, offset = [], 12
    while query[offset]:
        labels.append(query[offset + 1 : offset + 1 + query[offset]].decode())
        offset += 1 + query[offset]
    return ".".join(labels)


def response(query: bytes, rcode: int, answers: list[bytes], query_id: int | None = None) -> bytes:
    """A response echoing the query's question, with answers owned by the question's name."""
    qid = struct.unpack_from("!H", query)[0] if query_id is None else query_id
    header = struct.pack("!HHHHHH", qid, 0x8180 | rcode, 1, len(answers), 0, 0)
    return header + query[12:] + b"".join(answers)


def a_record(address: str) -> bytes:
    return b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 60, 4) + socket.inet_aton(address)


CNAME = b"\xc0\x0c" + struct.pack("!HHIH", 5, 1, 60, 12) + b"\x05alias\x04test\x00"


TRUNCATED_ADDRESSES = [f"10.7.0.{i}" for i in range(1, 41)]


class FakeDnsServer:
    """A DNS server on 127.0.0.1 (or ::1) with one fixed behaviour per name, over UDP and TCP."""

    # "truncated.test" has 40 addresses: over UDP it answers with TC set and no records, over TCP with all of
    # them (RFC 7766).

    def __init__(self, family: int = socket.AF_INET, tcp: bool = True) -> None:
        host = "::1" if family == socket.AF_INET6 else "127.0.0.1"
        self.sock = socket.socket(family, socket.SOCK_DGRAM)
        self.sock.bind((host, 0))
        self.sock.settimeout(0.05)
        self.port: int = self.sock.getsockname()[1]
        self.tcp = socket.socket(family, socket.SOCK_STREAM)
        self.tcp.bind((host, self.port))  # bound, so no one else listens there; listening only with tcp
        if tcp:
            self.tcp.listen(8)
        self.tcp.settimeout(0.05)
        self.queries: list[str] = []
        self.tcp_queries: list[str] = []
        self._stop = threading.Event()
        serving = (self._serve, self._serve_tcp) if tcp else (self._serve,)
        self._threads = [threading.Thread(target=f, daemon=True) for f in serving]
        for thread in self._threads:
            thread.start()

    def replies(self, query: bytes, name: str) -> list[bytes]:
        qid = struct.unpack_from("!H", query)[0]
        return {
            "ok.test": [response(query, 0, [a_record("10.1.2.3")])],
            "fail.test": [response(query, 2, [])],
            "missing.test": [response(query, 3, [])],
            "slow.test": [],
            # Says one answer follows, then stops in the middle of it.
            "garbled.test": [response(query, 0, [a_record("10.1.2.3")])[:-6]],
            "noaddr.test": [response(query, 0, [CNAME])],
            # A late answer to some other query first: to be ignored.
            "stray.test": [
                response(query, 0, [a_record("6.6.6.6")], qid ^ 0x5555),
                response(query, 0, [a_record("10.9.8.7")]),
            ],
            "truncated.test": [response(query, 0x200, [])],  # TC set, nothing in it
        }.get(name, [response(query, 5, [])])

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                query, peer = self.sock.recvfrom(512)
            except TimeoutError:
                continue
            name = question_name(query)
            self.queries.append(name)
            for reply in self.replies(query, name):
                self.sock.sendto(reply, peer)

    def _serve_tcp(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = self.tcp.accept()
            except TimeoutError:
                continue
            with connection:
                connection.settimeout(2.0)
                length = struct.unpack("!H", connection.recv(2))[0]
                query = connection.recv(length)
                name = question_name(query)
                self.tcp_queries.append(name)
                if name == "truncated.test":
                    reply = response(query, 0, [a_record(a) for a in TRUNCATED_ADDRESSES])
                else:
                    reply = self.replies(query, name)[0]
                connection.sendall(struct.pack("!H", len(reply)) + reply)

    def __enter__(self) -> FakeDnsServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=5)
        self.sock.close()
        self.tcp.close()


@contextmanager
def silent_udp(host: str = "127.0.0.1", port: int = 0) -> Iterator[int]:
    """A bound UDP socket that never answers (a dead DNS server that still exists); yields its port."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.bind((host, port))
        yield sock.getsockname()[1]


@contextmanager
def silent_http(host: str = "127.0.0.1", port: int = 0) -> Iterator[int]:
    """A listener that accepts connections and never says a word; yields its port."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    held: list[socket.socket] = []
    with socket.socket(family, socket.SOCK_STREAM) as server:
        server.bind((host, port))
        server.listen(64)
        server.settimeout(0.05)
        stop = threading.Event()

        def accept() -> None:
            while not stop.is_set():
                try:
                    held.append(server.accept()[0])
                except TimeoutError:
                    continue

        thread = threading.Thread(target=accept, daemon=True)
        thread.start()
        try:
            yield server.getsockname()[1]
        finally:
            stop.set()
            thread.join(timeout=5)
            for connection in held:
                connection.close()


@contextmanager
def syn_dropping_listener(host: str = "127.0.0.1") -> Iterator[int]:
    """A listener whose accept queue is full: Linux drops new SYNs, so connects time out; yields its port."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    held: list[socket.socket] = []
    with socket.socket(family, socket.SOCK_STREAM) as server:
        server.bind((host, 0))
        server.listen(0)
        port = server.getsockname()[1]
        try:
            for _ in range(16):
                client = socket.socket(family, socket.SOCK_STREAM)
                held.append(client)
                client.settimeout(0.3)
                try:
                    client.connect((host, port))
                except TimeoutError:
                    break
            else:
                raise RuntimeError("could not fill the accept queue")
            yield port
        finally:
            for client in held:
                client.close()


@contextmanager
def trickling_http(seconds_per_byte: float, host: str = "127.0.0.1") -> Iterator[str]:
    """A server answering every request with a status line and headers one byte at a time, forever."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    server = socket.socket(family, socket.SOCK_STREAM)
    server.bind((host, 0))
    server.listen(16)
    server.settimeout(0.05)
    stop = threading.Event()

    def trickle(connection: socket.socket) -> None:
        with connection:
            head = b"HTTP/1.1 200 OK\r\n" + b"X-Slow: " + b"a" * 100_000
            for byte in head:
                if stop.wait(seconds_per_byte):
                    return
                try:
                    connection.sendall(bytes([byte]))
                except OSError:
                    return

    def serve_forever() -> None:
        while not stop.is_set():
            try:
                connection, _ = server.accept()
            except TimeoutError:
                continue
            threading.Thread(target=trickle, args=(connection,), daemon=True).start()

    thread = threading.Thread(target=serve_forever, daemon=True)
    thread.start()
    try:
        shown = f"[{host}]" if family == socket.AF_INET6 else host
        yield f"http://{shown}:{server.getsockname()[1]}/"
    finally:
        stop.set()
        thread.join(timeout=5)
        server.close()
